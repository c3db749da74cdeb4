-- Tickets for the dashboards: one row per ticket id, with response and resolution durations and the
-- comments and hours logged on it (so that per-ticket panels need not scan comments or timesheets).
-- The duration panels' indexes: macros/engine.sql, panel_indexes.
{{ config(post_hook="{{ servicedesk.panel_indexes(this) }}") }}

with

checked as (
    select * from {{ ref('int_servicedesk__tickets_checked') }}
    where exclusion_reason is null
),

comments as (
    select * from {{ ref('comments') }}
),

-- read from the mart, not from int_servicedesk__timesheets_checked: the view ranks every timesheet
-- row again (scale 10, psql: this model 2.3-2.5 s from the view, 1.7-1.8 s from the mart); the mart
-- and its tests end about when the comments' do, which this model waits for anyway
timesheets as (
    select * from {{ ref('timesheets') }}
),

commented as (
    select ticket_id, count(*) as comment_count
    from comments
    group by 1
),

-- hours summed exactly, in millionths of an hour: a sum of doubles depends on the order the engine adds
-- them in (DuckDB's threads), and the same export must give the same mart. Each entry is rounded to the
-- millionth as an integer (exact below max_valid_number), which both engines sum without converting every
-- double to a decimal (scale 10, PostgreSQL: this step 0.87-0.93 s with a numeric per entry, 0.34 s so)
worked as (
    select ticket_id, count(*) as timesheet_count, sum(cast(floor(hours * 1000000 + 0.5) as bigint)) as hours_micro
    from timesheets
    group by 1
),

final as (
    select
        checked.ticket_id,
        title,
        status,
        status_group,
        priority,
        priority_raw,
        category,
        team,
        assigned_to,
        cast(round(cast({{ seconds_between('created_at', 'first_response_at') }} / 60.0 as numeric), 2)
            as numeric(14, 2)) as response_minutes,
        cast(round(cast({{ seconds_between('created_at', 'resolved_at') }} / 3600.0 as numeric), 2)
            as numeric(14, 2)) as resolution_hours,
        coalesce(commented.comment_count, 0) as comment_count,
        coalesce(worked.timesheet_count, 0) as timesheet_count,
        cast(coalesce(worked.hours_micro, 0) * 0.000001 as numeric(18, 6)) as hours_logged,
        is_sla_met,
        is_status_mapped,
        is_priority_mapped,
        created_at,
        first_response_at,
        resolved_at,
        closed_at,
        source_row
    from checked
    left join commented on checked.ticket_id = commented.ticket_id
    left join worked on checked.ticket_id = worked.ticket_id
)

select
    *,
    -- the same two figures as float8, for the dashboards' percentiles: percentile_cont works in double
    -- precision, and converting each numeric value at every refresh took about a third of the query
    cast(response_minutes as float8) as response_minutes_float,
    cast(resolution_hours as float8) as resolution_hours_float
from final
