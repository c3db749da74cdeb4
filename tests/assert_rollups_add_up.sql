-- The dashboards' rollups (models/marts/rollups) and the per-ticket columns of tickets add up to the
-- marts they summarise. Returns one row per figure that does not, with both sides.

with

comments as (
    select
        count(*) as all_comments,
        count(created_at) as dated_comments
    from {{ ref('comments') }}
),

timesheets as (
    select
        count(*) as all_entries,
        count(work_date) as dated_entries,
        sum(case when work_date is not null then hours end) as dated_hours,
        sum(case when ticket_id is not null then hours end) as ticket_hours,
        count(distinct case when work_date is not null then ticket_id end) as tickets_worked_on
    from {{ ref('timesheets') }}
),

tickets as (
    select
        sum(comment_count) as comment_count,
        sum(timesheet_count) as timesheet_count,
        sum(hours_logged) as hours_logged
    from {{ ref('tickets') }}
),

comments_daily as (
    select sum(comments) as comments from {{ ref('comments_daily') }}
),

timesheets_daily as (
    select
        sum(entries) as entries,
        sum(hours) as hours
    from {{ ref('timesheets_daily') }}
),

ticket_work_days as (
    select
        sum(entries) as entries,
        count(case when previous_day is null and ticket_id is not null then 1 end) as first_days
    from {{ ref('ticket_work_days') }}
),

figures as (
    select 'comments_daily.comments' as figure, cast(comments_daily.comments as double precision) as rollup,
        cast(comments.dated_comments as double precision) as mart
    from comments_daily cross join comments
    union all
    select 'tickets.comment_count', tickets.comment_count, comments.all_comments
    from tickets cross join comments
    union all
    select 'tickets.timesheet_count', tickets.timesheet_count, timesheets.all_entries
    from tickets cross join timesheets
    union all
    select 'timesheets_daily.entries', timesheets_daily.entries, timesheets.dated_entries
    from timesheets_daily cross join timesheets
    union all
    select 'timesheets_daily.hours', timesheets_daily.hours, timesheets.dated_hours
    from timesheets_daily cross join timesheets
    union all
    select 'tickets.hours_logged', tickets.hours_logged, timesheets.ticket_hours
    from tickets cross join timesheets
    union all
    select 'ticket_work_days.entries', ticket_work_days.entries, timesheets.dated_entries
    from ticket_work_days cross join timesheets
    union all
    select 'ticket_work_days first days', ticket_work_days.first_days, timesheets.tickets_worked_on
    from ticket_work_days cross join timesheets
)

-- sums of hours are floating point: equal up to their rounding
select * from figures
where abs(coalesce(rollup, 0) - coalesce(mart, 0)) > 1e-6 * greatest(1, abs(coalesce(mart, 0)))
