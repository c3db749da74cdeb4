-- Hours per work day, agent, kind of work and the ticket's team: what the workload dashboard reads,
-- so that its panels read thousands of rows instead of every timesheet. Timesheets without work_date
-- are left out, as the dashboards' time filter leaves them out.

with

timesheets as (
    select * from {{ ref('timesheets') }}
),

tickets as (
    select * from {{ ref('tickets') }}
),

final as (
    select
        {{ to_date('timesheets.work_date') }} as day,
        timesheets.user_name,
        timesheets.category,
        tickets.team,
        sum(timesheets.hours) as hours,
        count(*) as entries
    from timesheets
    left join tickets on timesheets.ticket_id = tickets.ticket_id
    where timesheets.work_date is not null
    group by 1, 2, 3, 4
)

select * from final
