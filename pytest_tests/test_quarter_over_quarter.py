"""Quarter over quarter on a real PostgreSQL: each prod deploy compares its new build with the live
version (report.json `comparison`, the summary's `compare` lines), and the shrink gate halts a
deploy that would lose rows of the history (exit 3, nothing published) unless `--allow-shrink`.

The tests share one database and run in order, like the quarters of a history: the demo export
deployed (nothing to compare); the same export again (no change); the export grown by a ticket;
the grown export minus two tickets with their comments and timesheets (halted, then deployed with
--allow-shrink); minus one timesheet only (halted; passes under SDRUN_MAX_ROWS_DROP_SHARE); a bad
SDRUN_MAX_ROWS_DROP_SHARE (exit 2, before any work); the canary (comparison skipped).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from pytest_tests.helpers import SDRUN, comment, ticket, timesheet

WS = "' ' || char(9) || char(10) || char(13) || char(160)"  # what the cleaning trims
NEW_TICKET = "QOQ-0001"


def sdrun(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SDRUN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def deploy(env: dict[str, str], source: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return sdrun(env, "full", "--source", str(source), "--target", "prod", "--skip-canary", "-q", *extra)


def rows(env: dict[str, str], query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"], user=env["PGUSER"])
    try:
        with con.cursor() as cur:
            cur.execute(query, params)
            return list(cur.fetchall())
    finally:
        con.close()


def one(env: dict[str, str], query: str, params: tuple[Any, ...] = ()) -> Any:
    found = rows(env, query, params)
    return found[0][0] if found else None


def live_version(env: dict[str, str]) -> str | None:
    return one(env, "select version from sdrun_meta.versions where state = 'live'")


def live_content(env: dict[str, str]) -> str:
    """What the dashboards read: every mart's rows, hashed."""
    parts = []
    for table in ("tickets", "comments", "timesheets", "quarantine", "audit_changes", "daily_summary"):
        n, digest = rows(env, f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                              f"from servicedesk.{table} t")[0]
        parts.append(f"{table}:{n}:{digest}")
    return ";".join(parts)


def count(env: dict[str, str], table: str) -> int:
    return int(one(env, f"select count(*) from servicedesk.{table}"))


def schemas(env: dict[str, str]) -> set[str]:
    return {r[0] for r in rows(env, "select nspname from pg_namespace where nspname not like 'pg\\_%%' "
                                    "and nspname not in ('information_schema', 'public')")}


def report_of(r: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    path = next(line.split()[-1] for line in r.stdout.splitlines() if line.strip().startswith("report "))
    return json.loads(Path(path).read_text())


def ledger(env: dict[str, str], run_id: str) -> tuple[str, dict[str, Any] | None, str | None]:
    outcome, counts, error = rows(env, "select outcome, counts, error from sdrun_meta.runs where run_id = %s",
                                  (run_id,))[0]
    return outcome, counts, error


def errors(r: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("Error:")]


def edit(src: Path, dst: Path, *statements: str) -> Path:
    """A copy of an export with some SQL applied (the original is never touched)."""
    shutil.copyfile(src, dst)
    con = sqlite3.connect(dst)
    try:
        for s in statements:
            con.execute(s)
        con.commit()
    finally:
        con.close()
    return dst


def insert(db: Path, table: str, row: dict[str, Any]) -> None:
    con = sqlite3.connect(db)
    try:
        names = list(row)
        con.execute(f"insert into {table} ({', '.join(chr(34) + n + chr(34) for n in names)}) "
                    f"values ({', '.join('?' for _ in names)})", [row[n] for n in names])
        con.commit()
    finally:
        con.close()


def without_tickets(src: Path, dst: Path, ids: list[str]) -> Path:
    """`src` without the tickets `ids`, their comments and their timesheets (ids matched trimmed)."""
    listed = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    return edit(src, dst,
                f'delete from comments where trim("CT-TKT-ID", {WS}) in ({listed})',
                f'delete from timesheets where trim("TS-Crm ID", {WS}) in ({listed})',
                f'delete from tickets where trim("TKT-Ticket ID", {WS}) in ({listed})')


@pytest.fixture(scope="module")
def env(pg_env: dict[str, str]) -> dict[str, str]:
    pg_env["GRAFANA_RO_PASSWORD"] = "any"
    r = sdrun(pg_env, "setup-db")
    assert r.returncode == 0, r.stderr
    return pg_env


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qoq-exports")


def test_the_first_deploy_has_nothing_to_compare(env: dict[str, str], demo_source: Path) -> None:
    r = deploy(env, demo_source)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "  compare     no live version yet (first deploy): nothing to compare" in r.stdout.splitlines()
    report = report_of(r)
    assert report["comparison"]["first_deploy"] is True
    assert report["steps"]["compare"]["status"] == "ok"
    # the ledger keeps the run's quality score: the next deploy compares its own with it
    _, counts, _ = ledger(env, report["run_id"])
    assert counts is not None and counts["score"] == report["profile"]["score"]


def test_the_same_export_again_shows_no_change_and_passes(env: dict[str, str], demo_source: Path) -> None:
    live = live_version(env)
    r = deploy(env, demo_source, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    c = report_of(r)["comparison"]
    assert c["live_version"] == live
    assert set(c["tables"]) == {"tickets", "comments", "timesheets", "quarantine", "audit_changes", "daily_summary"}
    assert all(t["diff"] == 0 and t["live"] == t["new"] > 0 for t in c["tables"].values()), c["tables"]
    assert {t: (d["by"], d["columns"], d["count"]) for t, d in c["disappeared"].items()} == {
        "tickets": ("key", ["ticket_id"], 0),
        "comments": ("key", ["comment_id"], 0),
        "timesheets": ("content", ["ticket_id", "user_name", "category", "title", "hours", "work_date"], 0),
    }
    assert c["tickets_per_month"] and all(m["diff"] == 0 for m in c["tickets_per_month"])
    assert sum(m["new"] for m in c["tickets_per_month"]) == c["tables"]["tickets"]["new"]
    assert c["score"]["live"] == c["score"]["new"] is not None and c["score"]["diff"] == 0
    assert c["quarantine_by_reason"] and all(q["diff"] == 0 for q in c["quarantine_by_reason"].values())
    assert c["gate"]["status"] == "passed"
    assert live_version(env) != live  # --force built and swapped in a new version
    lines = r.stdout.splitlines()
    assert any(re.fullmatch(r"  compare     tickets +[\d,]+ → +[\d,]+  0  missing from the new build: 0", x)
               for x in lines), r.stdout
    assert any(x.startswith("  compare     tickets per month unchanged (") for x in lines), r.stdout
    assert "  compare     shrink gate passed: no history table lost its live rows" in lines


def test_an_export_that_grew_shows_the_new_rows_and_their_month(env: dict[str, str], demo_source: Path,
                                                                exports: Path) -> None:
    grown = edit(demo_source, exports / "grown.db")
    insert(grown, "tickets", ticket(NEW_TICKET, **{
        "TKT-Created Time": "2025-06-15 10:00:00", "TKT-Actual Response Date": "2025-06-15 10:30:00",
        "TKT-Actual Resolution Date": "2025-06-15 12:00:00", "TKT-Closed Time": "2025-06-16 10:00:00"}))
    insert(grown, "comments", comment("QOQ-C-0001", NEW_TICKET, **{"CT-CREATED-TIME": "2025-06-15 11:00:00"}))
    insert(grown, "timesheets", timesheet(NEW_TICKET, **{"TS-Date": "2025-06-15"}))
    before = {t: count(env, t) for t in ("tickets", "comments", "timesheets")}
    june = one(env, "select count(*) from servicedesk.tickets where date_trunc('month', created_at) = '2025-06-01'")
    r = deploy(env, grown)
    assert r.returncode == 0, r.stdout + r.stderr
    c = report_of(r)["comparison"]
    for table in ("tickets", "comments", "timesheets"):
        assert c["tables"][table] == {"live": before[table], "new": before[table] + 1, "diff": 1}, table
        assert c["disappeared"][table]["count"] == 0, table
    assert [m for m in c["tickets_per_month"] if m["diff"]] == [
        {"month": "2025-06", "live": june, "new": june + 1, "diff": 1}]
    assert c["gate"]["status"] == "passed"
    assert f"  compare     tickets created 2025-06: {june:,} → {june + 1:,} (+1)" in r.stdout.splitlines()
    assert re.search(rf"  compare     tickets +{before['tickets']:,} → +{before['tickets'] + 1:,}  \+1  ", r.stdout)
    assert count(env, "tickets") == before["tickets"] + 1


def test_an_export_that_lost_rows_halts_and_allow_shrink_deploys_it(env: dict[str, str], exports: Path) -> None:
    grown = exports / "grown.db"
    lost = [r[0] for r in rows(env, "select ticket_id from servicedesk.tickets t where exists (select 1 from "
                                    "servicedesk.comments c where c.ticket_id = t.ticket_id) and exists (select 1 "
                                    "from servicedesk.timesheets s where s.ticket_id = t.ticket_id) "
                                    "order by ticket_id limit 2 offset 5")]
    shrunk = without_tickets(grown, exports / "shrunk.db", lost)
    n = {t: count(env, t) for t in ("tickets", "comments", "timesheets")}
    gone = {t: int(one(env, f"select count(*) from servicedesk.{t} where ticket_id = any(%s)", (lost,)))
            for t in ("comments", "timesheets")}
    live, content, before = live_version(env), live_content(env), schemas(env)

    r = deploy(env, shrunk)
    assert r.returncode == 3, r.stdout + r.stderr
    (error,) = errors(r)
    assert error.startswith("Error: the history would shrink: "), error
    assert f"tickets {n['tickets']:,} → {n['tickets'] - 2:,} rows (-2), 2 live row(s) missing from the new build, " \
           f"e.g. ticket_id {lost[0]!r}" in error
    assert f"comments {n['comments']:,} → {n['comments'] - gone['comments']:,} rows" in error
    assert f"timesheets {n['timesheets']:,} → {n['timesheets'] - gone['timesheets']:,} rows" in error
    assert "--allow-shrink" in error and "SDRUN_MAX_ROWS_DROP_SHARE" in error
    assert "Traceback" not in r.stdout + r.stderr
    # nothing published: the live version, its content and the schemas as they were (the _next set dropped)
    assert (live_version(env), live_content(env), schemas(env)) == (live, content, before)
    report = report_of(r)
    assert report["outcome"] == "halted" and report["exit_code"] == 3
    assert report["steps"]["compare"]["status"] == "failed" and "backup" not in report["steps"]
    c = report["comparison"]
    assert c["gate"]["status"] == "halted" and c["gate"]["tables"] == ["tickets", "comments", "timesheets"]
    assert c["disappeared"]["tickets"]["count"] == 2 and c["disappeared"]["tickets"]["examples"] == lost
    outcome, counts, ledger_error = ledger(env, report["run_id"])
    assert outcome == "halted" and ledger_error == error.removeprefix("Error: ")
    assert counts is not None and counts["comparison"]["gate"] == "halted"
    assert counts["comparison"]["missing"] == {"tickets": 2, **gone}

    r = deploy(env, shrunk, "--allow-shrink")
    assert r.returncode == 0, r.stdout + r.stderr
    report = report_of(r)
    assert report["comparison"]["gate"]["status"] == "overridden"
    assert "  compare     shrink gate OVERRIDDEN by --allow-shrink: tickets, comments, timesheets lost live rows" \
        in r.stdout.splitlines()
    assert live_version(env) not in (None, live)
    assert count(env, "tickets") == n["tickets"] - 2
    assert not rows(env, "select 1 from servicedesk.tickets where ticket_id = any(%s)", (lost,))
    outcome, counts, _ = ledger(env, report["run_id"])
    assert outcome == "ok" and counts is not None and counts["comparison"]["gate"] == "overridden"


def test_a_lost_timesheet_is_found_by_its_content(env: dict[str, str], exports: Path) -> None:
    """Timesheets have no id: a row of the live version is missing when its whole content is."""
    first = one(env, "select min(source_row) from servicedesk.timesheets")  # source_row: the SQLite rowid
    ticket_id, user, title, hours = rows(env, "select ticket_id, user_name, title, hours from servicedesk.timesheets "
                                              "where source_row = %s", (first,))[0]
    shrunk = edit(exports / "shrunk.db", exports / "one-timesheet-less.db",
                  f"delete from timesheets where rowid = {int(first)}")
    live, content = live_version(env), live_content(env)
    n = count(env, "timesheets")
    r = deploy(env, shrunk)
    assert r.returncode == 3, r.stdout + r.stderr
    (error,) = errors(r)
    assert f"timesheets {n:,} → {n - 1:,} rows (-1), 1 live row(s) missing from the new build, e.g. (ticket_id " \
           f"{ticket_id!r}, user_name {user!r}" in error, error
    assert f"title {title!r}, hours {hours}" in error
    assert "tickets " not in error and "comments " not in error
    assert (live_version(env), live_content(env)) == (live, content)
    # a share of lost rows allowed (1 of 7,000 is under 1%): the deploy goes through, the gate says why
    r = deploy({**env, "SDRUN_MAX_ROWS_DROP_SHARE": "0.01"}, shrunk)
    assert r.returncode == 0, r.stdout + r.stderr
    g = report_of(r)["comparison"]["gate"]
    assert g == {"status": "passed", "max_rows_drop_share": 0.01, "allow_shrink": False, "tables": [],
                 "problems": []}
    assert count(env, "timesheets") == n - 1


@pytest.mark.parametrize("value", ["5%", "-0.1", "1.5", "nan", "lots"])
def test_a_bad_share_is_a_usage_error_before_any_work(env: dict[str, str], demo_source: Path, value: str) -> None:
    runs = Path(env["SDRUN_HOME"]) / "runs"
    known = set(runs.iterdir())
    ledger_rows = one(env, "select count(*) from sdrun_meta.runs")
    r = sdrun({**env, "SDRUN_MAX_ROWS_DROP_SHARE": value}, "full", "--source", str(demo_source), "--target", "prod")
    assert r.returncode == 2, r.stdout + r.stderr
    assert errors(r) == [f"Error: SDRUN_MAX_ROWS_DROP_SHARE={value!r}: expected a share from 0 to 1, e.g. 0.01 "
                         "for 1% (default 0: no row of the live version may be lost)"]
    assert set(runs.iterdir()) == known and one(env, "select count(*) from sdrun_meta.runs") == ledger_rows


def test_the_canary_says_the_comparison_is_skipped(env: dict[str, str], demo_source: Path) -> None:
    r = sdrun(env, "full", "--source", str(demo_source), "--target", "canary", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "  compare     skipped: canary builds a 10% sample; prod compares its full build with the live version" \
        in r.stdout.splitlines()
    assert report_of(r)["comparison"] == {
        "skipped": "canary builds a 10% sample; prod compares its full build with the live version"}


@pytest.mark.parametrize("keyed", [True, False], ids=["by key", "by content"])
def test_missing_rows_are_found_by_a_hash_plan_on_tables_without_statistics(env: dict[str, str], keyed: bool) -> None:
    """A just-built version has no planner statistics yet (autovacuum has not looked at it). With the
    examples' LIMIT outside, PostgreSQL costed the anti-join by its first rows and chose a nested loop
    over both tables: the comparison of a scale-1 re-deploy took 486 s instead of under a second."""
    from psycopg2 import sql

    from orchestrator.deploy.compare import HistoryTable, missing_rows_sql

    h = (HistoryTable("comments", ("comment_id",), True) if keyed
         else HistoryTable("comments", ("ticket_id", "body"), False))
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"], user=env["PGUSER"])
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("set statement_timeout = '60s'")
            for schema, upto in (("plan_live", 100_000), ("plan_new", 99_997)):  # the new build lost the last 3
                cur.execute(f"drop schema if exists {schema} cascade; create schema {schema}; "
                            f"create table {schema}.comments with (autovacuum_enabled = false) as "
                            f"select 'C' || lpad(i::text, 6, '0') as comment_id, 'T' || (i % 5000) as ticket_id, "
                            f"repeat('x', 40) || i as body from generate_series(1, {upto}) i")
            cur.execute("analyze plan_live.comments")  # the live version has its statistics, the new one not yet
            statement = missing_rows_sql(h, "plan_live", "plan_new")
            cur.execute(sql.SQL("explain ") + statement)
            plan = "\n".join(r[0] for r in cur.fetchall())
            assert "Nested Loop" not in plan, plan
            cur.execute(statement)
            found = cur.fetchall()
    finally:
        con.close()
    assert [r[0] for r in found] == [3, 3, 3]
    if keyed:
        assert [r[1] for r in found] == ['C099998', 'C099999', 'C100000']
