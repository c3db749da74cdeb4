"""The Grafana provisioning: valid dashboard JSON, and every panel's SQL run on PostgreSQL marts.

Panels are run as Grafana runs them: macros expanded by orchestrator.grafana_macros (a port of
Grafana's PostgreSQL macro engine), as the read-only role `grafana_ro`, against the live marts and
the run ledger that `sdrun full --target prod` built from the demo data, over each dashboard's own
default time range (its JSON `time`, read as Grafana's dateMath does). The history's dashboards open
on every date the marts can hold (from min_valid_timestamp) up to now, so the demo quarter
(2025-04 .. 06) and a history of many years stay in range whenever the dashboards are opened; the
pipeline-runs dashboard opens on the last 30 days of the ledger (today's runs).

A second export, a desk with statuses of its own ('Awaiting Parts' in no seed, 'Cancelled', a waiting
ticket that still carries a resolution date, a closed one without dates), is deployed the same way to
a database of its own: the backlog, SLA and resolution panels and daily_summary must give the figures
its status groups mean, and no chart may break down by the desk's own spelling of a status.
"""

from __future__ import annotations

import csv
import json
import os
import runpy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

from orchestrator.build.grafana_macros import MacroError, expand, time_range
from orchestrator.core.settings import PROJECT_DIR
from orchestrator.demo.catalog import EXPORT_AT, QUARTER_START

from .helpers import comment, query, sdrun, ticket, timesheet, write_source

GRAFANA = PROJECT_DIR / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
PANEL_TYPES = {"timeseries", "stat", "table", "barchart", "piechart", "bargauge", "gauge", "text"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def provisioned_datasource() -> dict[str, Any]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "servicedesk.yml").read_text())
    assert doc["apiVersion"] == 1 and len(doc["datasources"]) == 1
    return doc["datasources"][0]


# ------------------------------------------------------------------------------------------------
# the files
# ------------------------------------------------------------------------------------------------


def test_datasource_reads_its_settings_from_the_environment() -> None:
    ds = provisioned_datasource()
    assert ds["type"] == "grafana-postgresql-datasource" and ds["uid"] == "servicedesk-pg"
    assert ds["user"].startswith("$") and ds["url"].startswith("$")
    assert ds["secureJsonData"]["password"] == "${GRAFANA_RO_PASSWORD}"
    assert ds["jsonData"]["database"].startswith("$")
    assert "password" not in ds and "password" not in ds["jsonData"]


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "servicedesk.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(m.endswith(":" + provider["options"]["path"]) or f":{provider['options']['path']}:" in m for m in mounts)
    assert any("grafana/provisioning" in m for m in mounts)


def test_ten_dashboards_with_valid_grafana_json() -> None:
    assert len(DASHBOARD_FILES) == 10
    uid = provisioned_datasource()["uid"]
    uids, titles = set(), set()
    for path in DASHBOARD_FILES:
        d = load(path)
        where = path.name
        assert isinstance(d["title"], str) and d["title"], where
        assert isinstance(d["uid"], str) and 0 < len(d["uid"]) <= 40, where
        assert d["uid"] not in uids and d["title"] not in titles, where
        uids.add(d["uid"])
        titles.add(d["title"])
        assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36, where
        assert "id" not in d or d["id"] is None, where  # provisioned dashboards get their id from Grafana
        assert {"from", "to"} <= d["time"].keys(), where
        assert d["panels"], where
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), where
        cells: set[tuple[int, int]] = set()
        for p in d["panels"]:
            at = f"{where} panel {p['id']} {p.get('title')!r}"
            assert p["type"] in PANEL_TYPES, at
            g = p["gridPos"]
            assert {"h", "w", "x", "y"} <= g.keys() and all(isinstance(g[k], int) for k in "hwxy"), at
            assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, at
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not mine & cells, f"{at} overlaps another panel"
            cells |= mine
            assert p["datasource"]["uid"] == uid, at
            assert p["targets"], at
            for t in p["targets"]:
                assert t["refId"] and t["rawQuery"] is True and t["format"] in ("table", "time_series"), at
                assert t["datasource"]["uid"] == uid, at
                assert t["rawSql"].strip().lower().startswith(("select", "with")), at
                if t["format"] == "time_series":
                    assert '"time"' in expand(t["rawSql"], *default_range(d)) or "$__time" in t["rawSql"], at


def test_json_is_what_the_generator_writes() -> None:
    script = runpy.run_path(str(PROJECT_DIR / "scripts" / "build_dashboards.py"))
    assert script["main"](check=True) == 0


def test_status_groups_are_the_seeds() -> None:
    """The dashboards name the backlog groups (they read only the marts); the seed decides them."""
    script = runpy.run_path(str(PROJECT_DIR / "scripts" / "build_dashboards.py"))
    with (PROJECT_DIR / "seeds" / "status_groups.csv").open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["sort_order"]))
    assert script["STATUS_GROUPS"] == tuple(r["status_group"] for r in rows)
    assert script["BACKLOG_GROUPS"] == tuple(r["status_group"] for r in rows if r["is_backlog"].lower() == "true")
    assert script["CANCELLED"] in script["STATUS_GROUPS"]


def test_no_panel_reads_a_column_the_marts_dropped() -> None:
    for path in DASHBOARD_FILES:
        for p in load(path)["panels"]:
            for t in p["targets"]:
                assert "is_category_mapped" not in t["rawSql"], f"{path.name} {p['title']!r}"


# ------------------------------------------------------------------------------------------------
# the macros, as Grafana expands them (cases from Grafana's own macro tests)
# ------------------------------------------------------------------------------------------------

T0 = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "WHERE $__timeFilter(time_column)",
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        ),
        ("GROUP BY $__timeGroup(time_column,'5m')", "GROUP BY floor(extract(epoch from time_column)/300)*300"),
        (
            "select $__timeGroup(time_column, '5m'), 1",
            'select floor(extract(epoch from time_column)/300)*300 AS "time", 1',
        ),
        ("select $__timeGroupAlias(d, '1d', 0)", 'select floor(extract(epoch from d)/86400)*86400 AS "time"'),
        ("select $__time(time_column)", 'select time_column AS "time"'),
        ("select $__timeEpoch(time)", 'select extract(epoch from time) as "time"'),
        ("select $__timeFrom(), $__timeTo()", "select '2018-04-12T18:00:00Z', '2018-04-12T18:05:00Z'"),
        ("WHERE $__unixEpochFilter(time)", "WHERE time >= 1523556000 AND time <= 1523556300"),
        ("select $__unixEpochGroupAlias(t, '1h')", 'select floor((t)/3600)*3600 AS "time"'),
        ("select $__unixEpochNanoFrom()", "select 1523556000000000000"),
        ("select $__interval_ms, '$__interval'", "select 3600000, '1h'"),
    ],
)
def test_macros_expand_like_grafana(sql: str, expected: str) -> None:
    assert expand(sql, T0, T1) == expected


def test_unknown_macro_or_variable_is_an_error() -> None:
    with pytest.raises(MacroError):
        expand("select $__nope(x)", T0, T1)
    with pytest.raises(MacroError):
        expand("select * from t where team = '$team'", T0, T1)


# ------------------------------------------------------------------------------------------------
# every panel on PostgreSQL
# ------------------------------------------------------------------------------------------------

OPERATIONS = {"sd-pipeline-runs"}  # the run ledger's recent runs, not the history of tickets


def default_range(d: dict[str, Any], now: datetime | None = None) -> tuple[datetime, datetime]:
    """The range a dashboard opens with, at `now` (default: this moment)."""
    return time_range(d["time"], now or datetime.now(UTC))


def test_the_default_range_covers_the_whole_history() -> None:
    """From the earliest date the marts keep (min_valid_timestamp; earlier ones are quarantined) to now,
    whenever the dashboard is opened: the demo quarter is never out of range, as it was with now-2y
    from mid-2027 on."""
    earliest = datetime.fromisoformat(str(yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
                                          ["vars"]["min_valid_timestamp"])).replace(tzinfo=UTC)
    demo = (datetime.combine(QUARTER_START, datetime.min.time(), UTC), datetime.combine(
        QUARTER_START, datetime.min.time(), UTC) + timedelta(seconds=EXPORT_AT))
    for path in DASHBOARD_FILES:
        d = load(path)
        for now in (datetime.now(UTC), datetime(2027, 7, 1, tzinfo=UTC), datetime(2045, 1, 1, tzinfo=UTC)):
            start, end = default_range(d, now)
            assert end == now, (path.name, now)
            if d["uid"] in OPERATIONS:
                assert now - start <= timedelta(days=31), path.name  # recent runs
            else:
                assert start <= earliest <= demo[0] and demo[1] <= end, (path.name, now, start)


def deploy(env: dict[str, str], source: Path, *extra: str) -> dict[str, str]:
    """`sdrun setup-db`, then `sdrun full --target prod` of `source`, the way an operator does it."""
    home = Path(env["SDRUN_HOME"])
    res = sdrun("setup-db", home=home, env=env)
    assert res.returncode == 0, res.stderr
    res = sdrun("full", "--target", "prod", "--skip-canary", "--source", str(source), *extra, "-q", home=home, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    return env


@pytest.fixture(scope="module")
def grafana_db(pg_env: dict[str, str], demo_source: Path) -> dict[str, str]:
    """The demo data deployed to prod on a private PostgreSQL."""
    return deploy(pg_env, demo_source)


Result = tuple[list[str], list[tuple[Any, ...]]]  # a query's column names and rows


def run_panels(env: dict[str, str], path: Path, now: datetime | None = None,
               window: tuple[datetime, datetime] | None = None) -> list[tuple[dict[str, Any], Result | str]]:
    """Every panel of a dashboard as Grafana runs it over its default range (at `now`), or over
    `window`, with its result or the first line of its error."""
    d = load(path)
    start, end = window or default_range(d, now)
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], dbname=env["PGDATABASE"])
    con.autocommit = True
    out: list[tuple[dict[str, Any], Result | str]] = []
    try:
        with con.cursor() as cur:
            cur.execute("set role grafana_ro")  # what the datasource logs in as: read-only, marts and ledger
            for p in d["panels"]:
                for t in p["targets"]:
                    try:
                        cur.execute(expand(t["rawSql"], start, end))
                        out.append((p, ([c.name for c in cur.description], cur.fetchall())))
                    except psycopg2.Error as exc:
                        out.append((p, str(exc).splitlines()[0]))
    finally:
        con.close()
    return out


HISTORY_FILES = [p for p in DASHBOARD_FILES if load(p)["uid"] not in OPERATIONS]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[p.stem for p in DASHBOARD_FILES])
def test_every_panel_runs_on_postgres_and_returns_rows(grafana_db: dict[str, str], path: Path) -> None:
    assert_panels_return_rows(grafana_db, path)


@pytest.mark.parametrize("path", HISTORY_FILES, ids=[p.stem for p in HISTORY_FILES])
def test_years_later_the_history_dashboards_still_show_the_demo_quarter(grafana_db: dict[str, str],
                                                                        path: Path) -> None:
    """Opened in 2031 (a now-2y range would start in 2029, after the demo's 2025 quarter)."""
    assert_panels_return_rows(grafana_db, path, now=datetime(2031, 1, 1, tzinfo=UTC))


def assert_panels_return_rows(env: dict[str, str], path: Path, now: datetime | None = None) -> None:
    failures = []
    for p, result in run_panels(env, path, now):
        if isinstance(result, str):
            failures.append(f"{p['title']!r}: {result}")
            continue
        names, rows = result
        if not rows:
            failures.append(f"{p['title']!r}: no rows")
        elif p["type"] == "stat" and rows[0][-1] is None:
            failures.append(f"{p['title']!r}: NULL")
        elif p["targets"][0]["format"] == "time_series" and names[0] != "time":
            failures.append(f"{p['title']!r}: first column {names[0]!r}, not time")
    assert not failures, f"{path.name}: " + "; ".join(failures)


# ------------------------------------------------------------------------------------------------
# a desk with statuses of its own
# ------------------------------------------------------------------------------------------------

DAY = "2025-05-20"
# Every ticket is created on DAY at 08:00 (helpers.ticket): P3, assigned, category Software.
# (ticket id, status as the desk writes it, resolved, closed, SLA met)
OWN_STATUSES = [
    ("A1", "Awaiting Parts", None, None, None),  # in no seed, no dates: open
    ("A2", "Awaiting Parts", f"{DAY} 12:00:00", None, "Yes"),  # in no seed, resolved: 4 h
    ("C1", "Cancelled", "2025-05-22 08:00:00", "2025-05-22 08:00:00", "No"),  # cancelled, a "resolution" of 48 h
    ("C2", "Cancelled", None, "2025-05-21 09:00:00", "No"),  # cancelled by closing it
    ("W1", "Waiting on Customer", f"{DAY} 10:00:00", None, "Yes"),  # waiting (open), once resolved: 2 h
    ("I1", "In Progress", None, "2025-05-21 10:00:00", None),  # in progress (open) though it has a closed date
    ("N1", "New", None, None, None),  # open; P1, unassigned, no response
    ("R1", "Resolved", f"{DAY} 14:00:00", None, "Yes"),  # resolved: 6 h
    ("K1", "Closed", f"{DAY} 10:00:00", "2025-05-21 10:00:00", "No"),  # resolved 2 h, SLA missed, closed
    ("K2", "Closed", None, None, None),  # closed without a date: not open
]
OPEN_NOW = {"A1", "W1", "I1", "N1"}
Panels = dict[str, dict[str, Result]]  # dashboard uid -> panel title -> result


@pytest.fixture(scope="module")
def own_statuses_db(pg_cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """OWN_STATUSES deployed to prod, in a database of its own on the session's private PostgreSQL."""
    tickets = []
    for tid, status, resolved, closed, sla in OWN_STATUSES:
        over: dict[str, Any] = {"TKT-Status": status, "TKT-Actual Resolution Date": resolved,
                                "TKT-Closed Time": closed, "TKT-SLA Met": sla}  # fmt: skip
        if tid == "N1":
            over |= {"TKT-Priority": "P1", "TKT-Assigned To": None, "TKT-Actual Response Date": None}
        tickets.append(ticket(tid, **over))
    source = write_source(tmp_path_factory.mktemp("own-statuses") / "export.db", tickets,
                          [comment(f"CM{i}", t["TKT-Ticket ID"]) for i, t in enumerate(tickets)],
                          [timesheet(t["TKT-Ticket ID"]) for t in tickets])  # fmt: skip
    db = "t_dashboards_own_statuses"
    pg_cluster.create_database(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SDRUN_"))}
    env.update(pg_cluster.env(db))
    env["SDRUN_HOME"] = str(tmp_path_factory.mktemp("sdrun-home-own-statuses"))
    # 'Awaiting Parts' is 20% of this export, past max_unmapped_share (it would halt the run)
    return deploy(env, source, "--var", "max_unmapped_share=1")


@pytest.fixture(scope="module")
def own_statuses_panels(own_statuses_db: dict[str, str]) -> Panels:
    """Every panel of the ten dashboards on that desk's marts; each must run."""
    out: Panels = {}
    errors = []
    for path in DASHBOARD_FILES:
        uid = load(path)["uid"]
        for p, result in run_panels(own_statuses_db, path):
            if isinstance(result, str):
                errors.append(f"{path.name} {p['title']!r}: {result}")
            else:
                out.setdefault(uid, {})[p["title"]] = result
    assert not errors, "; ".join(errors)
    return out


def stat_value(panels: Panels, uid: str, title: str) -> Any:
    _, rows = panels[uid][title]
    assert len(rows) == 1, (uid, title, rows)
    v = rows[0][-1]
    return v if v is None or isinstance(v, int) else float(v)


def test_backlog_panels_count_status_groups(own_statuses_panels: Panels) -> None:
    panels = own_statuses_panels
    b = panels["sd-backlog"]
    assert stat_value(panels, "sd-backlog", "Open now") == len(OPEN_NOW)
    assert stat_value(panels, "sd-backlog", "Open P1/P2") == 1
    assert stat_value(panels, "sd-workload", "Open tickets assigned") == len(OPEN_NOW) - 1  # N1 is unassigned
    assert b["Open by status group"][1] == [("open", 1), ("in progress", 1), ("waiting", 1), ("(unmapped status)", 1)]
    assert dict(b["Open by priority"][1]) == {"P1": 1, "P3": 3}
    names, rows = b["Oldest open tickets"]
    assert {r[names.index("ticket_id")] for r in rows} == OPEN_NOW
    assert {(r[0], r[1]) for r in b["Open by status, as exported"][1]} == {
        ("open", "New"), ("in progress", "In Progress"), ("waiting", "Waiting on Customer"),
        ("(unmapped status)", "Awaiting Parts")}  # fmt: skip
    # 10 created on DAY; A2, R1, K1 (resolved) and K2 (closed, no date) not open that evening;
    # C2 cancelled on the 21st, C1 on the 22nd: 6, 5, then the 4 open now
    assert [r[1] for r in b["Open tickets at the end of each day"][1]] == [6, 5, 4]
    # 10 created, 4 resolved (A2, W1, R1, K1; C1 was cancelled)
    assert stat_value(panels, "sd-backlog", "Opened minus resolved in range") == 10 - 4


def test_cancelled_tickets_are_not_resolved(own_statuses_panels: Panels) -> None:
    panels = own_statuses_panels

    def v(uid: str, title: str) -> Any:
        return stat_value(panels, uid, title)

    # SLA of the tickets created, the cancelled ones left out: A2, W1, R1 met it, K1 missed it
    assert v("sd-sla", "SLA met (tickets created in range)") == 75.0
    assert v("sd-sla", "Tickets missing their SLA") == 1
    assert v("sd-sla", "Tickets without an SLA verdict") == 4  # A1, I1, N1, K2
    by_priority = [(p, x if x is None else float(x)) for p, x in panels["sd-sla"]["SLA met by priority (%)"][1]]
    assert by_priority == [("P1", None), ("P3", 75.0)]  # N1 has no verdict
    assert {r[0] for r in panels["sd-sla"]["Recent tickets that missed the SLA"][1]} == {"K1"}
    # resolution: A2 4 h, W1 2 h, R1 6 h, K1 2 h; C1's 48 h is a cancellation
    assert v("sd-ticket-volume", "Tickets resolved") == 4
    assert v("sd-resolution-times", "Median resolution (h)") == 3.0
    assert v("sd-resolution-times", "Resolved within a day (%)") == 100.0
    assert v("sd-resolution-times", "Average (h, daily summary)") == 3.5
    names, rows = panels["sd-categories"]["Per category: tickets, SLA, resolution, hours"]
    (row,) = rows
    got = dict(zip(names, row, strict=True))
    assert (got["tickets"], float(got["sla_met_pct"]), float(got["avg_resolution_hours"])) == (10, 75.0, 3.5)
    names, rows = panels["sd-ticket-volume"]["Created, resolved, closed and cancelled per day"]
    assert [dict(zip(names[1:], r[1:], strict=True)) for r in rows] == [
        {"created": 10, "resolved": 4, "closed": 0, "cancelled": 0},
        {"created": 0, "resolved": 0, "closed": 3, "cancelled": 1},  # C2, I1, K1 closed; C2 cancelled
        {"created": 0, "resolved": 0, "closed": 1, "cancelled": 1},  # C1
    ]


def test_daily_summary_by_status_group(own_statuses_db: dict[str, str]) -> None:
    env = own_statuses_db
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], dbname=env["PGDATABASE"])
    try:
        with con.cursor() as cur:
            cur.execute("select day::text, tickets_created, tickets_resolved, tickets_resolved_within_sla,"
                        " avg_resolution_hours::float8, tickets_closed, tickets_cancelled, tickets_open_end_of_day"
                        " from servicedesk.daily_summary order by day")  # fmt: skip
            rows = cur.fetchall()
    finally:
        con.close()
    assert rows == [
        (DAY, 10, 4, 3, 3.5, 0, 0, 6),
        ("2025-05-21", 0, 0, 0, None, 3, 1, 5),
        ("2025-05-22", 0, 0, 0, None, 1, 1, 4),
    ]


def test_no_chart_breaks_down_by_the_desks_own_status(own_statuses_panels: Panels) -> None:
    """Charts show status groups; only a table may show the export's spelling (next to its group)."""
    spellings = {status for _, status, *_ in OWN_STATUSES}
    kinds = {(load(path)["uid"], p["title"]): p["type"] for path in DASHBOARD_FILES for p in load(path)["panels"]}
    found = []
    for uid, panels in own_statuses_panels.items():
        for title, (_, rows) in panels.items():
            shown = {x for r in rows for x in r if isinstance(x, str)}
            if kinds[uid, title] != "table" and spellings & shown:
                found.append(f"{uid} {title!r}: {sorted(spellings & shown)}")
    assert not found, "; ".join(found)


# ------------------------------------------------------------------------------------------------
# the panels over the rollups give what the marts give
# ------------------------------------------------------------------------------------------------

# The whole history, a fortnight whose ends fall inside days, and a single day (demo quarter 2025-04..06).
RANGES = [
    (datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)),
    (datetime(2025, 5, 10, 14, 30, tzinfo=UTC), datetime(2025, 5, 24, 9, 0, tzinfo=UTC)),
    (datetime(2025, 6, 3, 8, 0, tzinfo=UTC), datetime(2025, 6, 3, 9, 0, tzinfo=UTC)),
]


def panel_rows(env: dict[str, str], uid: str, title: str, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """The rows of one panel of the dashboard `uid` over [start, end], as Grafana runs it."""
    (path,) = [p for p in DASHBOARD_FILES if load(p)["uid"] == uid]
    ((_, result),) = [(p, r) for p, r in run_panels(env, path, window=(start, end)) if p["title"] == title]
    assert not isinstance(result, str), (uid, title, result)
    return result[1]


@pytest.mark.parametrize("start, end", RANGES, ids=["whole history", "a fortnight", "one hour"])
def test_rollup_panels_give_what_the_marts_give(grafana_db: dict[str, str], start: datetime, end: datetime) -> None:
    """The workload and comment panels read models/marts/rollups (one row per day and agent, ticket,
    author...) instead of every timesheet and comment; over any range they give what the marts give
    for the UTC days the range touches (the rollups' grain), distinct tickets and agents included."""
    days = (start.date(), end.date())
    worked = "from servicedesk.timesheets where cast(work_date as date) between %s and %s"
    commented = "from servicedesk.comments where cast(created_at as date) between %s and %s"
    # (panel, what the marts give, the decimals the panel rounds to: None for a count)
    expected: list[tuple[str, str, str, int | None]] = [
        ("sd-workload", "Hours logged", f"select sum(hours) {worked}", 1),
        ("sd-workload", "Agents who logged time", f"select count(distinct user_name) {worked}", None),
        ("sd-workload", "Hours per ticket worked on",
         f"select sum(hours) / nullif(count(distinct ticket_id), 0) {worked}", 2),
        ("sd-comments", "Comments", f"select count(*) {commented}", None),
        ("sd-comments", "Authors", f"select count(distinct author) {commented}", None),
        ("sd-comments", "Customer-visible (%)",
         f"select 100.0 * count(*) filter (where is_customer_visible) / nullif(count(is_customer_visible), 0) "
         f"{commented}", 1),
    ]
    for uid, title, statement, decimals in expected:
        (want,) = query(grafana_db, statement, days)
        (got,) = panel_rows(grafana_db, uid, title, start, end)
        assert same(got[0], want[0], decimals), (uid, title, got, want)
    for uid, title, statement, decimals in [
        ("sd-workload", "Hours by kind of work",
         f"select coalesce(category, '(none)'), sum(hours) {worked} group by 1", 1),
        ("sd-workload", "Hours per week by team",
         "select date_trunc('week', cast(cast(work_date as date) as timestamp)), coalesce(t.team, '(none)'), "
         "sum(hours) from servicedesk.timesheets ts join servicedesk.tickets t using (ticket_id) "
         "where cast(work_date as date) between %s and %s group by 1, 2", 6),
        ("sd-comments", "Comments per day (customer-visible or internal)",
         "select cast(created_at as date)::timestamp, case when is_customer_visible then 'customer-visible' "
         "when not is_customer_visible then 'internal' else 'unknown' end, count(*) " + commented + " group by 1, 2",
         None),
    ]:
        got_rows = {r[:-1]: r[-1] for r in panel_rows(grafana_db, uid, title, start, end)}
        want_rows = {r[:-1]: r[-1] for r in query(grafana_db, statement, days)}
        assert got_rows.keys() == want_rows.keys(), (title, got_rows, want_rows)
        assert all(same(got_rows[k], want_rows[k], decimals) for k in want_rows), (title, got_rows, want_rows)
    # per ticket: the comments and hours of the tickets created in range (tickets.comment_count, hours_logged)
    created = "created_at between %s and %s"
    window = (start.replace(tzinfo=None), end.replace(tzinfo=None))
    ((want_per_ticket,),) = query(grafana_db, "select round(count(c.comment_id)::numeric / nullif(count(distinct "
                                  "t.ticket_id), 0), 2) from servicedesk.tickets t left join servicedesk.comments c "
                                  f"using (ticket_id) where t.{created}", window)
    assert panel_rows(grafana_db, "sd-comments", "Comments per ticket", start, end) == [(want_per_ticket,)]
    by_category = dict(query(
        grafana_db,
        "select coalesce(t.category, '(none)'), coalesce(sum(h.hours), 0) "
        "from servicedesk.tickets t left join (select ticket_id, sum(hours) as hours "
        f"from servicedesk.timesheets group by 1) h using (ticket_id) where t.{created} group by 1", window))
    got_category = {r[0]: r[-1] for r in panel_rows(grafana_db, "sd-categories",
                                                       "Per category: tickets, SLA, resolution, hours", start, end)}
    assert got_category.keys() == by_category.keys()
    assert all(same(got_category[k], by_category[k], 1) for k in by_category), (got_category, by_category)


def same(got: Any, want: Any, decimals: int | None) -> bool:
    """A count equal; a figure the panel rounds to `decimals` within half its last digit of the marts'
    (a sum of doubles depends on the order it is added in, so an exact tie may round either way)."""
    if decimals is None or got is None or want is None:
        return bool(got == want)
    return abs(float(got) - float(want)) <= 0.5 * 10.0 ** -decimals + 1e-9


def test_quarantined_share_counts_every_mart_row(grafana_db: dict[str, str]) -> None:
    start, end = RANGES[0]
    got = {r[0]: r[1] for r in panel_rows(grafana_db, "sd-data-quality", "Quarantined share per table", start, end)}
    assert got == {t: query(grafana_db, f"select count(*) from servicedesk.{t}")[0][0]
                   for t in ("tickets", "comments", "timesheets")}


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan node (EXPLAIN's JSON) and every node under it."""
    return [node] + [n for child in node.get("Plans", []) for n in plan_nodes(child)]


def test_median_panels_read_an_index_alone(grafana_db: dict[str, str]) -> None:
    """Every panel that takes a percentile per group reads the tickets mart in group and value order
    from one of its indexes alone (macros/engine.sql, panel_indexes; sdrun VACUUMs it before the swap),
    with no sort under the aggregate: at scale 10 a third of the time of a sort of every ticket
    (docs/benchmarks.md). The demo's mart is small enough for PostgreSQL to choose either plan, so the
    sequential scan is priced out; an index on another expression than the panel's, one that lacks a
    column the panel filters on, or a mart left without VACUUM fails it."""
    checked = []
    con = psycopg2.connect(host=grafana_db["PGHOST"], port=grafana_db["PGPORT"], user=grafana_db["PGUSER"],
                           dbname=grafana_db["PGDATABASE"])
    try:
        with con.cursor() as cur:
            cur.execute("set enable_seqscan = off")
            for path in DASHBOARD_FILES:
                d = load(path)
                for p in d["panels"]:
                    for t in p["targets"]:
                        statement = expand(t["rawSql"], *default_range(d))
                        if "percentile_cont" not in statement or "group by" not in statement:
                            continue
                        cur.execute("explain (analyze, format json) " + statement)
                        nodes = plan_nodes(cur.fetchone()[0][0]["Plan"])
                        (aggregate,) = [n for n in nodes if n["Node Type"] == "Aggregate"]
                        under = plan_nodes(aggregate)[1:]
                        assert [n["Node Type"] for n in under] == ["Index Only Scan"], (p["title"], under)
                        assert under[0]["Relation Name"] == "tickets" and under[0]["Heap Fetches"] == 0, p["title"]
                        checked.append(p["title"])
    finally:
        con.close()
    assert len(checked) == 7, checked  # by priority, team, category, day and week, in minutes and hours


@pytest.mark.parametrize("start, end", RANGES, ids=["whole history", "a fortnight", "one hour"])
def test_panels_counted_per_day_or_hour_first_count_every_ticket(grafana_db: dict[str, str], start: datetime,
                                                                  end: datetime) -> None:
    """"Created by weekday" and "by hour of day" count per day or hour before they label (a label per
    ticket is half their time): the same rows as a label and a count per ticket."""
    window = (start.replace(tzinfo=None), end.replace(tzinfo=None))
    for title, label in [("Created by weekday", "to_char(created_at, 'ID Dy')"),
                         ("Created by hour of day", "lpad(extract(hour from created_at)::int::text, 2, '0')")]:
        want = query(grafana_db, f"select {label}, count(*) from servicedesk.tickets "
                                 "where created_at between %s and %s group by 1 order by 1", window)
        assert panel_rows(grafana_db, "sd-ticket-volume", title, start, end) == want, title
        assert want or end - start <= timedelta(hours=1), title  # an hour may fall between tickets
