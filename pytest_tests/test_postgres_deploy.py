"""Canary and blue-green deploys on a real PostgreSQL server (the session's private cluster).

The tests of this module share one database and run in order, like the quarters of a year:
canary; first prod deploy (canary stage first); the same source again (nothing changes); a forced
deploy while a dashboard reader queries in a loop; a failing dbt test (exit 3, live untouched);
a source PostgreSQL cannot store (NUL bytes: exit 1, live untouched);
rollback; a run killed with SIGKILL during the build; restore of a backup.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.sql
import pytest
from dbt.contracts.graph.nodes import InjectedCTE

from orchestrator.build.dbt_worker import inject_after_leading_with
from pytest_tests.helpers import (
    SDRUN,
    UNCLEANED_CANDIDATES,
    comment,
    no_empty_strings_finds,
    ticket,
    timesheet,
    uncleaned,
    write_source,
)


def sdrun(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SDRUN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def pg(env: dict[str, str], user: str | None = None) -> Any:
    return psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"],
                            user=user or env["PGUSER"])


def one(env: dict[str, str], query: str, params: tuple[Any, ...] = ()) -> Any:
    con = pg(env)
    try:
        with con.cursor() as cur:
            cur.execute(query, params)
            row = cur.fetchone()
            return None if row is None else row[0]
    finally:
        con.close()


def schemas(env: dict[str, str]) -> set[str]:
    con = pg(env)
    try:
        with con.cursor() as cur:
            cur.execute("select nspname from pg_namespace where nspname not like 'pg_%' "
                        "and nspname not in ('information_schema', 'public')")
            return {r[0] for r in cur.fetchall()}
    finally:
        con.close()


def live_version(env: dict[str, str]) -> str | None:
    return one(env, "select version from sdrun_meta.versions where state = 'live'")


def fingerprint_of_live(env: dict[str, str]) -> str:
    """The live marts' content, for comparing before and after."""
    return one(env, "select md5(string_agg(t::text, '|' order by ticket_id)) from servicedesk.tickets t")


CONTRACT_TYPES = {
    ("tickets", "created_at"): "timestamp without time zone",
    ("tickets", "first_response_at"): "timestamp without time zone",
    ("tickets", "resolved_at"): "timestamp without time zone",
    ("tickets", "closed_at"): "timestamp without time zone",
    ("tickets", "response_minutes"): "numeric",
    ("tickets", "resolution_hours"): "numeric",
    ("tickets", "response_minutes_float"): "double precision",
    ("tickets", "resolution_hours_float"): "double precision",
    ("tickets", "is_sla_met"): "boolean",
    ("comments", "created_at"): "timestamp without time zone",
    ("timesheets", "work_date"): "timestamp without time zone",
    ("timesheets", "hours"): "double precision",
}


def sampled_from_the_source(source: Path) -> dict[str, int]:
    """The canary's rows per table as DuckDB picks them from the source file."""
    import duckdb

    from orchestrator.source.contract import expected_tables
    from orchestrator.source.read import attach_source, source_select
    from orchestrator.targets.postgres import sample_key, sample_predicate

    con = duckdb.connect()
    try:
        attach_source(con, source)
        return {spec.name: con.execute(f"select count(*) from ({source_select(con, spec.name)}) "
                                       f"where {sample_predicate(sample_key(spec))}").fetchone()[0]
                for spec in expected_tables()}
    finally:
        con.close()


def report_of(out: str) -> dict[str, Any]:
    path = next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("report "))
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def env(pg_env: dict[str, str]) -> dict[str, str]:
    pg_env["GRAFANA_RO_PASSWORD"] = "any"  # lets the role log in (the private cluster trusts 127.0.0.1)
    r = sdrun(pg_env, "setup-db")
    assert r.returncode == 0, r.stderr
    assert "grafana_ro" in r.stdout
    assert sdrun(pg_env, "setup-db").returncode == 0  # idempotent
    return pg_env


def test_canary_builds_tests_reports_and_drops_its_schema(env: dict[str, str], demo_source: Path) -> None:
    r = sdrun(env, "full", "--source", str(demo_source), "--target", "canary", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "canary " in r.stdout and "schema dropped" in r.stdout
    assert "0 failed" in r.stdout
    report = report_of(r.stdout)
    assert report["outcome"] == "ok"
    assert report["tests"]["total"] > 50 and not report["tests"]["failing"]
    # ~10% of the tickets, every comment and timesheet of theirs (relationships tests passed)
    sampled = report["canary"]["rows"]["tickets"]
    total = report["steps"]["check"]["tables"]["tickets"]
    assert 0.04 * total < sampled < 0.2 * total
    assert all(r["ok"] for r in report["verify"]["reconcile"].values())
    assert not {s for s in schemas(env) if "canary" in s}
    assert "servicedesk" not in schemas(env)  # the canary never touches the live schema


def test_first_prod_deploy_runs_the_canary_then_swaps_in(env: dict[str, str], demo_source: Path) -> None:
    r = sdrun(env, "full", "--source", str(demo_source), "--target", "prod", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    report = report_of(r.stdout)
    steps = list(report["steps"])
    assert steps.index("canary_build") < steps.index("build") < steps.index("swap")
    # issue 17: one dbt process serves the canary and the full build, and both run on a parse made
    # beside the source's steps (the canary's schemas need a manifest of their own): no parse of their own
    run_dir = Path(report["report_path"]).parent
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    pids = {(e["step"], e["dbt_pid"]) for e in events if e.get("source") == "dbt"}
    assert {step for step, _ in pids} == {"canary_build", "build"} and len({pid for _, pid in pids}) == 1, pids
    parsed = re.compile(r"partial parsing|full parse", re.IGNORECASE)
    assert not parsed.search((run_dir / "dbt" / "logs" / "dbt.log").read_text())
    assert not parsed.search((run_dir / "dbt-canary" / "logs" / "dbt.log").read_text())
    assert report["steps"]["parse"]["status"] == "ok"
    # each dbt thread keeps its PostgreSQL connection from node to node (build/dbt_worker.py
    # `_reuse_connections`): a build opens a few, not one per node
    for build in ("dbt", "dbt-canary"):
        log = (run_dir / build / "logs" / "dbt.log").read_text()
        opened, nodes = log.count("Opening a new connection"), log.count("Began running node")
        assert 0 < opened <= 6 < nodes, (build, opened, nodes)
    assert {"servicedesk", "servicedesk_staging", "raw"} <= schemas(env)
    assert live_version(env) == report["run_id"].lower()
    # the staging and intermediate tables skip the write-ahead log (dbt_project.yml `unlogged`); the
    # marts, the seeds and the raw copy do not
    persistence = one(env, "select json_object_agg(n.nspname || '.' || c.relname, c.relpersistence) from pg_class c "
                           "join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and "
                           "n.nspname in ('servicedesk', 'servicedesk_staging', 'raw')")
    unlogged = {f"servicedesk_staging.{name}" for name in (
        "stg_servicedesk__tickets", "stg_servicedesk__comments", "stg_servicedesk__timesheets",
        "int_servicedesk__tickets_checked", "int_servicedesk__value_changes")}
    assert {t for t, p in persistence.items() if p == "u"} == unlogged, persistence
    assert {"servicedesk.tickets", "servicedesk.comments", "servicedesk_staging.status_map", "raw.comments"} <= {
        t for t, p in persistence.items() if p == "p"}
    # the source is read once: the canary copies its sample from the full load, on the server, and
    # PostgreSQL's predicate picks the rows DuckDB's picks from the source (what `--target canary` loads)
    assert steps.index("load") < steps.index("canary_load")
    assert report["steps"]["canary_load"]["copied_from"] == "raw_next"
    assert report["canary"]["rows"] == sampled_from_the_source(demo_source)
    # the unit tests run once, in the canary stage (they read their own fixtures, not the data): the
    # full build runs none, and its figures count the canary's results, so no test goes missing
    def unit_tests(name: str) -> list[str]:
        results = json.loads((run_dir / name).read_text())["results"]
        return sorted(r["unique_id"] for r in results if r["unique_id"].startswith("unit_test."))
    assert len(unit_tests("run_results.canary.json")) >= 8 and unit_tests("run_results.json") == []
    # the canary builds in its own schemas (its manifest is prod's parse, moved: build/dbt_worker.py)
    for name, schema in (("run_results.canary.json", "servicedesk_canary"), ("run_results.json", "servicedesk_next")):
        relations = [r["relation_name"] for r in json.loads((run_dir / name).read_text())["results"]
                     if r["unique_id"].startswith("model.")]
        assert relations and all(f'"{schema}' in rel for rel in relations), (name, relations)
    assert report["steps"]["build"]["unit_tests_from"] == "run_results.canary.json"
    assert report["tests"]["total"] == report["canary"]["tests"]["total"]
    assert report["tests"]["passed"] + report["tests"]["warned"] == report["tests"]["total"]
    # the unit tests' fixtures go in front of their models' compiled SQL without sqlparse
    # (build/dbt_worker.py): each staging model compiles to one statement that opens with WITH
    compiled = sorted((run_dir / "dbt-canary" / "target" / "compiled").rglob("stg_servicedesk__*.sql"))
    assert len(compiled) == 3
    for path in compiled:
        assert inject_after_leading_with(path.read_text(), [InjectedCTE(id="x", sql=" x as (select 1)")]), path
    # reconciliation counts once: verify takes the rows PostgreSQL reported writing into each table
    # (the load's counts, the build's CREATE TABLE AS / INSERT) and they are the tables' rows
    written = report["steps"]["build"]["rows_written"]
    for table in ("tickets", "comments", "timesheets"):
        staged = f"stg_servicedesk__{table}"
        assert written[table] == one(env, f"select count(*) from servicedesk.{table}") > 0
        assert written[staged] == one(env, f"select count(*) from servicedesk_staging.{staged}")
        assert report["verify"]["reconcile"][table]["marts"] == written[table]
        raw_rows = one(env, f"select count(*) from raw.{table}")
        assert report["verify"]["reconcile"][table]["raw"] == raw_rows
        # and the report's figures take the same counts (build/report.py warehouse_figures)
        figures = report["warehouse"]["tables"][table]
        assert (figures["rows_in"], figures["rows_out"]) == (raw_rows, written[table])
    # dates are timestamps, durations numeric: dashboard SQL works without casts, as the read-only role
    con = pg(env, user="grafana_ro")
    try:
        with con.cursor() as cur:
            cur.execute("select priority, round(avg(resolution_hours), 2) from servicedesk.tickets group by 1")
            assert cur.fetchall()
            # the marts' dbt model contracts (models/marts/_marts__models.yml) hold on PostgreSQL
            cur.execute("select table_name, column_name, data_type from information_schema.columns "
                        "where table_schema = 'servicedesk'")
            types = {(t, c): d for t, c, d in cur.fetchall()}
            assert {k: types.get(k) for k in CONTRACT_TYPES} == CONTRACT_TYPES
            # the percentiles' float8 twins hold the same values as the numeric columns
            cur.execute("select count(*) filter (where resolution_hours is not null), count(*) filter (where "
                        "resolution_hours_float is distinct from resolution_hours::float8 or response_minutes_float "
                        "is distinct from response_minutes::float8) from servicedesk.tickets")
            resolved, differing = cur.fetchone()
            assert resolved > 0 and differing == 0
            with pytest.raises(psycopg2.Error):
                cur.execute("delete from servicedesk.tickets")
    finally:
        con.close()
    assert "reconcile   tickets" in r.stdout and "MISMATCH" not in r.stdout
    h = sdrun(env, "history")
    assert h.returncode == 0 and report["run_id"] in h.stdout


def test_each_cleaning_step_runs_once_per_value_and_keeps_no_copy(env: dict[str, str]) -> None:
    """The staging models clean in steps, one CTE each, each reading the last one's columns many
    times (macros/engine.sql, computed_once). PostgreSQL must neither inline a step into the next
    (each value parsed dozens of times: a canonical form's regex copied into every reference) nor
    write every step's rows to a tuplestore (a CTE Scan per step: 13.9 s instead of 9.4 s for the
    timesheets at scale 10)."""
    compiled = max(Path(env["SDRUN_HOME"]).glob(
        "runs/*/dbt/target/compiled/servicedesk/models/staging/servicedesk/stg_servicedesk__timesheets.sql"),
        key=lambda p: p.stat().st_mtime)
    model = compiled.read_text().replace('"raw_next"', '"raw"')  # the build's raw schema, live after the swap
    con = pg(env)
    try:
        with con.cursor() as cur:
            cur.execute("explain (verbose) " + model)
            plan = "\n".join(r[0] for r in cur.fetchall())
    finally:
        con.close()
    assert "CTE Scan" not in plan, plan
    assert plan.count("[AaPp][Mm]") == 4, plan  # in the patterns of four forms (timestamps.sql), once each


def test_the_no_empty_strings_test_on_postgres_fails_on_exactly_the_uncleaned_values(env: dict[str, str]) -> None:
    """tests/generic/no_empty_strings.sql as the build compiled it, on values around its shortcuts:
    padding of each kind at either end, sentinels in any case, near-sentinels, long values."""
    compiled = max(Path(env["SDRUN_HOME"]).glob("runs/*/dbt/target/compiled/servicedesk/models/marts/"
                                                "_marts__models.yml/no_empty_strings_timesheets_user_name.sql"),
                   key=lambda p: p.stat().st_mtime)
    con = pg(env)
    try:
        with con.cursor() as cur:
            cur.execute("create temp table candidates (value text)")
            cur.executemany("insert into candidates values (%s)", [(v,) for v in UNCLEANED_CANDIDATES])

            def run(sql: str) -> list[tuple[Any, ...]]:
                cur.execute(sql)
                return cur.fetchall()

            found = no_empty_strings_finds(run, compiled, "candidates")
    finally:
        con.close()
    assert found == sorted(v for v in UNCLEANED_CANDIDATES if uncleaned(v))


@pytest.mark.parametrize(("column_type", "values", "expected"), [
    # duplicates, a triple, NULLs (never duplicates)
    ("bigint", "(1), (1), (1), (2), (3), (3), (null), (null)", [(1, 3), (3, 2)]),
    ("bigint", "(5), (4), (3), (null)", []),
    ("text", "('TS-1'), ('ts-1'), ('TS-1 '), ('TS-1'), (''), (''), (null)", [("", 2), ("TS-1", 2)]),
    ("varchar(8)", "('TS-1'), ('TS-2'), ('TS-2'), (null)", [("TS-2", 2)]),
    ("text", "(null), (null)", []),
    ("text", "('only')", []),
], ids=["duplicates", "none", "text", "varchar", "all-null", "one-row"])
def test_the_unique_test_on_postgres_finds_what_dbts_own_finds(
    env: dict[str, str], column_type: str, values: str, expected: list[tuple[Any, int]]
) -> None:
    """macros/unique_test.sql replaces dbt's `unique` on PostgreSQL: it must fail on the same values,
    with the same row counts, as dbt's default__test_unique (rendered from dbt's own macro file); a
    text or varchar column's first question counts hashes, a bigint's its values."""
    import dbt.include.global_project as dbt_global
    import jinja2

    ours = (Path(__file__).parents[1] / "macros" / "unique_test.sql").read_text()
    dbts = (Path(dbt_global.PACKAGE_PATH) / "macros" / "generic_test_sql" / "unique.sql").read_text()
    render = jinja2.Environment().from_string
    con = pg(env)
    try:
        with con.cursor() as cur:
            cur.execute(f"create temp table t (x {column_type}); insert into t values {values}")
            found = []
            for source, name in ((ours, "postgres__test_unique"), (dbts, "default__test_unique")):
                cur.execute(render(source + "{{ " + name + "('t', 'x') }}").render() + " order by 1")
                found.append(cur.fetchall())
    finally:
        con.close()
    assert found[0] == found[1]
    assert found[0] == expected


@pytest.mark.parametrize("buckets", [None, 11])
def test_the_canarys_sample_on_postgres_keeps_the_rows_the_per_row_predicate_keeps(
    env: dict[str, str], buckets: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copy_raw_postgres samples by key, the predicate computed once per distinct key: it must keep
    exactly the rows sample_predicate keeps row by row (the DuckDB load's pick), keys padded, blank,
    NULL and repeated included. With 11 buckets the blank keys' bucket (md5('') starts d41d8cd9, a
    multiple of 11) is the sampled one, so NULL and '' keys are in the sample and must stay in."""
    from psycopg2 import sql

    from orchestrator.targets import postgres
    from orchestrator.targets.postgres import sample_filter_postgres, sample_predicate

    if buckets is not None:
        monkeypatch.setattr(postgres, "SAMPLE_BUCKETS", buckets)
    keys = [None, "", " ", "\u00a0", "\t7\n"] + [f"{pad}{i}{pad}" for i in range(400) for pad in ("", " ", "\u00a0")]
    con = pg(env)
    try:
        with con.cursor() as cur:
            cur.execute('create temp table t (n serial, "Ticket" text)')
            cur.executemany('insert into t ("Ticket") values (%s), (%s)', [(k, k) for k in keys])
            cur.execute(f'select n from t where {sample_predicate("Ticket", "postgres")} order by n')
            per_row = [r[0] for r in cur.fetchall()]
            cur.execute(sql.SQL("select n from t where ") + sample_filter_postgres(sql.SQL("t"), "Ticket")
                        + sql.SQL(" order by n"))
            per_key = [r[0] for r in cur.fetchall()]
    finally:
        con.close()
    assert per_key == per_row
    share = 1 / (buckets or postgres.SAMPLE_BUCKETS)
    assert 0.5 * share * len(keys) * 2 < len(per_row) < 2 * share * len(keys) * 2
    # the NULL key's rows (1 and 2) go where '' goes: out with 10 buckets, in with 11
    assert ({1, 2} <= set(per_row)) == (buckets == 11) and ({1, 2} & set(per_row) == set()) == (buckets is None)


NO_PARALLEL = " -c max_parallel_workers_per_gather=0"  # the full build's dbt sessions (build_options)


def test_sdruns_own_sessions_run_without_jit(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """sdrun's connections (the canary's sample copy, verify, the dashboards' checks) and dbt's turn
    PostgreSQL's JIT off, and keep what the user put in PGOPTIONS."""
    from orchestrator.targets.postgres import PostgresTarget, connection

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=7MB")
    with connection() as con, con.cursor() as cur:
        cur.execute("select current_setting('jit'), current_setting('work_mem')")
        assert cur.fetchone() == ("off", "7MB")
    assert PostgresTarget("prod").dbt_env()["PGOPTIONS"] == "-c work_mem=7MB -c jit=off" + NO_PARALLEL


def test_the_full_builds_dbt_sessions_plan_no_parallel_workers(env: dict[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The full build's parallelism is dbt's threads: its dbt sessions plan no parallel workers
    (build_options). The canary's dbt sessions and sdrun's own keep the server's setting, and a
    setting in PGOPTIONS is the user's."""
    from orchestrator.targets import postgres
    from orchestrator.targets.postgres import PostgresTarget, connection
    from orchestrator.targets.schemas import SchemaSet

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PGOPTIONS", raising=False)
    postgres._session_work_mem_below.cache_clear()
    query = "select current_setting('max_parallel_workers_per_gather')"
    with connection() as con, con.cursor() as cur:
        cur.execute(query)
        (server,) = cur.fetchone()
    assert server != "0"  # the private cluster keeps PostgreSQL's default, 2
    canary = PostgresTarget("canary", SchemaSet.canary(), sample=True)
    for target, expected in ((PostgresTarget("prod"), "0"), (canary, server)):
        con = psycopg2.connect("", options=target.dbt_env()["PGOPTIONS"])
        try:
            with con.cursor() as cur:
                cur.execute(query)
                assert cur.fetchone() == (expected,), target.name
        finally:
            con.close()
    theirs = "-c max_parallel_workers_per_gather=1"
    monkeypatch.setenv("PGOPTIONS", theirs)
    assert PostgresTarget("prod").dbt_env()["PGOPTIONS"] == f"{theirs} -c jit=off -c work_mem=64MB"


def test_sdruns_sessions_get_work_mem_of_at_least_64mb(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """sdrun's sessions and dbt's get work_mem raised to 64MB from the server's 4MB (the build's
    sorts and hash aggregates spilled to disk), never lowered: a database that gives more keeps it."""
    from orchestrator.targets import postgres
    from orchestrator.targets.postgres import PostgresTarget, connection

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PGOPTIONS", raising=False)
    postgres._session_work_mem_below.cache_clear()
    with connection() as con, con.cursor() as cur:
        cur.execute("select current_setting('jit'), current_setting('work_mem')")
        assert cur.fetchone() == ("off", "64MB")
    assert PostgresTarget("prod").dbt_env()["PGOPTIONS"] == "-c jit=off -c work_mem=64MB" + NO_PARALLEL
    monkeypatch.setenv("PGOPTIONS", "-c maintenance_work_mem=128MB")  # not the user's work_mem
    expected = "-c maintenance_work_mem=128MB -c jit=off -c work_mem=64MB" + NO_PARALLEL
    assert PostgresTarget("prod").dbt_env()["PGOPTIONS"] == expected
    for theirs in ("-c work_mem=8MB", "-cwork_mem=8MB", "--work_mem=8MB"):
        monkeypatch.setenv("PGOPTIONS", theirs)
        assert PostgresTarget("prod").dbt_env()["PGOPTIONS"] == f"{theirs} -c jit=off{NO_PARALLEL}"
    monkeypatch.delenv("PGOPTIONS")

    database = psycopg2.sql.Identifier(env["PGDATABASE"])
    admin = pg(env)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(psycopg2.sql.SQL("alter database {} set work_mem = '200MB'").format(database))
        postgres._session_work_mem_below.cache_clear()
        with connection() as con, con.cursor() as cur:
            cur.execute("select current_setting('work_mem')")
            assert cur.fetchone() == ("200MB",)
        assert PostgresTarget("prod").dbt_env()["PGOPTIONS"] == "-c jit=off" + NO_PARALLEL
    finally:
        with admin.cursor() as cur:
            cur.execute(psycopg2.sql.SQL("alter database {} reset work_mem").format(database))
        admin.close()
        postgres._session_work_mem_below.cache_clear()


def test_the_same_source_again_changes_nothing(env: dict[str, str], demo_source: Path) -> None:
    before = (schemas(env), live_version(env), fingerprint_of_live(env))
    r = sdrun(env, "full", "--source", str(demo_source), "--target", "prod", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unchanged" in r.stdout and "nothing deployed" in r.stdout
    assert (schemas(env), live_version(env), fingerprint_of_live(env)) == before
    assert one(env, "select outcome from sdrun_meta.runs order by started_at desc limit 1") == "unchanged"


def test_forced_deploy_swaps_while_a_reader_never_fails(env: dict[str, str], demo_source: Path) -> None:
    old = live_version(env)
    expected = one(env, "select count(*) from servicedesk.tickets")
    stop = threading.Event()
    seen: dict[str, Any] = {"queries": 0, "errors": [], "bad_counts": []}

    def reader() -> None:
        con = pg(env, user="grafana_ro")  # the dashboards' role: grants must survive the swap
        con.autocommit = True
        deadline = time.monotonic() + 200
        try:
            with con.cursor() as cur:
                while not stop.is_set() and time.monotonic() < deadline:
                    try:
                        cur.execute("select count(*) from servicedesk.tickets")
                        n = cur.fetchone()[0]
                        if n != expected:
                            seen["bad_counts"].append(n)
                    except psycopg2.Error as exc:
                        seen["errors"].append(str(exc))
                    seen["queries"] += 1
        finally:
            con.close()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        r = sdrun(env, "full", "--source", str(demo_source), "--target", "prod", "--force", "--skip-canary", "-q")
    finally:
        time.sleep(0.5)  # a few reads after the swap, on the new version
        stop.set()
        t.join(10)
    assert r.returncode == 0, r.stdout + r.stderr
    assert seen["queries"] > 100
    assert seen["errors"] == [] and seen["bad_counts"] == []
    new = live_version(env)
    assert new != old
    assert f"servicedesk_{old}" in schemas(env)  # the previous version stays under its versioned name
    report = report_of(r.stdout)
    assert "unit_tests_from" not in report["steps"]["build"]  # no canary stage: the build runs the unit tests
    results = json.loads((Path(report["report_path"]).parent / "run_results.json").read_text())["results"]
    assert sum(x["unique_id"].startswith("unit_test.") for x in results) >= 8
    backup = Path(report["steps"]["backup"]["path"])
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["version"] == old and manifest["tables"]["tickets"] == expected


def test_a_failing_dbt_test_leaves_live_as_it_was_and_exits_3(env: dict[str, str], demo_source: Path) -> None:
    before = (live_version(env), fingerprint_of_live(env), schemas(env))
    # no quarantined row allowed: the quarantine share tests fail on the new version
    r = sdrun(env, "full", "--source", str(demo_source), "--target", "prod", "--force", "--skip-canary",
              "--var", "max_quarantined_share=0", "-q")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "quarantined_share_below" in r.stdout + r.stderr
    assert (live_version(env), fingerprint_of_live(env), schemas(env)) == before
    assert one(env, "select outcome from sdrun_meta.runs order by started_at desc limit 1") == "halted"


def test_nul_bytes_in_the_source_get_one_clear_error_and_live_stays(env: dict[str, str], tmp_path: Path) -> None:
    """PostgreSQL's text cannot hold NUL: the profile step names the column, before anything is loaded."""
    source = tmp_path / "nul.db"
    tickets = [ticket(f"T{i}", **{"TKT-Title": "before\x00after"}) for i in range(3)]
    write_source(source, tickets, [comment("C0", "T0")], [timesheet("T0")])
    before = (live_version(env), fingerprint_of_live(env), schemas(env))
    r = sdrun(env, "full", "--source", str(source), "--target", "prod", "-q")
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {source}: values holding a NUL byte in tickets.TKT-Title (3): "
                      "PostgreSQL cannot store NUL in text: remove them from the export"], r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert (live_version(env), fingerprint_of_live(env), schemas(env)) == before


def test_rollback_brings_the_previous_version_back(env: dict[str, str]) -> None:
    live = live_version(env)
    previous = one(env, "select max(version) from sdrun_meta.versions where state = 'kept' and version < %s",
                   (live,))
    prev_rows = one(env, f"select count(*) from servicedesk_{previous}.tickets")
    r = sdrun(env, "rollback")
    assert r.returncode == 0, r.stderr
    assert live_version(env) == previous
    assert one(env, "select count(*) from servicedesk.tickets") == prev_rows
    assert f"servicedesk_{live}" in schemas(env)
    st = sdrun(env, "status")
    assert st.returncode == 0 and f"version {previous}" in st.stdout and f"servicedesk_{live}" in st.stdout


def test_a_run_killed_during_the_build_leaves_live_serving_and_the_next_run_succeeds(
    env: dict[str, str], demo_source: Path
) -> None:
    live = live_version(env)
    content = fingerprint_of_live(env)
    runs = Path(env["SDRUN_HOME"]) / "runs"
    known = set(runs.iterdir())
    proc = subprocess.Popen([SDRUN, "full", "--source", str(demo_source), "--target", "prod", "--force",
                             "--skip-canary", "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        building = False
        while time.monotonic() < deadline and not building and proc.poll() is None:
            time.sleep(0.2)
            for d in set(runs.iterdir()) - known:
                log = d / "log.jsonl"
                if log.exists():
                    building = any(json.loads(line).get("step") == "build" for line in log.read_text().splitlines())
        assert building, "the run never reached the build step"
        time.sleep(3)  # well inside dbt build: tables of the new version exist
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert live_version(env) == live and fingerprint_of_live(env) == content
    assert one(env, "select count(*) from servicedesk.tickets") > 0
    r = sdrun(env, "full", "--source", str(demo_source), "--target", "prod", "--force", "--skip-canary", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    report = report_of(r.stdout)
    cleared = report["steps"]["prepare"]["cleared"]
    assert cleared["runs"], "the killed run is marked in the ledger"
    assert one(env, "select outcome from sdrun_meta.runs where run_id = %s", (cleared["runs"][0],)) == "killed"
    versions = {s.removeprefix("servicedesk_") for s in schemas(env) if s.startswith("servicedesk_2")}
    kept = {r for r in versions if not r.endswith("_staging")}
    registered = one(env, "select array_agg(version) from sdrun_meta.versions where state = 'kept'")
    assert kept == set(registered)  # nothing of the killed run left behind


def test_restore_reproduces_the_backed_up_rows(env: dict[str, str]) -> None:
    backups = sorted((Path(env["SDRUN_HOME"]) / "backups").glob("pg-*/manifest.json"))
    assert backups
    folder = backups[-1].parent
    manifest = json.loads(backups[-1].read_text())
    backed_up_version = manifest["version"]
    # the backed-up version is still kept (or live): compare contents row for row
    source_schema = ("servicedesk" if live_version(env) == backed_up_version
                     else f"servicedesk_{backed_up_version}")
    r = sdrun(env, "restore", folder.name, "--into", "restored_check")
    assert r.returncode == 0, r.stderr
    assert "sha256 verified" in r.stdout
    for table in ("tickets", "comments", "timesheets", "quarantine"):
        q = "select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {}.{} t"
        assert one(env, q.format("restored_check", table)) == one(env, q.format(source_schema, table)), table
    # a tampered backup is refused
    dump = folder / manifest["file"]
    with open(dump, "ab") as f:
        f.write(b"x")
    r = sdrun(env, "restore", folder.name, "--into", "restored_bad")
    assert r.returncode == 1 and "SHA-256" in r.stderr
    assert "restored_bad" not in schemas(env)


def test_setup_db_sends_the_read_role_password_hashed(env: dict[str, str], pg_cluster: Any) -> None:
    """Issue 15, case 8: with the server logging every statement, the clear-text password of the
    dashboards' role never reaches it (SCRAM hash made on the client)."""
    secret = "Clear-Text-Pw-8361"
    logged = {**env, "GRAFANA_RO_PASSWORD": secret, "PGOPTIONS": "-c log_statement=all"}
    r = sdrun(logged, "setup-db")
    assert r.returncode == 0, r.stderr
    server_log = (pg_cluster.base / "server.log").read_text(errors="replace")
    assert "alter role" in server_log.lower() and "SCRAM-SHA-256$" in server_log
    assert secret not in server_log and secret not in r.stdout + r.stderr
    con = pg(env)
    try:
        with con.cursor() as cur:
            cur.execute("select rolpassword like 'SCRAM-SHA-256$%%' from pg_authid where rolname = 'grafana_ro'")
            assert cur.fetchone()[0]
    finally:
        con.close()


def test_a_prune_blocked_by_a_reader_says_so_and_the_next_run_drops_it(env: dict[str, str], demo_source: Path) -> None:
    """Issue 15, case 13: a reader on an old version makes its drop wait at most a moment; the version
    stays whole and kept, the run says so (never "prune ok, dropped []" alone), and the next run drops it."""
    deploy = ["full", "--source", str(demo_source), "--target", "prod", "--force", "--skip-canary",
              "--keep-versions", "1", "-q"]
    assert sdrun(env, *deploy).returncode == 0  # at least one kept version, the previous live one
    oldest = min(one(env, "select array_agg(version) from sdrun_meta.versions where state = 'kept'"))
    reader = pg(env)
    try:
        with reader.cursor() as cur:
            cur.execute(f'select count(*) from "servicedesk_{oldest}".tickets')  # holds its lock until rollback
        t0 = time.monotonic()
        r = sdrun(env, *deploy)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"version {oldest} NOT dropped" in r.stdout
        assert oldest in report_of(r.stdout)["steps"]["prune"]["blocked"]
        assert time.monotonic() - t0 < 120
        assert one(env, "select state from sdrun_meta.versions where version = %s", (oldest,)) == "kept"
        assert {f"servicedesk_{oldest}", f"servicedesk_{oldest}_staging", f"raw_{oldest}"} <= schemas(env)
    finally:
        reader.rollback()
        reader.close()
    r = sdrun(env, *deploy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert oldest in report_of(r.stdout)["steps"]["prune"]["dropped"]
    assert not {s for s in schemas(env) if oldest in s}


def test_a_locked_live_table_fails_the_backup_in_bounded_time_naming_the_holder(
    env: dict[str, str], demo_source: Path
) -> None:
    """Issue 15, case 3: an analyst's session holds an exclusive lock on a live table; the backup
    before the swap waits SDRUN_BACKUP_LOCK_TIMEOUT at most, fails naming the session, leaves no
    empty backup folder, and the live version stays."""
    live = live_version(env)
    holder = pg(env)
    holder.set_session(autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute("set application_name = 'analyst-psql'")
            cur.execute("lock table servicedesk.daily_summary in access exclusive mode")
        r = sdrun({**env, "SDRUN_BACKUP_LOCK_TIMEOUT": "3"}, "full", "--source", str(demo_source), "--target",
                  "prod", "--force", "--skip-canary", "-q")
    finally:
        holder.rollback()
        holder.close()
    assert r.returncode == 1, r.stdout + r.stderr
    error = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "waited 3s for a lock" in error[0] and "analyst-psql" in error[0], r.stderr
    report = report_of(r.stdout)
    assert report["steps"]["backup"]["status"] == "failed"
    assert not (Path(env["SDRUN_HOME"]) / "backups" / f"pg-{report['run_id']}").exists()
    assert live_version(env) == live
    assert one(env, "select outcome from sdrun_meta.runs where run_id = %s", (report["run_id"],)) == "failed"
