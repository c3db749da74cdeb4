-- One row per day of the quarter: tickets opened, resolved, closed and cancelled, SLA, the backlog at the
-- end of the day, comments, hours logged.
--
-- What a ticket's status means comes from status_group (seeds/status_map.csv), never from the desk's
-- own spelling: a cancelled ticket is not resolved (tickets_resolved, tickets_resolved_within_sla and
-- avg_resolution_hours leave it out; it is counted in tickets_cancelled). The backlog follows
-- seeds/status_groups.csv (is_backlog), as the dashboards' "Open now": a ticket in a backlog group is
-- open from its creation on; any other until its resolution date (else its closed date); a ticket
-- whose status is in no group (status_group NULL) is open until one of those dates, if it has one.

with

tickets as (
    select * from {{ ref('tickets') }}
),

status_groups as (
    select * from {{ ref('status_groups') }}
),

-- the rollups of comments and timesheets per day (models/marts/rollups): thousands of rows, not millions
comments_daily as (
    select * from {{ ref('comments_daily') }}
),

timesheets_daily as (
    select * from {{ ref('timesheets_daily') }}
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
        and status_group is distinct from 'cancelled'
    group by 1
),

closed as (
    select {{ to_date('closed_at') }} as day, count(*) as tickets_closed
    from tickets
    where closed_at is not null
    group by 1
),

cancelled as (
    select {{ to_date('coalesce(closed_at, resolved_at)') }} as day, count(*) as tickets_cancelled
    from tickets
    where status_group = 'cancelled'
        and coalesce(closed_at, resolved_at) is not null
    group by 1
),

-- The day each ticket left the backlog (NULL: it is still open). A ticket that ended in a group
-- outside the backlog without any date never counts as open; one whose end date is before its
-- creation leaves on the day it was created.
lifecycle as (
    select
        {{ to_date('tickets.created_at') }} as created_day,
        case
            when status_groups.is_backlog then null
            when tickets.status_group is null then {{ to_date('coalesce(tickets.resolved_at, tickets.closed_at)') }}
            else {{ to_date('coalesce(tickets.resolved_at, tickets.closed_at, tickets.created_at)') }}
        end as left_day
    from tickets
    left join status_groups on tickets.status_group = status_groups.status_group
    where tickets.created_at is not null
),

left_backlog as (
    select greatest(created_day, left_day) as day, count(*) as tickets_left_backlog
    from lifecycle
    where left_day is not null
    group by 1
),

commented as (
    select day, sum(comments) as comments
    from comments_daily
    group by 1
),

worked as (
    select day, sum(hours) as hours_logged
    from timesheets_daily
    group by 1
),

days as (
    select day from created
    union
    select day from resolved
    union
    select day from closed
    union
    select day from cancelled
    union
    select day from left_backlog
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
        cast(coalesce(commented.comments, 0) as bigint) as comments,
        cast(coalesce(worked.hours_logged, 0) as numeric(14, 2)) as hours_logged,
        coalesce(cancelled.tickets_cancelled, 0) as tickets_cancelled,
        cast(sum(coalesce(created.tickets_created, 0) - coalesce(left_backlog.tickets_left_backlog, 0))
            over (order by days.day rows between unbounded preceding and current row) as bigint)
            as tickets_open_end_of_day
    from days
    left join created on days.day = created.day
    left join resolved on days.day = resolved.day
    left join closed on days.day = closed.day
    left join cancelled on days.day = cancelled.day
    left join left_backlog on days.day = left_backlog.day
    left join commented on days.day = commented.day
    left join worked on days.day = worked.day
)

select * from final
