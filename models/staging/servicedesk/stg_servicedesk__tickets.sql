-- One row per source row of the tickets export, cleaned: text trimmed, empty strings and sentinels
-- as NULL, dates as real UTC timestamps, the SLA flag as a boolean. Vocabularies stay the user's:
-- status keeps the export's spelling (case variants folded to the most frequent spelling) and gains
-- status_group from seeds/status_map.csv. Priority is P1-P4 from seeds/priority_map.csv with the
-- export's value kept in priority_raw. Category and team are kept as written (a map in
-- seeds/category_map.csv applies only when the user adds one).
-- Unparseable values become NULL here: int_servicedesk__value_changes lists them (quarantine)
-- and every other value the cleaning changed (audit).
-- Which raw column becomes which clean column, and how it is cleaned (its kind), is declared once,
-- in _servicedesk__sources.yml. The per-column steps below are generated from that map
-- (macros/cleaning/column_map.sql). Status, priority and category get their own SQL in `final`.
{%- set timestamps = row_timestamps('tickets') %}

with

source as (
    select * from {{ source('servicedesk', 'tickets') }}
),

date_orders as (
    select * from {{ source('servicedesk', 'date_orders') }}
    where table_name = 'tickets'
),

status_map as (
    select * from {{ ref('status_map') }}
),

priority_map as (
    select * from {{ ref('priority_map') }}
),

category_map as (
    select * from {{ ref('category_map') }}
),

trimmed as (
    select
        source_row,
        {{- trimmed_columns('tickets') }}
    from source
    {{ computed_once() }}
),

-- the export's spellings of each status, the most frequent spelling of each case-insensitive value first
status_spellings as (
    select
        lower(status) as status_key,
        status,
        row_number() over (partition by lower(status) order by count(*) desc, status) as spelling_rank
    from trimmed
    where status is not null
    group by 1, 2
),

shaped as (
    select
        trimmed.*,
        {{ values_trimmed('tickets') }} as values_trimmed
        {{- number_forms('tickets') }}
        {%- for col in timestamps %},
        {{ timestamp_shape(col) }}
        {%- endfor %}
    from trimmed
    {{ computed_once() }}
),

stripped as (
    select
        shaped.*
        {%- for col in timestamps %},
        {{ timestamp_body(col) }}
        {%- endfor %}
    from shaped
    {%- for col in timestamps %}
    {{ date_order_join(col, raw_column('tickets', col)) }}
    {%- endfor %}
    {{ computed_once() }}
),

canonical as (
    select
        *
        {%- for col in timestamps %},
        {{ timestamp_canon(col) }} as {{ col }}__canon
        {%- endfor %}
    from stripped
    {{ computed_once() }}
),

timestamp_parts as (
    select
        *
        {%- for col in timestamps %},
        {{ timestamp_parts(col) }}
        {%- endfor %}
    from canonical
    {{ computed_once() }}
),

parsed as (
    select
        source_row,
        values_trimmed,
        {{- parsed_columns('tickets') }}
    from timestamp_parts
    {{- timestamps_per_value('tickets') }}
    {{ computed_once() }}
),

final as (
    select
        parsed.source_row,
        parsed.ticket_id,
        parsed.title,
        coalesce(status_spellings.status, parsed.status) as status,
        status_map.status_group,
        priority_map.priority,
        parsed.priority as priority_raw,
        coalesce(category_map.category, parsed.category) as category,
        parsed.team,
        parsed.assigned_to,
        parsed.is_sla_met,
        parsed.status is null or status_map.status_group is not null as is_status_mapped,
        parsed.priority is null or priority_map.priority is not null as is_priority_mapped,
        {{- checked_columns('tickets', 'parsed') }},
        {{ may_have_changed('tickets', 'parsed') }} as may_have_changed,
        -- the key as exported, for the quarantine (marts/quarantine.sql) of a row excluded on it
        parsed.raw__ticket_id
    from parsed
    left join status_spellings
        on lower(parsed.status) = status_spellings.status_key and status_spellings.spelling_rank = 1
    left join status_map on lower(parsed.status) = status_map.raw_value
    left join priority_map on lower(parsed.priority) = priority_map.raw_value
    left join category_map on lower(parsed.category) = category_map.raw_value
)

select * from final
