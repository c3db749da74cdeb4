-- One row per source row of the timesheets export, cleaned (see stg_servicedesk__tickets).
-- The export has no id of its own: timesheet_id is 'TS-' followed by the source row.
-- Hours are float8: every digit of the export is kept (macros/cleaning/values.sql).

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
        {{ nullify('"TS-Crm ID"') }} as ticket_id,
        {{ nullify('"TS-Title"') }} as title,
        {{ nullify('"TS-User"') }} as user_name,
        {{ nullify('"TS-Category"') }} as category,
        {{ nullify('"TS-Hours"') }} as hours,
        {{ nullify('"TS-Date"') }} as work_date
    from source
),

shaped as (
    select
        trimmed.*,
        {{ timestamp_shape('work_date') }}
    from trimmed
    {{ date_order_join('work_date', 'TS-Date') }}
),

stripped as (
    select
        *,
        {{ timestamp_body('work_date') }}
    from shaped
),

canonical as (
    select
        *,
        {{ timestamp_canon('work_date') }} as work_date__canon
    from stripped
),

timestamp_parts as (
    select
        *,
        {{ timestamp_parts('work_date') }}
    from canonical
),

parsed as (
    select
        source_row,
        timesheet_id,
        ticket_id,
        title,
        user_name,
        category,
        hours,
        {{ number_form('hours') }} as hours__form,
        {{ timestamp_from_parts('work_date') }} as work_date,
        work_date__form,
        work_date__y
    from timestamp_parts
),

final as (
    select
        source_row,
        timesheet_id,
        ticket_id,
        title,
        user_name,
        category,
        {{ number_from_form('hours', 'hours__form') }} as hours,
        hours__form,
        {{ timestamp_in_range('work_date') }} as work_date,
        work_date__form,
        {{ timestamp_failure('work_date') }} as work_date__failure
    from parsed
)

select * from final
