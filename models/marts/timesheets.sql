-- Timesheet entries for the dashboards, each keyed to an existing ticket.

with

checked as (
    select * from {{ ref('int_servicedesk__timesheets_checked') }}
    where exclusion_reason is null
),

final as (
    select
        timesheet_id,
        ticket_id,
        user_name,
        category,
        title,
        hours,
        work_date,
        source_row
    from checked
)

select * from final
