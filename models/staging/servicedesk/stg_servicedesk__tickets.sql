-- One row per source row of the tickets export, cleaned: text trimmed, empty strings and sentinels
-- as NULL, dates as real UTC timestamps, the SLA flag as a boolean. Vocabularies stay the user's:
-- status keeps the export's spelling (case variants folded to the most frequent spelling) and gains
-- status_group from seeds/status_map.csv; priority is P1-P4 from seeds/priority_map.csv with the
-- export's value kept in priority_raw; category and team are kept as written (a map in
-- seeds/category_map.csv applies only when the user adds one).
-- Unparseable values become NULL here; int_servicedesk__value_changes lists them (quarantine)
-- and every other value the cleaning changed (audit).

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
        {{ nullify('"TKT-Ticket ID"') }} as ticket_id,
        {{ nullify('"TKT-Title"') }} as title,
        {{ nullify('"TKT-Status"') }} as status,
        {{ nullify('"TKT-Priority"') }} as priority,
        {{ nullify('"TKT-Category"') }} as category,
        {{ nullify('"TKT-Team"') }} as team,
        {{ nullify('"TKT-Assigned To"') }} as assigned_to,
        {{ nullify('"TKT-SLA Met"') }} as is_sla_met,
        {{ nullify('"TKT-Created Time"') }} as created_at,
        {{ nullify('"TKT-Actual Response Date"') }} as first_response_at,
        {{ nullify('"TKT-Actual Resolution Date"') }} as resolved_at,
        {{ nullify('"TKT-Closed Time"') }} as closed_at
    from source
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
        {{ timestamp_shape('created_at') }},
        {{ timestamp_shape('first_response_at') }},
        {{ timestamp_shape('resolved_at') }},
        {{ timestamp_shape('closed_at') }}
    from trimmed
    {{ date_order_join('created_at', 'TKT-Created Time') }}
    {{ date_order_join('first_response_at', 'TKT-Actual Response Date') }}
    {{ date_order_join('resolved_at', 'TKT-Actual Resolution Date') }}
    {{ date_order_join('closed_at', 'TKT-Closed Time') }}
),

stripped as (
    select
        *,
        {{ timestamp_body('created_at') }},
        {{ timestamp_body('first_response_at') }},
        {{ timestamp_body('resolved_at') }},
        {{ timestamp_body('closed_at') }}
    from shaped
),

canonical as (
    select
        *,
        {{ timestamp_canon('created_at') }} as created_at__canon,
        {{ timestamp_canon('first_response_at') }} as first_response_at__canon,
        {{ timestamp_canon('resolved_at') }} as resolved_at__canon,
        {{ timestamp_canon('closed_at') }} as closed_at__canon
    from stripped
),

timestamp_parts as (
    select
        *,
        {{ timestamp_parts('created_at') }},
        {{ timestamp_parts('first_response_at') }},
        {{ timestamp_parts('resolved_at') }},
        {{ timestamp_parts('closed_at') }}
    from canonical
),

parsed as (
    select
        source_row,
        ticket_id,
        title,
        status,
        priority,
        category,
        team,
        assigned_to,
        {{ parse_boolean('is_sla_met') }} as is_sla_met,
        {%- for col in ['created_at', 'first_response_at', 'resolved_at', 'closed_at'] %}
        {{ timestamp_from_parts(col) }} as {{ col }},
        {{ col }}__form,
        {{ col }}__y{{ "," if not loop.last }}
        {%- endfor %}
    from timestamp_parts
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
        {%- for col in ['created_at', 'first_response_at', 'resolved_at', 'closed_at'] %}
        {{ timestamp_in_range('parsed.' ~ col) }} as {{ col }},
        parsed.{{ col }}__form,
        {{ timestamp_failure('parsed.' ~ col) }} as {{ col }}__failure{{ "," if not loop.last }}
        {%- endfor %}
    from parsed
    left join status_spellings
        on lower(parsed.status) = status_spellings.status_key and status_spellings.spelling_rank = 1
    left join status_map on lower(parsed.status) = status_map.raw_value
    left join priority_map on lower(parsed.priority) = priority_map.raw_value
    left join category_map on lower(parsed.category) = category_map.raw_value
)

select * from final
