-- One row per ticket and day with work logged on it, and the ticket's previous such day: "tickets
-- worked on in a range of days" is then a count of the rows in range whose previous day is before
-- the range (or none), with no DISTINCT over every timesheet.

with

timesheets as (
    select * from {{ ref('timesheets') }}
),

per_day as (
    select
        ticket_id,
        {{ to_date('work_date') }} as day,
        sum(hours) as hours,
        count(*) as entries
    from timesheets
    where work_date is not null
    group by 1, 2
),

final as (
    select
        ticket_id,
        day,
        lag(day) over (partition by ticket_id order by day) as previous_day,
        hours,
        entries
    from per_day
)

select * from final
