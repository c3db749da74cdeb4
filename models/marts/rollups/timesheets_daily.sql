-- Hours per work day, agent, kind of work and the ticket's team: what the workload dashboard reads,
-- so that its panels read thousands of rows instead of every timesheet. Timesheets without work_date
-- are left out, as the dashboards' time filter leaves them out.

with

timesheets as (
    select * from {{ ref('timesheets') }}
),

-- the team of each ticket in the tickets mart: its kept rows, which carry team unchanged. Read here
-- and not from the mart, this model waits for neither the tickets mart nor its tests, and runs
-- beside them (at scale 40 the build's last 10 s had been this chain, one node at a time).
tickets as (
    select ticket_id, team from {{ ref('int_servicedesk__tickets_checked') }}
    where exclusion_reason is null
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
