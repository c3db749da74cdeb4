-- One row per day of the quarter: tickets opened, resolved and closed, SLA, comments, hours logged.

with

tickets as (
    select * from {{ ref('tickets') }}
),

comments as (
    select * from {{ ref('comments') }}
),

timesheets as (
    select * from {{ ref('timesheets') }}
),

created as (
    select
        {{ to_date('created_at') }} as day,
        count(*) as tickets_created,
        count(case when priority = 'P1' then 1 end) as p1_tickets_created
    from tickets
    where created_at is not null
    group by 1
),

resolved as (
    select
        {{ to_date('resolved_at') }} as day,
        count(*) as tickets_resolved,
        count(case when is_sla_met then 1 end) as tickets_resolved_within_sla,
        avg(resolution_hours) as avg_resolution_hours
    from tickets
    where resolved_at is not null
    group by 1
),

closed as (
    select {{ to_date('closed_at') }} as day, count(*) as tickets_closed
    from tickets
    where closed_at is not null
    group by 1
),

commented as (
    select {{ to_date('created_at') }} as day, count(*) as comments
    from comments
    where created_at is not null
    group by 1
),

worked as (
    select {{ to_date('work_date') }} as day, sum(hours) as hours_logged
    from timesheets
    where work_date is not null
    group by 1
),

days as (
    select day from created
    union
    select day from resolved
    union
    select day from closed
    union
    select day from commented
    union
    select day from worked
),

final as (
    select
        days.day,
        coalesce(created.tickets_created, 0) as tickets_created,
        coalesce(created.p1_tickets_created, 0) as p1_tickets_created,
        coalesce(resolved.tickets_resolved, 0) as tickets_resolved,
        coalesce(resolved.tickets_resolved_within_sla, 0) as tickets_resolved_within_sla,
        cast(round(cast(resolved.avg_resolution_hours as numeric), 2) as numeric(14, 2)) as avg_resolution_hours,
        coalesce(closed.tickets_closed, 0) as tickets_closed,
        coalesce(commented.comments, 0) as comments,
        cast(coalesce(worked.hours_logged, 0) as numeric(14, 2)) as hours_logged
    from days
    left join created on days.day = created.day
    left join resolved on days.day = resolved.day
    left join closed on days.day = closed.day
    left join commented on days.day = commented.day
    left join worked on days.day = worked.day
)

select * from final
