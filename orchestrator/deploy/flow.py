"""Gate 3 on PostgreSQL: the canary stage and the blue-green deploy, rollback, status, history.

`sdrun full --target canary`: preflight (Gate 0) → source backup → check → profile (Gate 1) →
prepare → load a deterministic ~10% sample (tickets chosen by a hash of the id, with all their
comments and timesheets) into `raw_canary` → dbt build into
`servicedesk_canary` (every test is the gate) → verify (row reconciliation, date types, the
dashboards' queries) → report → drop the canary schemas unless `--keep`.

`sdrun full --target prod`: the canary stage first (unless `--skip-canary`), then the full data
into the next version's schemas `servicedesk_next` (+ `_staging`, `raw_next`), built, tested and
verified there; then the live marts are backed up (pg_dump + SHA-256 manifest) and one transaction
renames the live set to the previous version's names `servicedesk_<v>` (+ `_staging`, `raw_<v>`)
and the new version to the live names (grants are copied first). Readers never see a missing or
half-built schema. Older versions beyond SDRUN_KEEP_VERSIONS (default 2) are dropped.

Safety: one canary/prod run at a time per database (a session advisory lock, released by the
server when the process dies). Whatever a killed run left behind (schemas of versions that never
went live, the `_next` and `__load` schemas, ledger rows still 'running', unfinished backups) is
cleared by the next run under that lock.
The same source (and dbt vars) as the live version makes no new version unless `--force`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg2 import sql

from orchestrator import __version__
from orchestrator.build.dbt import run_dbt
from orchestrator.build.report import summary_lines, test_figures, warehouse_figures
from orchestrator.core import failpoints as faults
from orchestrator.core.errors import GateHalted, SdrunError, SourceError, SourceModified, StepFailed, UsageError
from orchestrator.core.runs import Run, new_run_id
from orchestrator.core.settings import LIVE_SCHEMA, Settings
from orchestrator.deploy import pgbackup
from orchestrator.run import steps as gate0
from orchestrator.run.dev import RunOutcome
from orchestrator.source.contract import check_source, sha256_file
from orchestrator.targets.postgres import (
    LOCK_KEY,
    META_SCHEMA,
    VERSION_RE,
    Connection,
    PostgresTarget,
    SchemaSet,
    connect,
    connection,
    drop_schemas,
    ensure_meta,
    grant_read,
    ident,
    read_roles,
    schema_exists,
    version_id,
    where,
)

MART_TABLES = {"tickets": "tickets", "comments": "comments", "timesheets": "timesheets"}
STAGING_TABLES = {t: f"stg_servicedesk__{t}" for t in MART_TABLES}
# Every date column of the data contract must be a timestamp, every duration a number.
DATE_COLUMNS = {
    "tickets": ["created_at", "first_response_at", "resolved_at", "closed_at"],
    "comments": ["created_at"],
    "timesheets": ["work_date"],
}
# The numeric columns and their type: durations to 2 decimals; hours as the export holds them (float8).
NUMERIC_COLUMNS = {"tickets": {"response_minutes": "numeric", "resolution_hours": "numeric"},
                   "timesheets": {"hours": "double precision"}}
LEFTOVER_RE = re.compile(r"^(servicedesk|raw)_([0-9]{8}t[0-9]{6}z_[0-9a-f]{4})(_staging)?(__load)?$")

# What the Grafana dashboards run ({s} is the marts schema), run on every version before it goes live
# (and on the canary): each must run. Each comes with a count of the rows it summarises: an empty
# result while they exist means the cleaning broke (every date or number NULL); none to summarise (an
# empty table, no resolved ticket in a small canary sample) is not a failure. quarantine_by_reason has
# none: a clean export quarantines nothing.
DASHBOARD_QUERIES: dict[str, tuple[str, str | None]] = {
    "tickets_by_status": (
        "select status_group, status, count(*) from {s}.tickets group by 1, 2 order by 3 desc",
        "select count(*) from {s}.tickets",
    ),
    "resolution_hours_by_priority": (
        "select priority, round(avg(resolution_hours), 2) as avg_hours, count(*) from {s}.tickets "
        "where resolution_hours is not null group by 1 order by 1",
        "select count(*) from {s}.tickets where created_at is not null and resolved_at is not null",
    ),
    "sla_by_week": (
        "select date_trunc('week', created_at) as week, round(avg(case when is_sla_met then 1.0 else 0 end), 3) "
        "from {s}.tickets where created_at is not null group by 1 order by 1",
        "select count(*) from {s}.tickets",
    ),
    "response_minutes_median_by_team": (
        "select team, percentile_cont(0.5) within group (order by response_minutes) from {s}.tickets "
        "where response_minutes is not null group by 1",
        "select count(*) from {s}.tickets where created_at is not null and first_response_at is not null",
    ),
    "hours_by_team": (
        "select t.team, round(cast(sum(ts.hours) as numeric), 2) from {s}.timesheets ts join {s}.tickets t "
        "using (ticket_id) "
        "group by 1 order by 2 desc",
        "select count(*) from {s}.timesheets ts join {s}.tickets t using (ticket_id)",
    ),
    "daily_summary_last_30_days": (
        "select * from {s}.daily_summary order by day desc limit 30",
        "select count(*) from {s}.tickets",
    ),
    "quarantine_by_reason": ("select table_name, reason, count(*) from {s}.quarantine group by 1, 2", None),
}


@dataclass
class DeployOptions:
    skip_canary: bool = False
    keep: bool = False  # keep the canary schemas (and a failed version) for inspection
    force: bool = False  # build a new version even when the live one came from the same source
    keep_versions: int = field(default_factory=lambda: int(os.environ.get("SDRUN_KEEP_VERSIONS", "2")))


def fingerprint(source_sha: str, dbt_vars: dict[str, Any] | None) -> str:
    """What makes two prod runs identical: the source's bytes and the dbt variables."""
    doc = json.dumps({"source": source_sha, "vars": dbt_vars or {}}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------


def full(
    source: Path,
    *,
    target_name: str,
    settings: Settings | None = None,
    dbt_vars: dict[str, Any] | None = None,
    quiet: bool = False,
    options: DeployOptions | None = None,
) -> RunOutcome:
    if target_name not in ("canary", "prod"):
        raise UsageError(f"deploy: target {target_name!r} is not a PostgreSQL target")
    settings = settings or Settings.from_env()
    options = options or DeployOptions()
    if options.keep_versions < 1:
        raise UsageError("SDRUN_KEEP_VERSIONS must be at least 1 (the previous version, for rollback)")
    source = Path(source)
    run = Run.create(settings.runs_dir, quiet=quiet)
    run.health_paths = [settings.backups_dir]  # free disk there is checked before every step
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "run_id": run.run_id,
        "sdrun_version": __version__,
        "target": target_name,
        "database": where(),
        "started_at": run.started_at,
        "source": {"path": str(source)},
        "steps": run.steps,
        "report_path": str(run.run_dir / "report.json"),
    }
    run.log(f"run {run.run_id}: {source} → {target_name} on {where()}", target=target_name)
    sha_before = sha256_file(source) if source.is_file() else None
    report["source"]["sha256_before"] = sha_before
    error: SdrunError | None = None
    lock: Connection | None = None
    new_version: str | None = None
    published = False
    ledger_started = False
    try:
        # Gate 0 (the PostgreSQL checks included) and the source backup are steps of the run: a run they
        # stop still has its report and its run log.
        gate0.preflight_step(run, report, source, target_name, settings, dbt_vars)
        gate0.backup_step(run, report, "source_backup", source, settings, source_sha256=sha_before)
        with run.step("check") as rec:
            info = check_source(source)
            rec["tables"] = info.tables
            if not any(info.tables.values()):  # an export that failed, or the wrong file: dashboards would go blank
                raise GateHalted(f"{source}: every table is empty; nothing to publish, the live data stays",
                                 ["empty_source"])  # fmt: skip
        from orchestrator.run.dev import profile_step  # Gate 1, shared with target dev

        profile_step(run, source, report, dbt_vars)
        with run.step("prepare") as rec:
            lock = _acquire_lock()
            rec["cleared"] = clear_leftovers(lock, settings.backups_dir)
            fp = fingerprint(info.sha256, dbt_vars)
            _ledger_start(lock, run.run_id, target_name, source, info.sha256, fp)
            ledger_started = True
            live = live_version(lock)
            rec["live_version"] = live["version"] if live else None
            unchanged = (target_name == "prod" and not options.force and live is not None
                         and live["fingerprint"] == fp)
        if unchanged:
            assert live is not None
            report["unchanged"] = {"live_version": live["version"]}
            run.log(f"live version {live['version']} was built from this source and these vars: nothing to do "
                    "(--force builds a new version)")
        else:
            if target_name == "canary" or not options.skip_canary:
                _canary_stage(run, report, source, info.sha256, info.tables, dbt_vars, settings,
                              keep=options.keep and target_name == "canary",
                              prefix="" if target_name == "canary" else "canary_")
            if target_name == "prod":
                new_version = version_id(run.run_id)
                _ledger_update(lock, run.run_id, version=new_version)
                target = PostgresTarget("prod", SchemaSet.building())
                _build_and_verify(run, report, target, source, info.sha256, info.tables, dbt_vars, settings,
                                  prefix="")
                with run.step("backup") as rec:
                    rec.update(_backup_live(settings, run.run_id, lock))
                with run.step("swap") as rec:
                    same_source(source, info.sha256)
                    rec["previous_version"] = activate(new_version, fingerprint=fp, source_sha=info.sha256,
                                                       run_id=run.run_id, built_in=SchemaSet.building())
                    rec["live_version"] = new_version
                    published = True
                with run.step("smoke"):
                    _dashboards(PostgresTarget("prod", SchemaSet.live()))
                with run.step("prune") as rec:
                    rec["dropped"] = prune(options.keep_versions)
    except GateHalted as exc:
        error = exc
    except SdrunError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - an unexpected failure still gets a report and one line
        run.log(f"unexpected {type(exc).__name__}: {exc}", level="error")
        error = StepFailed(f"unexpected {type(exc).__name__}: {exc}")
    finally:
        if new_version and not published and not options.keep:
            try:  # a version that did not go live is of no use; a killed run's is cleared by the next run
                with connection(autocommit=True) as con, con.cursor() as cur:
                    drop_schemas(cur, [*SchemaSet.building().all(), f"{SchemaSet.building().raw}__load"])
            except Exception as exc:  # noqa: BLE001
                run.log(f"could not drop version {new_version}: {exc}", level="warning")
        sha_after = sha256_file(source) if source.is_file() else None
        report["source"]["sha256_after"] = sha_after
        report["source"]["unchanged"] = sha_before == sha_after
        if sha_before != sha_after and not isinstance(error, SourceError):  # SourceError: already said
            error = SourceModified(f"{source}: SHA-256 changed during the run ({sha_before} → {sha_after})")
        report["seconds"] = round(time.perf_counter() - t0, 3)
        report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if error is None:
            report["outcome"] = "unchanged" if report.get("unchanged") else "ok"
        else:
            report["outcome"] = "halted" if isinstance(error, GateHalted) else "failed"
        report["exit_code"] = 0 if error is None else error.exit_code
        if error is not None:
            report["error"] = str(error)
        if lock is not None:
            try:
                if ledger_started:
                    _ledger_finish(lock, run.run_id, report)
            except Exception as exc:  # noqa: BLE001
                run.log(f"ledger not updated: {exc}", level="warning")
            finally:
                lock.close()  # releases the advisory lock
        run.write_json("report.json", report)
        run.log(f"run {report['outcome']}", level="info" if error is None else "error",
                outcome=report["outcome"], exit_code=report["exit_code"])
    return RunOutcome(report=report, summary=_summary(report), error=error)


def _summary(report: dict[str, Any]) -> list[str]:
    lines = summary_lines(report)
    extra = []
    if report.get("unchanged"):
        extra.append(f"  unchanged   live version {report['unchanged']['live_version']} already holds this "
                     "source; nothing deployed (--force to rebuild)")
    for key, label in (("canary", "canary"), ("verify", "reconcile")):
        rec = report.get(key)
        if not rec:
            continue
        if key == "canary":
            kept = f"schema {'kept' if rec.get('kept') else 'dropped'}"
            if "sample_rows" not in rec:  # it stopped; the error line says where
                extra.append(f"  canary      did not pass, {kept}")
                continue
            t = rec.get("tests") or {}
            extra.append(f"  canary      {rec['sample_rows']:,} sampled rows, {t.get('passed', 0)} tests passed, "
                         f"{t.get('failed', 0) + t.get('errored', 0)} failed, dashboards "
                         f"{rec.get('dashboards', '-')}, {kept}")
            continue
        for table, r in rec["reconcile"].items():
            extra.append(f"  {label:<11} {table:<10} source {r['source']:,} → raw {r['raw']:,} → staging "
                         f"{r['staging']:,} = marts {r['marts']:,} + quarantined {r['excluded']:,}  "
                         + ("ok" if r["ok"] else "MISMATCH"))
        bad = [c for c, t in rec["column_types"].items() if not t["ok"]]
        extra.append(f"  types       {len(rec['column_types'])} date/number columns checked"
                     + (f", WRONG: {', '.join(bad)}" if bad else ", all timestamp/numeric"))
    swap = report.get("steps", {}).get("swap")
    if swap and swap.get("status") == "ok":
        extra.append(f"  live        {LIVE_SCHEMA} = version {swap['live_version']}"
                     + (f" (previous {swap['previous_version']} kept, `sdrun rollback` restores it)"
                        if swap.get("previous_version") else ""))
    return lines[:-1] + extra + lines[-1:]


def _acquire_lock() -> Connection:
    con = connect(autocommit=True)
    ensure_meta(con)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,))
        if not cur.fetchone()[0]:
            con.close()
            raise StepFailed(f"another sdrun run is deploying to {where()} (advisory lock held); try again later")
    return con


def same_source(source: Path, expected_sha: str) -> None:
    """Refuse to go on when the source file is no longer the one checked (replaced or rewritten mid-run)."""
    now = sha256_file(source) if source.is_file() else None
    if now != expected_sha:
        what = "was removed" if now is None else f"changed (SHA-256 {expected_sha[:12]}… → {now[:12]}…)"
        raise SourceError(f"{source}: the file {what} during the run; nothing was published")


def _build_and_verify(run: Run, report: dict[str, Any], target: PostgresTarget, source: Path, expected_sha: str,
                      source_rows: dict[str, int], dbt_vars: dict[str, Any] | None, settings: Settings,
                      prefix: str) -> dict[str, Any]:
    """load → build (tests are the gate) → verify → report, for one schema set."""
    out: dict[str, Any] = {}
    with run.step(f"{prefix}load") as rec:
        def copied(table: str, rows: int) -> None:
            run.log(f"copied {table}: {rows:,} rows", step=f"{prefix}load", table=table, rows=rows)
            faults.pause(f"{prefix}load:{table}", run)

        rec["rows"] = out["rows"] = target.load_raw(source, on_table=copied,
                                                    date_orders=report["profile"]["date_orders"])
        same_source(source, expected_sha)  # what was copied is what was checked
    with run.step(f"{prefix}build") as rec:
        work = run.run_dir / ("dbt" if not prefix else f"dbt-{prefix.rstrip('_')}")
        result = run_dbt(["build"], work_dir=work, env=target.dbt_env(),
                         vars={**(dbt_vars or {}), **target.dbt_vars()},
                         parse_cache=settings.runs_dir / f".dbt-partial-parse.{target.name}.msgpack",
                         on_line=lambda line: run.log(line, step=f"{prefix}build", level="debug"))
        rr = work / "run_results.build.json"
        if rr.exists():
            rr.replace(run.run_dir / ("run_results.json" if not prefix else f"run_results.{prefix.rstrip('_')}.json"))
        tests = test_figures(result)
        out["tests"] = tests
        if not prefix:
            report["tests"] = tests
        rec["returncode"] = result.returncode
        errors = result.model_errors()
        if errors:
            raise StepFailed(f"{prefix}dbt build failed: " + "; ".join(errors[:3]))
        if tests["failing"]:
            names = [t["name"] for t in tests["failing"]]
            raise GateHalted(
                f"{len(names)} dbt test(s) failed on {target.schemas.marts}: {', '.join(names[:5])}"
                + (f" and {len(names) - 5} more" if len(names) > 5 else ""), reasons=names)
        if result.returncode != 0:
            raise StepFailed(f"dbt build exited {result.returncode}: see {result.log_path}")
    with run.step(f"{prefix}verify") as rec:
        checks = verify_build(target, source_rows if not target.sample else None)
        rec["reconciled"] = all(r["ok"] for r in checks["reconcile"].values())
        out["verify"] = checks
        if not prefix:
            report["verify"] = checks
        problems = [f"{t} rows do not reconcile" for t, r in checks["reconcile"].items() if not r["ok"]]
        problems += [f"{c} is {t['type']}" for c, t in checks["column_types"].items() if not t["ok"]]
        if problems:
            raise GateHalted(f"verification failed on {target.schemas.marts}: " + "; ".join(problems), problems)
        out["dashboards"] = rec["dashboards"] = _dashboards(target)
    with run.step(f"{prefix}report"):
        figures = warehouse_figures(target.query, target.relation_prefix, target.raw_prefix)
        out["warehouse"] = figures
        if not prefix:
            report["warehouse"] = figures
    return out


def _canary_stage(run: Run, report: dict[str, Any], source: Path, expected_sha: str, source_rows: dict[str, int],
                  dbt_vars: dict[str, Any] | None, settings: Settings, *, keep: bool, prefix: str) -> None:
    target = PostgresTarget("canary", SchemaSet.canary(), sample=True)
    with connection(autocommit=True) as con, con.cursor() as cur:
        drop_schemas(cur, [*target.schemas.all(), f"{target.schemas.raw}__load"])
    rec: dict[str, Any] = {"schema": target.schemas.marts, "kept": keep}
    report["canary"] = rec
    try:
        out = _build_and_verify(run, report, target, source, expected_sha, source_rows, dbt_vars, settings,
                                prefix=prefix)
        rec["sample_rows"] = sum(out["rows"].values())
        rec["rows"] = out["rows"]
        rec["tests"] = {k: v for k, v in out["tests"].items() if k not in ("warnings",)}
        rec["dashboards"] = f"{len(out['dashboards'])} ok"
        if prefix == "":  # target canary: its figures are the run's
            report["warehouse"] = out["warehouse"]
            report["tests"] = out["tests"]
            report["verify"] = out["verify"]
    finally:
        if not keep:
            with connection(autocommit=True) as con, con.cursor() as cur:
                drop_schemas(cur, target.schemas.all())


def verify_build(target: PostgresTarget, source_rows: dict[str, int] | None) -> dict[str, Any]:
    """Row counts per table (source → raw → staging = marts + quarantined rows) and column types."""
    s = target.schemas
    reconcile: dict[str, dict[str, Any]] = {}
    with connection() as con, con.cursor() as cur:
        cur.execute(sql.SQL("select table_name, count(distinct source_row) from {}.quarantine "
                            "where action = 'row_excluded' group by 1").format(ident(s.marts)))
        excluded = dict(cur.fetchall())
        for table, mart in MART_TABLES.items():
            counts = {}
            for key, schema, rel in (("raw", s.raw, table), ("staging", s.staging, STAGING_TABLES[table]),
                                     ("marts", s.marts, mart)):
                cur.execute(sql.SQL("select count(*) from {}.{}").format(ident(schema), ident(rel)))
                counts[key] = cur.fetchone()[0]
            src = source_rows[table] if source_rows is not None else counts["raw"]
            ex = int(excluded.get(table, 0))
            reconcile[table] = {"source": src, **counts, "excluded": ex,
                                "ok": src == counts["raw"] == counts["staging"] == counts["marts"] + ex}
        cur.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = %s",
            (s.marts,),
        )
        types = {(t, c): d for t, c, d in cur.fetchall()}
    column_types: dict[str, dict[str, Any]] = {}
    for table, cols in DATE_COLUMNS.items():
        for c in cols:
            t = types.get((table, c), "missing")
            column_types[f"{table}.{c}"] = {"type": t, "ok": t.startswith("timestamp")}
    for table, typed in NUMERIC_COLUMNS.items():
        for c, expected in typed.items():
            t = types.get((table, c), "missing")
            column_types[f"{table}.{c}"] = {"type": t, "ok": t == expected}
    return {"reconcile": reconcile, "column_types": column_types}


def _dashboards(target: PostgresTarget) -> dict[str, int]:
    """Run the dashboards' queries; each must succeed, and return rows when there are rows for it to
    summarise (GateHalted otherwise). Returns how many rows each returned."""
    out = {}
    schema = target.relation_prefix  # a quoted identifier; sdrun's schema names are its own
    for name, (q, inputs) in DASHBOARD_QUERIES.items():
        try:
            rows = target.query(q.format(s=schema))
            n_inputs = target.query(inputs.format(s=schema))[0][0] if inputs and not rows else 0
        except Exception as exc:  # noqa: BLE001
            raise GateHalted(f"dashboard query {name} failed on {target.schemas.marts}: {exc}", [name]) from None
        if n_inputs:
            raise GateHalted(f"dashboard query {name} returned no rows on {target.schemas.marts}, "
                             f"from {n_inputs:,} rows to summarise", [name])  # fmt: skip
        out[name] = len(rows)
    return out


def _backup_live(settings: Settings, run_id: str, lock: Connection) -> dict[str, Any]:
    with lock.cursor() as cur:
        if not schema_exists(cur, LIVE_SCHEMA):
            return {"skipped": "no live schema yet"}
    live = live_version(lock)
    m = pgbackup.backup_schema(LIVE_SCHEMA, settings.backups_dir / f"pg-{run_id}",
                               version=live["version"] if live else None, run_id=run_id)
    return {"path": str(settings.backups_dir / f"pg-{run_id}"), "sha256": m["sha256"], "bytes": m["bytes"],
            "tables": m["tables"]}


# ------------------------------------------------------------------------------------------------
# versions: swap, rollback, prune, leftovers
# ------------------------------------------------------------------------------------------------


def live_version(con: Connection) -> dict[str, Any] | None:
    with con.cursor() as cur:
        cur.execute(f"select version, fingerprint, source_sha256, live_since from {META_SCHEMA}.versions "
                    "where state = 'live'")
        row = cur.fetchone()
    if not row:
        return None
    return {"version": row[0], "fingerprint": row[1], "source_sha256": row[2], "live_since": row[3]}


def activate(vid: str, *, fingerprint: str | None = None, source_sha: str | None = None,
             run_id: str | None = None, built_in: SchemaSet | None = None) -> str | None:
    """Make version `vid` live in one transaction; the live set takes its version's names.
    `built_in`: the schemas a new version was built in (else the kept version's own names).
    Returns the version that was live before (None when there was none)."""
    new = built_in or SchemaSet.version(vid)
    live = SchemaSet.live()
    with connection() as con:
        with con.cursor() as cur:
            cur.execute("set local lock_timeout = '60s'")
            for n in new.all():
                if not schema_exists(cur, n):
                    raise StepFailed(f"version {vid}: schema {n} is missing; nothing changed")
            roles = read_roles(cur)
            grant_read(cur, new.marts, roles)
            grant_read(cur, META_SCHEMA, roles)  # the ledger, for the pipeline-runs dashboard
            cur.execute(f"select version from {META_SCHEMA}.versions where state = 'live' for update")
            row = cur.fetchone()
            old_vid = row[0] if row else None
            if old_vid is None and schema_exists(cur, live.marts):
                # a live schema sdrun did not build (first deploy over an existing one): keep it as a version
                old_vid = version_id(new_run_id())
                cur.execute(f"insert into {META_SCHEMA}.versions (version, state) values (%s, 'kept')", (old_vid,))
            if old_vid is not None:
                for cur_name, old_name in zip(live.all(), SchemaSet.version(old_vid).all(), strict=True):
                    if schema_exists(cur, cur_name):
                        cur.execute(sql.SQL("alter schema {} rename to {}").format(ident(cur_name), ident(old_name)))
            for new_name, live_name in zip(new.all(), live.all(), strict=True):
                cur.execute(sql.SQL("alter schema {} rename to {}").format(ident(new_name), ident(live_name)))
            cur.execute(f"update {META_SCHEMA}.versions set state = 'kept' where state = 'live'")
            cur.execute(
                f"""insert into {META_SCHEMA}.versions (version, run_id, source_sha256, fingerprint, state, live_since)
                    values (%s, %s, %s, %s, 'live', now())
                    on conflict (version) do update set state = 'live', live_since = now()""",
                (vid, run_id, source_sha, fingerprint),
            )
        con.commit()
    return old_vid


def rollback(to: str | None = None) -> dict[str, Any]:
    """Make the previous kept version (or `to`) live again, in one transaction."""
    lock = _acquire_lock()
    try:
        live = live_version(lock)
        with lock.cursor() as cur:
            if to is None:
                cur.execute(f"select version from {META_SCHEMA}.versions where state = 'kept' "
                            "and (%s::text is null or version < %s) order by version desc limit 1",
                            (live["version"] if live else None, live["version"] if live else None))
                row = cur.fetchone()
                if not row:
                    raise UsageError("no previous version to roll back to (`sdrun status` lists the versions)")
                to = row[0]
            else:
                to = to.lower().removeprefix(f"{LIVE_SCHEMA}_")
                cur.execute(f"select state from {META_SCHEMA}.versions where version = %s", (to,))
                row = cur.fetchone()
                if not row or row[0] != "kept":
                    raise UsageError(f"version {to} is not a kept version (`sdrun status` lists them)")
        previous = activate(to)
        return {"live_version": to, "previous_version": previous}
    finally:
        lock.close()


def prune(keep: int) -> list[str]:
    """Drop kept versions beyond the `keep` newest ones."""
    dropped = []
    with connection(autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"select version from {META_SCHEMA}.versions where state = 'kept' order by version desc")
        for (vid,) in cur.fetchall()[keep:]:
            try:
                cur.execute("set lock_timeout = '30s'")
                drop_schemas(cur, SchemaSet.version(vid).all())
                cur.execute(f"update {META_SCHEMA}.versions set state = 'dropped', dropped_at = now() "
                            "where version = %s", (vid,))
                dropped.append(vid)
            except Exception:  # noqa: BLE001 - readers still on it: the next run tries again
                continue
    return dropped


def clear_leftovers(lock: Connection, backups_dir: Path | None = None) -> dict[str, Any]:
    """Under the deploy lock: drop schemas of versions that never went live, mark runs that never
    finished (killed) as such, and remove the unfinished backup folders of those runs."""
    with lock.cursor() as cur:
        cur.execute(f"select version from {META_SCHEMA}.versions where state in ('live', 'kept')")
        keep = {r[0] for r in cur.fetchall()}
        cur.execute("select nspname from pg_namespace")
        names = [r[0] for r in cur.fetchall()]
        stale = [n for n in names
                 if (m := LEFTOVER_RE.match(n)) and (m.group(2) not in keep or m.group(4))]
        stale += [n for n in names if (n.endswith("__load") or n in SchemaSet.building().all()) and n not in stale]
        cur.execute("set lock_timeout = '60s'")
        drop_schemas(cur, stale)
        cur.execute(f"update {META_SCHEMA}.runs set outcome = 'killed', finished_at = coalesce(finished_at, now()) "
                    "where outcome = 'running' returning run_id")
        killed = [r[0] for r in cur.fetchall()]
    partial = [str(d) for d in pgbackup.drop_partial_backups(backups_dir, killed)] if backups_dir else []
    return {"schemas": stale, "runs": killed, "partial_backups": partial}


# ------------------------------------------------------------------------------------------------
# the ledger
# ------------------------------------------------------------------------------------------------


def _ledger_start(con: Connection, run_id: str, target: str, source: Path, sha: str, fp: str) -> None:
    with con.cursor() as cur:
        cur.execute(f"insert into {META_SCHEMA}.runs (run_id, target, source_path, source_sha256, fingerprint) "
                    "values (%s, %s, %s, %s, %s)", (run_id, target, str(source), sha, fp))


def _ledger_update(con: Connection | None, run_id: str, *, version: str) -> None:
    assert con is not None
    with con.cursor() as cur:
        cur.execute(f"update {META_SCHEMA}.runs set version = %s where run_id = %s", (version, run_id))


def _ledger_finish(con: Connection, run_id: str, report: dict[str, Any]) -> None:
    counts: dict[str, Any] = {}
    verify = report.get("verify")
    if verify:
        counts["tables"] = {t: {k: r[k] for k in ("source", "raw", "staging", "excluded", "marts")}
                            for t, r in verify["reconcile"].items()}
    if report.get("tests"):
        counts["tests"] = {k: report["tests"][k] for k in ("passed", "warned", "failed", "errored")}
    with con.cursor() as cur:
        cur.execute(f"update {META_SCHEMA}.runs set finished_at = now(), outcome = %s, counts = %s, error = %s "
                    "where run_id = %s",
                    (report["outcome"], json.dumps(counts) if counts else None, report.get("error"), run_id))


# ------------------------------------------------------------------------------------------------
# status and history
# ------------------------------------------------------------------------------------------------


def history(limit: int = 20) -> list[dict[str, Any]]:
    with connection() as con:
        ensure_meta(con)
        with con.cursor() as cur:
            cur.execute(f"""select run_id, target, source_sha256, started_at, finished_at, outcome, version, counts,
                                   error from {META_SCHEMA}.runs order by started_at desc, run_id desc limit %s""",
                        (limit,))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def status(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    with connection() as con:
        ensure_meta(con)
        with con.cursor() as cur:
            cur.execute(f"""select version, state, run_id, source_sha256, built_at, live_since
                            from {META_SCHEMA}.versions where state in ('live', 'kept') order by version desc""")
            cols = [d[0] for d in cur.description]
            versions = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            for v in versions:
                v["schema"] = LIVE_SCHEMA if v["state"] == "live" else SchemaSet.version(v["version"]).marts
                v["present"] = schema_exists(cur, v["schema"])
            live_exists = schema_exists(cur, LIVE_SCHEMA)
    live = next((v for v in versions if v["state"] == "live"), None)
    return {
        "database": where(),
        "live": live,
        "live_schema_present": live_exists,
        "kept": [v for v in versions if v["state"] == "kept"],
        "runs": history(5),
        "backups": [{k: b.get(k) for k in ("path", "schema", "version", "created_at", "sha256", "tables")}
                    for b in pgbackup.list_backups(settings.backups_dir)][-5:],
    }


def is_version(text: str) -> bool:
    return bool(VERSION_RE.match(text))
