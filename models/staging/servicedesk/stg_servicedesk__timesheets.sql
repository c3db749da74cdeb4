-- One row per source row of the timesheets export, cleaned (see stg_servicedesk__tickets).
-- The export has no id of its own: timesheet_id is 'TS-' followed by the source row.

with

source as (
    select * from {{ source('servicedesk', 'timesheets') }}
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

canonical as (
    select
        *,
        {{ timestamp_canon('work_date') }} as work_date__canon
    from trimmed
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
        {{ parse_number('hours', 'numeric(10,2)') }} as hours,
        {{ timestamp_from_parts('work_date') }} as work_date
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
        hours,
        {{ timestamp_in_range('work_date') }} as work_date
    from parsed
)

select * from final
