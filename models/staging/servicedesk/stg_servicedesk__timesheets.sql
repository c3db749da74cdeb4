-- One row per source row of the timesheets export, cleaned (see stg_servicedesk__tickets).
-- The export has no id of its own: timesheet_id is 'TS-' followed by the source row.
-- Hours are float8: every digit of the export is kept (macros/cleaning/values.sql).
-- timesheet_id is the key the sources file names (meta.derived_key) for the value log.
{%- set timestamps = row_timestamps('timesheets') %}

with

source as (
    select * from {{ source('servicedesk', 'timesheets') }}
),

date_orders as (
    select * from {{ source('servicedesk', 'date_orders') }}
    where table_name = 'timesheets'
),

trimmed as (
    select
        source_row,
        'TS-' || cast(source_row as varchar) as timesheet_id,
        {{- trimmed_columns('timesheets') }}
    from source
    {{ computed_once() }}
),

shaped as (
    select
        trimmed.*,
        {{ values_trimmed('timesheets') }} as values_trimmed
        {{- number_forms('timesheets') }}
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
    {{ date_order_join(col, raw_column('timesheets', col)) }}
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
        timesheet_id,
        {{- parsed_columns('timesheets') }}
    from timestamp_parts
    {{- timestamps_per_value('timesheets') }}
    {{ computed_once() }}
),

final as (
    select
        source_row,
        timesheet_id,
        ticket_id,
        title,
        user_name,
        category,
        {{- checked_columns('timesheets') }},
        {{ may_have_changed('timesheets') }} as may_have_changed,
        -- the ticket reference as exported, for the quarantine (marts/quarantine.sql) of a row excluded
        -- on it
        raw__ticket_id
    from parsed
)

select * from final
