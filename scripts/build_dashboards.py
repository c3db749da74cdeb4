"""Write the Grafana dashboards (grafana/dashboards/*.json) from the definitions below.

The JSON files are what Grafana provisions and what the tests check; this script keeps the ten
dashboards consistent (datasource, layout, time range). Edit a query here, run
`.venv/bin/python scripts/build_dashboards.py`, and commit both; the test suite fails when the JSON
and this script disagree. Every panel is raw SQL against the live marts (schema `servicedesk`) or
the run ledger (`sdrun_meta`), read by the role `grafana_ro`, with Grafana's macros
(`$__timeFilter`, `$__timeFrom()`, ...); pytest_tests/test_dashboards.py runs each one on
PostgreSQL marts built from the demo data, and checks the backlog and SLA panels' figures on a desk
with statuses of its own.

What a status means comes from `status_group` (seeds/status_map.csv), never from the export's own
spelling in `status`: a desk may call its statuses anything. The backlog groups are named once below
(BACKLOG_GROUPS, the groups seeds/status_groups.csv marks is_backlog; the dashboards read only the
marts, not the seed, and the tests check the two agree).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"
DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "servicedesk-pg"}
SCHEMA_VERSION = 39
S = "servicedesk"  # the live marts
META = "sdrun_meta"  # the run ledger

# Ticket lifecycle: the stages of seeds/status_groups.csv in their order, and those that are backlog
# (is_backlog). A ticket whose status is in no group (status_group NULL) falls back to its dates.
STATUS_GROUPS = ("open", "in progress", "waiting", "resolved", "closed", "cancelled")
BACKLOG_GROUPS = ("open", "in progress", "waiting")
CANCELLED = "cancelled"


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def is_open(t: str = "") -> str:
    """In the backlog now: a backlog status group, or no group (status not in the seed) and neither a
    resolution nor a closed date. `t` is the tickets table's alias, if any."""
    c = f"{t}." if t else ""
    return (f"({c}status_group in ({_quoted(BACKLOG_GROUPS)}) "
            f"or ({c}status_group is null and coalesce({c}resolved_at, {c}closed_at) is null))")  # fmt: skip


def not_cancelled(t: str = "") -> str:
    """Counts for SLA and resolution: a cancelled ticket was never resolved (unknown statuses count)."""
    c = f"{t}." if t else ""
    return f"{c}status_group is distinct from '{CANCELLED}'"


# The status group as a label: NULL is a status the seed does not know, or no status at all.
GROUP_LABEL = "coalesce(status_group, case when status is null then '(no status)' else '(unmapped status)' end)"
GROUP_ORDER = ("case status_group " + " ".join(f"when '{g}' then {i}" for i, g in enumerate(STATUS_GROUPS, 1))
               + " end")  # fmt: skip
OPEN = is_open()
NOT_CANCELLED = not_cancelled()


def bucket(column: str, unit: str) -> str:
    """The time column of a time series: `column` cut to its UTC day or (ISO, Monday) week. Not
    Grafana's $__timeGroupAlias, which buckets by numeric arithmetic on the epoch (a third of a panel's
    time at 100 K tickets) into weeks that start on Thursdays."""
    assert unit in ("day", "week")
    return f"date_trunc('{unit}', cast({column} as timestamp)) as \"time\""


# Panels over the rollups (models/marts/rollups) count whole UTC days: those the time range touches.
BY_DAY = "Counted by UTC day (models/marts/rollups)."


def panel(kind: str, title: str, sql: str, w: int, h: int, *, fmt: str = "table", unit: str | None = None,
          description: str = "", options: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "editorMode": "code",
                "format": fmt,
                "rawQuery": True,
                "rawSql": " ".join(sql.split()),
            }
        ],
    }


def ts(title: str, sql: str, w: int = 12, h: int = 8, **kw: Any) -> dict[str, Any]:
    return panel("timeseries", title, sql, w, h, fmt="time_series", **kw)


def stat(title: str, sql: str, w: int = 6, h: int = 4, **kw: Any) -> dict[str, Any]:
    return panel("stat", title, sql, w, h, **kw)


def table(title: str, sql: str, w: int = 12, h: int = 8, **kw: Any) -> dict[str, Any]:
    return panel("table", title, sql, w, h, **kw)


def bars(title: str, sql: str, w: int = 12, h: int = 8, **kw: Any) -> dict[str, Any]:
    return panel("barchart", title, sql, w, h, options={"orientation": "horizontal", "showValue": "auto"}, **kw)


def pie(title: str, sql: str, w: int = 8, h: int = 8, **kw: Any) -> dict[str, Any]:
    return panel("piechart", title, sql, w, h, options={"reduceOptions": {"values": True, "calcs": []}}, **kw)


HISTORY_START = "2000-01-01T00:00:00.000Z"  # min_valid_timestamp: the whole history, however many years


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], *,
              time_from: str = HISTORY_START, tags: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        row_h = max(row_h, h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["servicedesk", *(tags or [])],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["servicedesk"], "asDropdown": True, "title": "Service desk"}],
        "panels": panels,
    }


# fmt: off
DASHBOARDS = [
    dashboard("sd-ticket-volume", "Ticket volume",
              "Tickets opened, resolved, closed and cancelled over time (a cancelled ticket is not resolved).", [
        stat("Tickets created", f"select count(*) as tickets from {S}.tickets where $__timeFilter(created_at)"),
        stat("Tickets resolved", f"""
            select count(*) as tickets from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED}""",
             description="Resolved in range; cancelled tickets are not counted."),
        stat("P1 tickets created",
             f"select count(*) as tickets from {S}.tickets where priority = 'P1' and $__timeFilter(created_at)"),
        stat("Busiest day (tickets created)",
             f"select max(tickets_created) as tickets from {S}.daily_summary where $__timeFilter(day)"),
        ts("Created, resolved, closed and cancelled per day", f"""
            select {bucket('day', 'day')}, sum(tickets_created) as created,
                   sum(tickets_resolved) as resolved, sum(tickets_closed) as closed,
                   sum(tickets_cancelled) as cancelled
            from {S}.daily_summary where $__timeFilter(day) group by 1 order by 1""", w=24),
        ts("Created per week by priority", f"""
            select {bucket('created_at', 'week')}, coalesce(priority, '(none)') as metric, count(*) as tickets
            from {S}.tickets where $__timeFilter(created_at) group by 1, 2 order by 1""", w=12),
        # counted per day or hour first: a label per ticket (to_char, lpad) is half of such a panel's time
        bars("Created by weekday", f"""
            select to_char(day, 'ID Dy') as weekday, cast(sum(tickets) as bigint) as tickets
            from (select date_trunc('day', created_at) as day, count(*) as tickets from {S}.tickets
                  where $__timeFilter(created_at) group by 1) per_day
            group by 1 order by 1""", w=6),
        bars("Created by hour of day", f"""
            select lpad(hour::text, 2, '0') as hour, tickets
            from (select cast(date_part('hour', created_at) as int) as hour, count(*) as tickets from {S}.tickets
                  where $__timeFilter(created_at) group by 1) per_hour
            order by 1""", w=6),
    ]),
    dashboard("sd-backlog", "Backlog",
              "Tickets open and how old they are. Open: status group open, in progress or waiting; a status in "
              "no group (unmapped) counts as open while the ticket has neither a resolution nor a closed date.", [
        stat("Open now", f"select count(*) as tickets from {S}.tickets where {OPEN}"),
        stat("Open P1/P2", f"select count(*) as tickets from {S}.tickets where {OPEN} and priority in ('P1', 'P2')"),
        stat("Median age of open tickets (days)", f"""
            select round(cast(percentile_cont(0.5) within group (
                order by extract(epoch from ($__timeTo()::timestamp - created_at)) / 86400) as numeric), 1) as days
            from {S}.tickets where {OPEN} and created_at is not null"""),
        stat("Opened minus resolved in range", f"""
            select (select count(*) from {S}.tickets where $__timeFilter(created_at))
                 - (select count(*) from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED}) as net""",
             description="Cancelled tickets are not counted as resolved."),
        ts("Open tickets at the end of each day", f"""
            select {bucket('day', 'day')}, tickets_open_end_of_day as open_tickets
            from {S}.daily_summary where $__timeFilter(day) order by 1""", w=24,
           description="daily_summary.tickets_open_end_of_day: open as in 'Open now'; a ticket open now counts "
                       "from the day it was created, any other until its resolution (or closed) date."),
        bars("Open by status group", f"""
            select {GROUP_LABEL} as status_group, count(*) as tickets from {S}.tickets where {OPEN}
            group by 1 order by min({GROUP_ORDER}) nulls last, 1""", w=8),
        bars("Open by priority", f"""
            select coalesce(priority, '(none)') as priority, count(*) as tickets from {S}.tickets
            where {OPEN} group by 1 order by 1""", w=8),
        bars("Open by age", f"""
            select case when age < interval '1 day' then '1: < 1 day' when age < interval '7 days' then '2: 1-7 days'
                        when age < interval '30 days' then '3: 7-30 days' else '4: 30+ days' end as age,
                   count(*) as tickets
            from (select latest.created_at - t.created_at as age
                  from {S}.tickets t, (select max(created_at) as created_at from {S}.tickets) latest
                  where {is_open("t")} and t.created_at is not null) a
            group by 1 order by 1""", w=8),
        table("Open by status, as exported", f"""
            select {GROUP_LABEL} as status_group, coalesce(status, '(none)') as status, count(*) as tickets
            from {S}.tickets where {OPEN} group by 1, 2 order by min({GROUP_ORDER}) nulls last, 3 desc""", w=8,
              description="The desk's own statuses and their group (seeds/status_map.csv); add an unmapped one "
                          "to the seed."),
        table("Oldest open tickets", f"""
            select ticket_id, title, {GROUP_LABEL} as status_group, status, priority, team, assigned_to, created_at
            from {S}.tickets where {OPEN} order by created_at nulls last limit 50""", w=16),
    ]),
    dashboard("sd-sla", "SLA compliance", "Share of tickets that met their SLA (is_sla_met) by week, priority, team; "
              "cancelled tickets (status group cancelled) are left out.",
              [
        stat("SLA met (tickets created in range)", f"""
            select round(100.0 * count(*) filter (where is_sla_met) / nullif(count(is_sla_met), 0), 1) as pct
            from {S}.tickets where $__timeFilter(created_at) and {NOT_CANCELLED}""", unit="percent"),
        stat("Tickets missing their SLA", f"""
            select count(*) as tickets from {S}.tickets where not is_sla_met and {NOT_CANCELLED}
            and $__timeFilter(created_at)"""),
        stat("Tickets without an SLA verdict", f"""
            select count(*) as tickets from {S}.tickets where is_sla_met is null and {NOT_CANCELLED}
            and $__timeFilter(created_at)"""),
        stat("P1 SLA met", f"""
            select round(100.0 * count(*) filter (where is_sla_met) / nullif(count(is_sla_met), 0), 1) as pct
            from {S}.tickets where priority = 'P1' and $__timeFilter(created_at) and {NOT_CANCELLED}""",
             unit="percent"),
        ts("SLA met per week (%)", f"""
            select {bucket('created_at', 'week')},
                   round(100.0 * count(*) filter (where is_sla_met) / nullif(count(is_sla_met), 0), 1) as sla_met_pct
            from {S}.tickets where $__timeFilter(created_at) and {NOT_CANCELLED} group by 1 order by 1""",
           w=24, unit="percent"),
        bars("SLA met by priority (%)", f"""
            select coalesce(priority, '(none)') as priority,
                   round(100.0 * count(*) filter (where is_sla_met) / nullif(count(is_sla_met), 0), 1) as sla_met_pct
            from {S}.tickets where $__timeFilter(created_at) and {NOT_CANCELLED} group by 1 order by 1""",
             unit="percent"),
        bars("SLA met by team (%)", f"""
            select coalesce(team, '(none)') as team,
                   round(100.0 * count(*) filter (where is_sla_met) / nullif(count(is_sla_met), 0), 1) as sla_met_pct
            from {S}.tickets where $__timeFilter(created_at) and {NOT_CANCELLED} group by 1 order by 2""",
             unit="percent"),
        table("Recent tickets that missed the SLA", f"""
            select ticket_id, title, priority, team, assigned_to, created_at, response_minutes, resolution_hours
            from {S}.tickets where not is_sla_met and $__timeFilter(created_at) and {NOT_CANCELLED}
            order by created_at desc limit 100""", w=24),
    ]),
    dashboard("sd-response-times", "Response times", "Minutes from creation to the first response.", [
        stat("Median first response (min)", f"""
            select round(cast(percentile_cont(0.5) within group (order by response_minutes_float) as numeric), 1) as minutes
            from {S}.tickets where $__timeFilter(created_at)""", unit="m"),
        stat("90th percentile (min)", f"""
            select round(cast(percentile_cont(0.9) within group (order by response_minutes_float) as numeric), 1) as minutes
            from {S}.tickets where $__timeFilter(created_at)""", unit="m"),
        stat("Answered within an hour (%)", f"""
            select round(100.0 * count(*) filter (where response_minutes <= 60) / nullif(count(response_minutes), 0), 1)
                   as pct from {S}.tickets where $__timeFilter(created_at)""", unit="percent"),
        stat("Not answered yet", f"""
            select count(*) as tickets from {S}.tickets
            where first_response_at is null and $__timeFilter(created_at)"""),
        ts("Median and 90th percentile per day (min)", f"""
            select {bucket('created_at', 'day')},
                   percentile_cont(0.5) within group (order by response_minutes_float) as median,
                   percentile_cont(0.9) within group (order by response_minutes_float) as p90
            from {S}.tickets where $__timeFilter(created_at) and response_minutes is not null
            group by 1 order by 1""", w=24, unit="m"),
        bars("Median by priority (min)", f"""
            select coalesce(priority, '(none)') as priority,
                   percentile_cont(0.5) within group (order by response_minutes_float) as median_minutes
            from {S}.tickets where $__timeFilter(created_at) and response_minutes is not null
            group by 1 order by 1""", unit="m"),
        bars("Median by team (min)", f"""
            select coalesce(team, '(none)') as team,
                   percentile_cont(0.5) within group (order by response_minutes_float) as median_minutes
            from {S}.tickets where $__timeFilter(created_at) and response_minutes is not null
            group by 1 order by 2 desc""", unit="m"),
        bars("Distribution", f"""
            select case when response_minutes < 15 then '1: < 15 min' when response_minutes < 60 then '2: 15-60 min'
                        when response_minutes < 240 then '3: 1-4 h' when response_minutes < 1440 then '4: 4-24 h'
                        else '5: > 1 day' end as bucket, count(*) as tickets
            from {S}.tickets where $__timeFilter(created_at) and response_minutes is not null
            group by 1 order by 1""", w=24),
    ]),
    dashboard("sd-resolution-times", "Resolution times",
              "Hours from creation to resolution; cancelled tickets are not resolved.", [
        stat("Median resolution (h)", f"""
            select round(cast(percentile_cont(0.5) within group (order by resolution_hours_float) as numeric), 1) as hours
            from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED}""", unit="h"),
        stat("90th percentile (h)", f"""
            select round(cast(percentile_cont(0.9) within group (order by resolution_hours_float) as numeric), 1) as hours
            from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED}""", unit="h"),
        stat("Resolved within a day (%)", f"""
            select round(100.0 * count(*) filter (where resolution_hours <= 24) / nullif(count(resolution_hours), 0), 1)
                   as pct from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED}""", unit="percent"),
        stat("Average (h, daily summary)", f"""
            select round(avg(avg_resolution_hours), 1) as hours from {S}.daily_summary where $__timeFilter(day)""",
             unit="h"),
        ts("Median and 90th percentile per week (h)", f"""
            select {bucket('resolved_at', 'week')},
                   percentile_cont(0.5) within group (order by resolution_hours_float) as median,
                   percentile_cont(0.9) within group (order by resolution_hours_float) as p90
            from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED} and resolution_hours is not null
            group by 1 order by 1""", w=24, unit="h"),
        bars("Median by priority (h)", f"""
            select coalesce(priority, '(none)') as priority,
                   percentile_cont(0.5) within group (order by resolution_hours_float) as median_hours
            from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED} and resolution_hours is not null
            group by 1 order by 1""", w=8, unit="h"),
        bars("Median by category (h)", f"""
            select coalesce(category, '(none)') as category,
                   percentile_cont(0.5) within group (order by resolution_hours_float) as median_hours
            from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED} and resolution_hours is not null
            group by 1 order by 2 desc""", w=8, unit="h"),
        bars("Median by team (h)", f"""
            select coalesce(team, '(none)') as team,
                   percentile_cont(0.5) within group (order by resolution_hours_float) as median_hours
            from {S}.tickets where $__timeFilter(resolved_at) and {NOT_CANCELLED} and resolution_hours is not null
            group by 1 order by 2 desc""", w=8, unit="h"),
    ]),
    dashboard("sd-workload", "Team and agent workload", "Hours logged in timesheets, per team and agent.", [
        stat("Hours logged", f"""
            select round(sum(hours)::numeric, 1) as hours from {S}.timesheets_daily where $__timeFilter(day)""",
             unit="h", description=BY_DAY),
        stat("Agents who logged time", f"""
            select count(distinct user_name) as agents from {S}.timesheets_daily where $__timeFilter(day)""",
             description=BY_DAY),
        stat("Hours per ticket worked on", f"""
            select round(sum(hours)::numeric / nullif(count(*) filter (
                       where ticket_id is not null and (previous_day is null or previous_day < $__timeFrom())), 0), 2)
                   as hours
            from {S}.ticket_work_days where $__timeFilter(day)""", unit="h",
             description="Hours logged in range per ticket worked on in range. " + BY_DAY),
        stat("Open tickets assigned", f"""
            select count(*) as tickets from {S}.tickets where {OPEN} and assigned_to is not null"""),
        ts("Hours per week by team", f"""
            select {bucket('day', 'week')}, coalesce(team, '(none)') as metric, sum(hours) as hours
            from {S}.timesheets_daily where $__timeFilter(day) group by 1, 2 order by 1""", w=24, unit="h",
           description="The team of the ticket the time was logged on. " + BY_DAY),
        bars("Hours by agent (top 20)", f"""
            select coalesce(user_name, '(none)') as agent, round(sum(hours)::numeric, 1) as hours
            from {S}.timesheets_daily where $__timeFilter(day) group by 1 order by 2 desc limit 20""", h=10, unit="h",
             description=BY_DAY),
        bars("Hours by kind of work", f"""
            select coalesce(category, '(none)') as kind, round(sum(hours)::numeric, 1) as hours
            from {S}.timesheets_daily where $__timeFilter(day) group by 1 order by 2 desc""", h=10, unit="h",
             description=BY_DAY),
        table("Agents: tickets assigned, open, hours logged", f"""
            with assigned as (
                select assigned_to as agent, count(*) as tickets_assigned,
                       count(*) filter (where {OPEN}) as tickets_open
                from {S}.tickets where $__timeFilter(created_at) and assigned_to is not null group by 1
            ),
            logged as (
                select user_name as agent, round(sum(hours)::numeric, 1) as hours_logged from {S}.timesheets_daily
                where $__timeFilter(day) and user_name is not null group by 1
            )
            select coalesce(a.agent, l.agent) as agent, coalesce(a.tickets_assigned, 0) as tickets_assigned,
                   coalesce(a.tickets_open, 0) as tickets_open, coalesce(l.hours_logged, 0) as hours_logged
            from assigned a full join logged l on l.agent = a.agent order by hours_logged desc""", w=24, h=10,
              description="Tickets created in range; hours logged in range, counted by UTC day."),
    ]),
    dashboard("sd-categories", "Categories",
              "What the tickets are about: categories (as the export writes them) over time and their cost.", [
        stat("Categories in use", f"""
            select count(distinct category) as categories from {S}.tickets where $__timeFilter(created_at)""", w=8),
        stat("Tickets without a category", f"""
            select count(*) as tickets from {S}.tickets where category is null and $__timeFilter(created_at)""", w=8),
        stat("Largest category", f"""
            select category from {S}.tickets where $__timeFilter(created_at) and category is not null
            group by 1 order by count(*) desc limit 1""", w=8),
        pie("Share of tickets", f"""
            select coalesce(category, '(none)') as category, count(*) as tickets from {S}.tickets
            where $__timeFilter(created_at) group by 1 order by 2 desc"""),
        ts("Created per week by category", f"""
            select {bucket('created_at', 'week')}, coalesce(category, '(none)') as metric, count(*) as tickets
            from {S}.tickets where $__timeFilter(created_at) group by 1, 2 order by 1""", w=16),
        table("Per category: tickets, SLA, resolution, hours", f"""
            select coalesce(t.category, '(none)') as category, count(*) as tickets,
                   round(100.0 * count(*) filter (where t.is_sla_met and {not_cancelled("t")})
                         / nullif(count(t.is_sla_met) filter (where {not_cancelled("t")}), 0), 1) as sla_met_pct,
                   round(avg(t.resolution_hours) filter (where {not_cancelled("t")}), 1) as avg_resolution_hours,
                   round(sum(t.hours_logged)::numeric, 1) as hours_logged
            from {S}.tickets t
            where $__timeFilter(t.created_at) group by 1 order by 2 desc""", w=24,
              description="Tickets created in range; hours_logged: all the hours logged on them."),
    ]),
    dashboard("sd-comments", "Comment activity", "Comments on tickets: volume, authors, visibility.", [
        stat("Comments", f"""
            select coalesce(sum(comments), 0) as comments from {S}.comments_daily where $__timeFilter(day)""",
             description=BY_DAY),
        stat("Customer-visible (%)", f"""
            select round(100.0 * sum(comments) filter (where is_customer_visible)
                         / nullif(sum(comments) filter (where is_customer_visible is not null), 0), 1) as pct
            from {S}.comments_daily where $__timeFilter(day)""", unit="percent", description=BY_DAY),
        stat("Comments per ticket", f"""
            select round(sum(comment_count)::numeric / nullif(count(*), 0), 2) as comments
            from {S}.tickets where $__timeFilter(created_at)""",
             description="Comments on the tickets created in range, per ticket (tickets without comments count), "
                         "as in 'Comments per ticket by priority'."),
        stat("Authors", f"""
            select count(distinct author) as authors from {S}.comments_daily where $__timeFilter(day)""",
             description=BY_DAY),
        ts("Comments per day (customer-visible or internal)", f"""
            select {bucket('day', 'day')},
                   case when is_customer_visible then 'customer-visible' when not is_customer_visible then 'internal'
                        else 'unknown' end as metric,
                   sum(comments) as comments
            from {S}.comments_daily where $__timeFilter(day) group by 1, 2 order by 1""", w=24),
        bars("Most active authors (top 20)", f"""
            select coalesce(author, '(none)') as author, sum(comments) as comments from {S}.comments_daily
            where $__timeFilter(day) group by 1 order by 2 desc limit 20""", h=10, description=BY_DAY),
        bars("Comments per ticket by priority", f"""
            select coalesce(priority, '(none)') as priority,
                   round(sum(comment_count)::numeric / count(*), 2) as comments_per_ticket
            from {S}.tickets where $__timeFilter(created_at) group by 1 order by 1""", h=10,
             description="Comments on the tickets created in range, per ticket."),
    ]),
    dashboard("sd-data-quality", "Data quality",
              "What the cleaning changed (audit_changes), what it could not clean (quarantine), the gate's tests.", [
        stat("Values cleaned", f"select count(*) as cleaned from {S}.audit_changes"),
        stat("Values nulled (quarantined)",
             f"select count(*) as nulled from {S}.quarantine where action = 'value_nulled'"),
        stat("Rows excluded", f"select count(*) as excluded from {S}.quarantine where action = 'row_excluded'"),
        stat("Tests failed in the last run", f"""
            select coalesce((counts -> 'tests' ->> 'failed')::int, 0)
                   + coalesce((counts -> 'tests' ->> 'errored')::int, 0) as failed
            from {META}.runs where finished_at is not null order by started_at desc limit 1"""),
        bars("Quarantine by reason", f"""
            select reason, count(*) as entries from {S}.quarantine group by 1 order by 2 desc""", w=8),
        bars("Cleaning by rule", f"""
            select rule, count(*) as cleaned from {S}.audit_changes group by 1 order by 2 desc""", w=8),
        table("Quarantined share per table", f"""
            with counts as (
                select count(*) as tickets, sum(comment_count) as comments, sum(timesheet_count) as timesheets
                from {S}.tickets
            ),
            src as (
                select 'tickets' as table_name, tickets as mart_rows from counts
                union all select 'comments', comments from counts
                union all select 'timesheets', timesheets from counts
            ),
            q as (
                select table_name, count(distinct source_row) filter (where action = 'row_excluded') as excluded,
                       count(distinct source_row) filter (where action = 'value_nulled') as rows_with_nulled_values
                from {S}.quarantine group by 1
            )
            select src.table_name, src.mart_rows, coalesce(q.excluded, 0) as excluded,
                   coalesce(q.rows_with_nulled_values, 0) as rows_with_nulled_values,
                   round(100.0 * (coalesce(q.excluded, 0) + coalesce(q.rows_with_nulled_values, 0))
                         / nullif(src.mart_rows + coalesce(q.excluded, 0), 0), 2) as quarantined_pct
            from src left join q using (table_name) order by 1""", w=8),
        ts("Tests and excluded rows per run", f"""
            select $__time(started_at),
                   (counts -> 'tests' ->> 'passed')::int as tests_passed,
                   (counts -> 'tests' ->> 'warned')::int as tests_warned,
                   coalesce((counts -> 'tests' ->> 'failed')::int, 0) as tests_failed,
                   (select sum((v ->> 'excluded')::int) from jsonb_each(counts -> 'tables') as e(k, v)) as rows_excluded
            from {META}.runs where $__timeFilter(started_at) and counts is not null order by 1""", w=24),
        table("Quarantined values (latest 200)", f"""
            select table_name, source_row, row_key, column_name, raw_value, reason, action from {S}.quarantine
            order by table_name, source_row limit 200""", w=12, h=10),
        table("Cleaned values (sample of 200)", f"""
            select table_name, source_row, row_key, column_name, before_value, after_value, rule from {S}.audit_changes
            order by rule, table_name, source_row limit 200""", w=12, h=10),
    ]),
    dashboard("sd-pipeline-runs", "Pipeline runs",
              "sdrun's own runs on PostgreSQL (canary and prod), from the run ledger sdrun_meta.runs.", [
        stat("Live version", f"""
            select version from {META}.versions where state = 'live' limit 1"""),
        stat("Hours since the last successful prod run", f"""
            select round(cast(extract(epoch from (now() - max(finished_at))) / 3600 as numeric), 1) as hours
            from {META}.runs where target = 'prod' and outcome = 'ok'""", unit="h"),
        stat("Runs in range", f"select count(*) as runs from {META}.runs where $__timeFilter(started_at)"),
        stat("Runs not ok in range", f"""
            select count(*) filter (where outcome <> 'ok') as runs from {META}.runs where $__timeFilter(started_at)"""),
        ts("Runs per day by outcome", f"""
            select {bucket('started_at', 'day')}, outcome as metric, count(*) as runs
            from {META}.runs where $__timeFilter(started_at) group by 1, 2 order by 1"""),
        ts("Duration per run (s)", f"""
            select $__time(started_at), target as metric, extract(epoch from (finished_at - started_at)) as seconds
            from {META}.runs where $__timeFilter(started_at) and finished_at is not null order by 1""", unit="s"),
        table("Runs", f"""
            select run_id, target, outcome, started_at, finished_at,
                   round(cast(extract(epoch from (finished_at - started_at)) as numeric), 1) as seconds,
                   left(source_sha256, 12) as source_sha256, version,
                   counts -> 'tests' ->> 'passed' as tests_passed, counts -> 'tests' ->> 'failed' as tests_failed,
                   error
            from {META}.runs where $__timeFilter(started_at) order by started_at desc limit 100""", w=24, h=10),
        table("Rows per table in each run", f"""
            select r.run_id, r.target, e.k as table_name, (e.v ->> 'source')::int as source_rows,
                   (e.v ->> 'marts')::int as mart_rows, (e.v ->> 'excluded')::int as excluded
            from {META}.runs r, jsonb_each(r.counts -> 'tables') as e(k, v)
            where $__timeFilter(r.started_at) order by r.started_at desc, 3 limit 300""", w=12, h=10),
        table("Versions (blue-green)", f"""
            select version, state, run_id, built_at, live_since, dropped_at, left(source_sha256, 12) as source_sha256
            from {META}.versions order by built_at desc limit 50""", w=12, h=10),
    ], time_from="now-30d", tags=["operations"]),
]
# fmt: on


def main(check: bool = False) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for d in DASHBOARDS:
        path = OUT / f"{d['uid'].removeprefix('sd-')}.json"
        text = json.dumps(d, indent=2, ensure_ascii=False) + "\n"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)} (run scripts/build_dashboards.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
