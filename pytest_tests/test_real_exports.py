"""Real exports land (issue "Real exports land"): `sdrun full --source X.db` with the defaults on
exports as other tools write them, checked value by value against what Python says they mean.

The exports: the BPI Challenge 2014 (Rabobank) and 2013 (Volvo IT) logs in fixtures/realdata/,
converted by exports.py, and generated ones in the habits of other tools (exports.STYLES):
day-first, US 12-hour, ISO with offsets, Jira, Excel serials, and a mix of them. For each: the run
exits 0; every timestamp in the marts is the UTC value the export means; nothing valid is
quarantined; text is the trimmed source and vocabularies follow the seeds; hours are the SQLite
REAL to the last bit; the profile names, for every slash-date column and shape, the order and why.
Then the day/month edge cases (an export with no evidence at all; a shape that contradicts
itself) and one blue-green deploy to PostgreSQL with the same checks there.

Every `sdrun` run of the module is started at once by the `runs` fixture, two at a time (each
under its own SDRUN_HOME), and shared by the tests that read it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from . import exports as ex
from .helpers import SDRUN, sdrun

DEV = ["bpi2014", "bpi2013", "day_first", "us_12h", "iso_offset", "jira", "excel", "mixed"]
PROD_EXPORT = "mixed"
WORKERS = int(os.environ.get("SDRUN_TEST_WORKERS", "2"))


@dataclass(frozen=True)
class Spec:
    export: str
    args: tuple[str, ...] = ()
    day_first: bool = True  # the project's day_first for this run


RUNS: dict[str, Spec] = {name: Spec(name) for name in DEV} | {
    "no_evidence": Spec("no_evidence"),
    "no_evidence_month_first": Spec("no_evidence", ("--var", "day_first=false"), day_first=False),
    "conflict": Spec("conflict"),
}
# the tests that are not parametrized by run name, and the runs they read
NEEDS = {
    "test_no_evidence_reads_month_first_with_day_first_false": ["no_evidence_month_first"],
    "test_no_evidence_default_run_warns_and_reads_day_first": ["no_evidence"],
    "test_a_contradictory_shape_halts_with_order_conflict": ["conflict"],
}
PROD_TEST = "test_prod_deploy_holds_the_same_values_in_postgresql"

TABLE_DATES = {t: list(cols.values()) for t, cols in ex.DATE_COLUMNS.items()}
TEXT = {
    "tickets": [
        "ticket_id",
        "title",
        "status",
        "status_group",
        "is_status_mapped",
        "priority",
        "priority_raw",
        "category",
        "team",
        "assigned_to",
        "is_sla_met",
    ],
    "comments": ["comment_id", "ticket_id", "author", "body", "is_customer_visible"],
    "timesheets": ["timesheet_id", "ticket_id", "title", "user_name", "category"],
}


# --------------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    export: ex.Export
    day_first: bool
    home: Path
    result: subprocess.CompletedProcess[str]

    @property
    def output(self) -> str:
        r = self.result
        return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr (end)\n{r.stderr[-4000:]}"

    @property
    def run_dir(self) -> Path:
        runs = sorted(p for p in (self.home / "runs").iterdir() if p.is_dir() and not p.name.startswith("."))
        return runs[-1]

    def report(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "report.json").read_text())

    def profile(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "profile.json").read_text())

    def rows(self, table: str, columns: list[str]) -> dict[int, dict[str, Any]]:
        """Mart rows of `table` by source_row (DuckDB warehouse of the run)."""
        warehouse = self.home / "warehouse" / "servicedesk.duckdb"
        assert warehouse.exists(), f"no warehouse: {self.output}"
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            cur = con.execute(f"select source_row, {', '.join(columns)} from servicedesk.servicedesk.{table}")
            return {r[0]: dict(zip(columns, r[1:], strict=True)) for r in cur.fetchall()}
        finally:
            con.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.home / "warehouse" / "servicedesk.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


def _build(name: str, folder: Path) -> ex.Export:
    path = folder / f"{name}.db"
    if name == "bpi2014":
        return ex.bpi2014_export(path)
    if name == "bpi2013":
        return ex.bpi2013_export(path)
    return ex.generate(path, name)


def _dev_run(name: str, spec: Spec, export: ex.Export, home: Path) -> Run:
    result = sdrun("full", "--source", str(export.path), *spec.args, home=home)
    return Run(name, export, spec.day_first, home, result)


def _prod_run(export: ex.Export, env: dict[str, str]) -> Run:
    """`sdrun setup-db`, then `sdrun full --target prod` (build, tests, checks, swap; the canary
    stage is test_postgres_deploy.py's business and skipped here to keep the module short),
    against the module's own database (conftest.pg_env)."""
    setup = subprocess.run([SDRUN, "setup-db"], env=env, capture_output=True, text=True, timeout=300)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    result = subprocess.run(
        [SDRUN, "full", "--source", str(export.path), "--target", "prod", "--skip-canary"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return Run("prod", export, True, Path(env["SDRUN_HOME"]), result)


def _selected(request: pytest.FixtureRequest) -> tuple[list[str], bool]:
    """The runs the selected tests of this module read (so that `-k` starts only those)."""
    names: list[str] = []
    prod = False
    for item in request.session.items:
        if getattr(item, "module", None) is not request.module:
            continue
        original = getattr(item, "originalname", item.name)
        if original == PROD_TEST:
            prod = True
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "name" in callspec.params:
            names.append(callspec.params["name"])
        names += NEEDS.get(original, [])
    return list(dict.fromkeys(names)), prod


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ex.Export]:
    folder = tmp_path_factory.mktemp("exports")
    return {name: _build(name, folder) for name in dict.fromkeys(s.export for s in RUNS.values())}


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, exports: dict[str, ex.Export], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Every run the selected tests need, started at once (WORKERS at a time); name -> Future[Run]."""
    names, prod = _selected(request)
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures: dict[str, Future[Run]] = {}
    try:
        if prod:  # the longest run first; without PostgreSQL only the prod test fails
            try:
                env = dict(request.getfixturevalue("pg_env"))
            except Exception as exc:  # handed to the one test that needs it
                futures["prod"] = Future()
                futures["prod"].set_exception(exc)
            else:
                env["GRAFANA_RO_PASSWORD"] = "any"  # lets the read-only role log in (setup-db)
                futures["prod"] = pool.submit(_prod_run, exports[PROD_EXPORT], env)
        for name in names:
            spec = RUNS[name]
            home = tmp_path_factory.mktemp(f"home-{name}")
            futures[name] = pool.submit(_dev_run, name, spec, exports[spec.export], home)
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run(runs: dict[str, Future[Run]], name: str) -> Run:
    return runs[name].result(timeout=1800)


# --------------------------------------------------------------------------------------------------
# Comparisons (shared by DuckDB and PostgreSQL)
# --------------------------------------------------------------------------------------------------

Rows = Callable[[str, list[str]], dict[int, dict[str, Any]]]


def _fmt(problems: list[str], limit: int = 25) -> str:
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} value(s) wrong:\n" + "\n".join(problems[:limit]) + more


def timestamp_problems(export: ex.Export, rows: Rows, day_first: bool) -> list[str]:
    expected = export.timestamps(day_first)
    raw = {(c.table, c.source_row, ex.DATE_COLUMNS[c.table][c.column]): c.raw for c in export.cells}
    problems = []
    for table, columns in TABLE_DATES.items():
        got = rows(table, columns)
        for source_row in export.expected[table]:
            if source_row not in got:
                problems.append(f"{table} source row {source_row}: not in the mart")
                continue
            for col in columns:
                want = expected.get((table, source_row, col))
                have = got[source_row][col]
                if have != want:
                    problems.append(
                        f"{table}.{col} row {source_row}: {raw.get((table, source_row, col))!r} -> got {have}, "
                        f"expected {want}"
                    )
    return problems


def text_problems(export: ex.Export, rows: Rows) -> list[str]:
    problems = []
    for table, columns in TEXT.items():
        got = rows(table, columns)
        for source_row, want in export.expected[table].items():
            if source_row not in got:
                problems.append(f"{table} source row {source_row}: not in the mart")
                continue
            for col in columns:
                if got[source_row][col] != want[col]:
                    src = export.rows[table][source_row - 1]
                    problems.append(
                        f"{table}.{col} row {source_row}: got {got[source_row][col]!r}, expected {want[col]!r} "
                        f"(source row {src})"
                    )
    return problems


def hours_problems(export: ex.Export, rows: Rows) -> list[str]:
    got = rows("timesheets", ["hours"])
    problems = []
    for source_row, want in export.expected["timesheets"].items():
        have = got.get(source_row, {}).get("hours")
        raw = export.rows["timesheets"][source_row - 1]["TS-Hours"]
        if not (isinstance(have, float) and have == want["hours"]):
            problems.append(
                f"timesheets.hours row {source_row}: SQLite holds {raw!r} -> got {have!r}, expected {want['hours']!r}"
            )
        elif math.copysign(1, have) != math.copysign(1, want["hours"]):
            problems.append(f"timesheets.hours row {source_row}: sign of {raw!r} lost")
    return problems


# --------------------------------------------------------------------------------------------------
# Every export: the run, the marts, the profile
# --------------------------------------------------------------------------------------------------


def _name_param(func):  # type: ignore[no-untyped-def]
    """One test per export of DEV; the `runs` scheduler reads the `name` parameter."""
    return pytest.mark.parametrize("name", DEV, ids=DEV)(func)


@pytest.fixture
def dev(name: str, runs: dict[str, Future[Run]]) -> Run:
    return _run(runs, name)


@_name_param
def test_the_run_exits_0_with_the_defaults(dev: Run, name: str) -> None:
    assert dev.result.returncode == 0, dev.output
    report = dev.report()
    assert report["outcome"] == "ok" and report["tests"]["failed"] == 0, dev.output
    assert report["source"]["unchanged"] is True
    counts = {t: (v["rows_in"], v["rows_out"]) for t, v in report["warehouse"]["tables"].items()}
    assert counts == {t: (len(r), len(r)) for t, r in dev.export.rows.items()}, counts


@_name_param
def test_every_timestamp_is_the_utc_value_the_export_means(dev: Run, name: str) -> None:
    problems = timestamp_problems(dev.export, dev.rows, dev.day_first)
    assert not problems, _fmt(problems)


@_name_param
def test_no_valid_value_is_quarantined(dev: Run, name: str) -> None:
    rows = dev.query(
        "select table_name, source_row, column_name, raw_value, reason from servicedesk.servicedesk.quarantine "
        "order by 1, 2, 3"
    )
    # every value of these exports is valid and every reference resolves: nothing to quarantine
    bad = [
        r for r in rows if r[4].startswith("unparseable_") or r[4] in ("invalid_timestamp", "timestamp_out_of_range")
    ]
    assert not bad, _fmt([f"{t}.{c} row {s}: {v!r} quarantined as {why}" for t, s, c, v, why in bad])
    assert not rows, _fmt([f"{t}.{c} row {s}: {v!r} quarantined as {why}" for t, s, c, v, why in rows])


@_name_param
def test_text_is_the_trimmed_source_and_vocabularies_follow_the_seeds(dev: Run, name: str) -> None:
    problems = text_problems(dev.export, dev.rows)
    assert not problems, _fmt(problems)


@_name_param
def test_hours_are_exactly_what_sqlite_holds(dev: Run, name: str) -> None:
    if not dev.export.expected["timesheets"]:
        pytest.skip("this export has no timesheets")
    problems = hours_problems(dev.export, dev.rows)
    assert not problems, _fmt(problems)


SUMMARY_COUNTS = {
    ("tickets", "created_at"): "tickets_created",
    ("tickets", "resolved_at"): "tickets_resolved",
    ("tickets", "closed_at"): "tickets_closed",
    ("comments", "created_at"): "comments",
}


@_name_param
def test_daily_summary_counts_the_days_of_the_expected_timestamps(dev: Run, name: str) -> None:
    want: dict[Any, Counter[str]] = {}
    for (table, source_row, col), value in dev.export.timestamps(dev.day_first).items():
        if (table, col) not in SUMMARY_COUNTS or value is None:
            continue
        if col == "resolved_at" and dev.export.expected[table][source_row]["status_group"] == "cancelled":
            continue  # a cancelled ticket is not resolved (models/marts/daily_summary.sql)
        want.setdefault(value.date(), Counter())[SUMMARY_COUNTS[(table, col)]] += 1
    names = list(SUMMARY_COUNTS.values())
    got: dict[Any, Counter[str]] = {}
    for day, *counts in dev.query(f"select day, {', '.join(names)} from servicedesk.servicedesk.daily_summary"):
        c = Counter({k: v for k, v in zip(names, counts, strict=True) if v})
        if c:
            got[day] = c
    wrong = [
        f"{d}: got {dict(got.get(d, {}))}, expected {dict(want.get(d, {}))}"
        for d in sorted(set(want) | set(got))
        if got.get(d, Counter()) != want.get(d, Counter())
    ]
    assert not wrong, _fmt(wrong)


def order_problems(profile: dict[str, Any], expected: dict[tuple[str, str, str], ex.Order]) -> list[str]:
    """Every slash-date column and shape in the profile's orders, with the order and why."""
    got = {
        (t["name"], c["name"], o["shape"]): o
        for t in profile["tables"]
        for c in t["columns"]
        if c.get("dates")
        for o in c["dates"]["orders"]
    }
    problems = [f"{k}: not in the profile (expected {v})" for k, v in expected.items() if k not in got]
    problems += [f"{k}: in the profile, but the export has no such values: {got[k]}" for k in got if k not in expected]
    for key, want in expected.items():
        o = got.get(key)
        if o is None:
            continue
        order = "day-first" if o["day_first"] else "month-first"
        if want.decided_by != "conflict" and o["day_first"] != want.day_first:
            problems.append(f"{key}: read {order}, expected {'day-first' if want.day_first else 'month-first'}")
        if o["decided_by"] != want.decided_by:
            problems.append(f"{key}: decided by {o['decided_by']!r}, expected {want.decided_by!r} ({o['reason']})")
        ev = o["evidence"]
        if (ev["first_over_12"], ev["second_over_12"]) != (want.first_over_12, want.second_over_12):
            problems.append(
                f"{key}: evidence {ev}, expected first/second over 12 = {want.first_over_12}/{want.second_over_12}"
            )
        if not o["reason"] or (want.decided_by != "conflict" and not o["reason"].startswith(order)):
            problems.append(f"{key}: reason {o['reason']!r} does not say the order")
        if bool(o["warn"]) != want.warns:
            problems.append(f"{key}: warn={o['warn']}, expected {want.warns}")
    return problems


@_name_param
def test_the_profile_names_each_slash_shape_its_order_and_why(dev: Run, name: str) -> None:
    profile = dev.profile()
    problems = order_problems(profile, dev.export.orders(dev.day_first))
    assert not problems, _fmt(problems)
    assert profile["warnings"] == [], profile["warnings"]  # every order here has evidence somewhere


# --------------------------------------------------------------------------------------------------
# Day/month edge cases
# --------------------------------------------------------------------------------------------------


def test_no_evidence_reads_month_first_with_day_first_false(runs: dict[str, Future[Run]]) -> None:
    r = _run(runs, "no_evidence_month_first")
    assert r.result.returncode == 0, r.output
    expected = r.export.orders(day_first=False)
    assert expected and all(o.decided_by == "default" and o.day_first is False for o in expected.values())
    problems = order_problems(r.profile(), expected)
    problems += timestamp_problems(r.export, r.rows, day_first=False)
    assert not problems, _fmt(problems)
    # month-first is how the export was written: the values are the ones it means
    assert r.export.timestamps(False) == {
        (c.table, c.source_row, ex.DATE_COLUMNS[c.table][c.column]): c.value for c in r.export.cells
    }


def test_no_evidence_default_run_warns_and_reads_day_first(runs: dict[str, Future[Run]]) -> None:
    r = _run(runs, "no_evidence")
    assert r.result.returncode == 0, r.output
    profile = r.profile()
    expected = r.export.orders(day_first=True)
    problems = order_problems(profile, expected)
    problems += timestamp_problems(r.export, r.rows, day_first=True)
    assert not problems, _fmt(problems)
    warned = "\n".join(profile["warnings"])
    for table, column, _shape in expected:
        assert f"{table}.{column}" in warned and "day_first=false" in warned, profile["warnings"]
    assert len(profile["warnings"]) == len(expected), profile["warnings"]
    assert r.report()["profile"]["warnings"] == profile["warnings"]


def test_a_contradictory_shape_halts_with_order_conflict(runs: dict[str, Future[Run]]) -> None:
    r = _run(runs, "conflict")
    assert r.result.returncode == 3, r.output
    errors = [line for line in r.result.stderr.splitlines() if line.startswith("Error:")]
    conflict = [e for e in errors if "tickets.TKT-Created Time" in e and "day-first" in e and "month-first" in e]
    assert len(conflict) == 1, errors
    profile = r.profile()
    trips = profile["breaker"]["trips"]
    assert [t["rule"] for t in trips] == ["order_conflict"], trips
    assert (trips[0]["table"], trips[0]["column"]) == ("tickets", "TKT-Created Time"), trips
    problems = order_problems(profile, r.export.orders())
    assert not problems, _fmt(problems)
    report = r.report()
    assert report["outcome"] == "halted" and "load" not in report["steps"], report["steps"]


# --------------------------------------------------------------------------------------------------
# PostgreSQL: one blue-green deploy of a generated export
# --------------------------------------------------------------------------------------------------


def test_prod_deploy_holds_the_same_values_in_postgresql(runs: dict[str, Future[Run]], pg_env: dict[str, str]) -> None:
    import psycopg2

    r = _run(runs, "prod")
    assert r.result.returncode == 0, r.output

    def rows(table: str, columns: list[str]) -> dict[int, dict[str, Any]]:
        con = psycopg2.connect(
            host=pg_env["PGHOST"], port=pg_env["PGPORT"], dbname=pg_env["PGDATABASE"], user=pg_env["PGUSER"]
        )
        try:
            with con.cursor() as cur:
                cur.execute(f"select source_row, {', '.join(columns)} from servicedesk.{table}")
                return {int(x[0]): dict(zip(columns, x[1:], strict=True)) for x in cur.fetchall()}
        finally:
            con.close()

    problems = timestamp_problems(r.export, rows, day_first=True)
    problems += text_problems(r.export, rows)
    problems += hours_problems(r.export, rows)
    assert not problems, _fmt(problems)
    quarantined = rows("quarantine", ["table_name", "column_name", "raw_value", "reason"])
    assert not quarantined, quarantined
