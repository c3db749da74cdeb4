"""Gate 3 on PostgreSQL: the canary stage and the blue-green deploy, rollback, status, history.

`sdrun full --target canary`: preflight (Gate 0) → source backup → check → profile (Gate 1) →
prepare → load a deterministic ~10% sample (tickets chosen by a hash of the id, with all their
comments and timesheets) into `raw_canary` → dbt build into
`servicedesk_canary` (every test is the gate) → verify (row reconciliation, date types, the
dashboards' queries) → report → drop the canary schemas unless `--keep`.

`sdrun full --target prod`: the full data loaded into the next version's raw schema `raw_next`; the
canary stage (unless `--skip-canary`), its sample copied from that load on the server (the source
file is read once); then the next version's schemas `servicedesk_next` (+ `_staging`) built, tested
and verified; compared with the live version (quarter over quarter: rows, tickets per month, the
quality score, quarantine, live rows missing from the new build; the shrink gate halts a deploy that
would lose rows of the history unless `--allow-shrink`: deploy/compare.py); then the live marts are
backed up (pg_dump + SHA-256 manifest) and one transaction renames the live set to the previous
version's names `servicedesk_<v>` (+ `_staging`, `raw_<v>`) and the new version to the live names
(grants are copied first). Readers never see a missing or half-built schema. Older versions beyond
SDRUN_KEEP_VERSIONS (default 2) are dropped.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.build.gate import build_and_test
from orchestrator.build.report import MARTS, summary_lines, warehouse_figures
from orchestrator.core.errors import GateHalted, UsageError
from orchestrator.core.runs import Run
from orchestrator.core.settings import Settings
from orchestrator.deploy import checks, compare, ledger, swap, versions
from orchestrator.run import steps
from orchestrator.run.skeleton import RunContext, RunOutcome, execute
from orchestrator.targets import Target, engine, get_target
from orchestrator.targets.postgres import PostgresTarget, drop_now, vacuum_indexed, where
from orchestrator.targets.schemas import LIVE_SCHEMA, SchemaSet, version_id


@dataclass
class DeployOptions:
    skip_canary: bool = False
    keep: bool = False  # keep the canary schemas (and a failed version) for inspection
    force: bool = False  # build a new version even when the live one came from the same source
    keep_versions: int = field(default_factory=lambda: keep_versions_from_env())
    swap_wait: float = field(default_factory=lambda: swap.swap_wait_from_env())  # seconds, for old snapshots
    allow_shrink: bool = False  # a deliberate replacement: the shrink gate reports, does not halt
    max_rows_drop_share: float = field(default_factory=lambda: compare.max_drop_share_from_env())


def keep_versions_from_env() -> int:
    raw = os.environ.get("SDRUN_KEEP_VERSIONS", "2").strip()
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"SDRUN_KEEP_VERSIONS={raw!r}: expected a whole number, at least 1") from None


def build_fingerprint(source_sha: str, dbt_vars: dict[str, Any] | None) -> str:
    """What makes two prod builds identical: the source's bytes and the dbt variables."""
    doc = json.dumps({"source": source_sha, "vars": dbt_vars or {}}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


def full(
    source: Path,
    *,
    target_name: str,
    settings: Settings,
    dbt_vars: dict[str, Any] | None = None,
    quiet: bool = False,
    options: DeployOptions | None = None,
) -> RunOutcome:
    if engine(target_name) != "postgres":
        raise UsageError(f"deploy: target {target_name!r} is not a PostgreSQL target")
    options = options or DeployOptions()
    if options.keep_versions < 1:
        raise UsageError("SDRUN_KEEP_VERSIONS must be at least 1 (the previous version, for rollback)")
    source = Path(source)
    if source.is_dir():  # canary/prod deploy a SQLite file that backups and the ledger can name
        raise UsageError(
            f"{source}: an XLSX folder is imported directly on target dev only; for {target_name} run "
            f"`sdrun import --from {source} --out SOURCE.db` and deploy SOURCE.db"
        )

    def body(ctx: RunContext) -> None:
        run, report = ctx.run, ctx.report
        # Gate 0 (the PostgreSQL checks included) and the source backup are steps of the run: a run they
        # stop still has its report and its run log.
        canary_too = ("canary",) if target_name == "prod" and not options.skip_canary else ()
        parse = steps.preflight_step(run, report, source, target_name, settings, dbt_vars, also_builds=canary_too)
        steps.backup_step(run, report, "source_backup", source, settings, source_sha256=ctx.sha_before)
        info = steps.check_step(run, source, refuse_empty=True, sha256=ctx.sha_before)
        steps.profile_step(run, source, report, dbt_vars)
        steps.parse_step(run, report, parse)
        with run.step("prepare") as rec:
            lock = ctx.state["lock"] = versions.acquire_lock()
            rec["cleared"] = versions.clear_leftovers(lock, settings.backups_dir)
            fp = build_fingerprint(info.sha256, dbt_vars)
            ledger.start(lock, run.run_id, target_name, source, info.sha256, fp)
            ctx.state["ledger_started"] = True
            live = versions.live_version(lock)
            rec["live_version"] = live["version"] if live else None
        if target_name == "prod" and not options.force and live is not None and live["fingerprint"] == fp:
            report["unchanged"] = {"live_version": live["version"]}
            run.log(f"live version {live['version']} was built from this source and these vars: nothing to do "
                    "(--force builds a new version)")
            return
        if target_name == "canary":
            _canary_stage(run, report, source, info.sha256, info.tables, dbt_vars, settings, keep=options.keep,
                          prefix="")
            report["comparison"] = {"skipped": "canary builds a 10% sample; prod compares its full build with "
                                               "the live version"}
            return
        new_version = version_id(run.run_id)
        target = get_target("prod", settings)
        published = False
        try:
            # the source is read once: the canary takes its sample from the full load, on the server;
            # whether it is still the file that was checked, the swap step asks before publishing
            rows = _load(run, report, target, source, info.sha256, info.tables, prefix="", check_after=False)
            if not options.skip_canary:
                _canary_stage(run, report, source, info.sha256, info.tables, dbt_vars, settings, keep=False,
                              prefix="canary_", copy_from=target.schemas.raw)
            ledger.set_version(lock, run.run_id, version=new_version)
            _build_and_verify(run, report, target, rows, info.tables, dbt_vars, settings, prefix="",
                              unit_tests_from=None if options.skip_canary else run.run_dir / CANARY_RESULTS)
            with run.step("compare") as rec:
                comparison = report["comparison"] = compare.compare(
                    target.schemas, live_version=live["version"] if live else None,
                    live_score=ledger.live_score(lock) if live else None,
                    new_score=report["profile"].get("score"))
                if comparison.get("first_deploy"):
                    rec["first_deploy"] = True
                else:
                    verdict = compare.gate(comparison, share=options.max_rows_drop_share,
                                           allow_shrink=options.allow_shrink)
                    rec["gate"] = verdict["status"]
                    if verdict["status"] == "overridden":
                        run.log("shrink gate overridden by --allow-shrink: " + "; ".join(verdict["problems"]),
                                step="compare", level="warning")
            with run.step("backup") as rec:
                rec.update(versions.backup_live(settings, run.run_id, lock))
            with run.step("swap") as rec:
                checks.same_source(source, info.sha256)
                rec["vacuumed"] = vacuum_indexed(target.schemas.marts)  # the panels' indexes, read alone
                rec.update(versions.activate(new_version, fingerprint=fp, source_sha=info.sha256, run_id=run.run_id,
                                             built_in=target.schemas, swap_wait=options.swap_wait))
                rec["live_version"] = new_version
                published = True
        finally:
            if not published and not options.keep:
                try:  # a version that did not go live is of no use; a killed run's is cleared by the next run
                    drop_now(target.schemas.with_loading())
                except Exception as exc:  # noqa: BLE001
                    run.log(f"could not drop version {new_version}: {exc}", level="warning")
        with run.step("smoke"):
            checks.dashboards(PostgresTarget("prod", SchemaSet.live()))
        with run.step("prune") as rec:
            pruned = versions.prune(options.keep_versions)
            rec.update(pruned)
            for vid, why in pruned["blocked"].items():
                run.log(f"version {vid} not dropped, kept for the next run to drop: {why}", step="prune",
                        level="warning", version=vid)

    def on_finish(ctx: RunContext) -> None:
        lock = ctx.state.get("lock")
        if lock is None:
            return
        try:
            if ctx.state.get("ledger_started"):
                ledger.finish(lock, ctx.run.run_id, ctx.report)
        except Exception as exc:  # noqa: BLE001
            ctx.run.log(f"ledger not updated: {exc}", level="warning")
        finally:
            lock.close()  # releases the advisory lock

    return execute(source, target_name=target_name, settings=settings, quiet=quiet,
                   describe=f"{target_name} on {where()}", body=body, health_paths=[settings.backups_dir],
                   report_fields={"database": where()}, on_finish=on_finish, summary=_summary)


def _summary(report: dict[str, Any]) -> list[str]:
    lines = summary_lines(report)
    extra = []
    if report.get("unchanged"):
        extra.append(f"  unchanged   live version {report['unchanged']['live_version']} already holds this "
                     "source; nothing deployed (--force to rebuild)")
    keys: tuple[tuple[str, str], ...] = (("canary", "canary"), ("verify", "reconcile"), ("comparison", "compare"))
    for key, label in keys:
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
        if key == "comparison":
            extra.extend(compare.summary_lines(rec))
            continue
        for table, r in rec["reconcile"].items():
            extra.append(f"  {label:<11} {table:<10} source {r['source']:,} → raw {r['raw']:,} → staging "
                         f"{r['staging']:,} = marts {r['marts']:,} + quarantined {r['excluded']:,}  "
                         + ("ok" if r["ok"] else "MISMATCH"))
    swapped = report.get("steps", {}).get("swap")
    if swapped and swapped.get("status") == "ok":
        extra.append(f"  live        {LIVE_SCHEMA} = version {swapped['live_version']}"
                     + (f" (previous {swapped['previous_version']} kept, `sdrun rollback` restores it)"
                        if swapped.get("previous_version") else ""))
        for key, label in (("repointed", "view(s) re-pointed to the new version"),
                           ("carried", "carried over into the new version, not built by sdrun")):
            if swapped.get(key):
                extra.append(f"  swap        {label}: {', '.join(swapped[key])}")
    for vid, why in ((report.get("steps", {}).get("prune") or {}).get("blocked") or {}).items():
        extra.append(f"  prune       version {vid} NOT dropped (kept; the next run tries again): {why[:160]}")
    return lines[:-1] + extra + lines[-1:]


def _load(run: Run, report: dict[str, Any], target: Target, source: Path, expected_sha: str,
          source_rows: dict[str, int], prefix: str, copy_from: str | None = None,
          check_after: bool = True) -> dict[str, int]:
    """The raw load of one schema set, from the source (or `copy_from`, a raw schema on the server
    already loaded from it). `check_after`: compare the file's SHA-256 with `expected_sha` once it is
    copied (prod leaves that to its swap step, which asks it before anything is published)."""
    rows = steps.load_step(run, f"{prefix}load", target, source, report, sum(source_rows.values()),
                           copy_from=copy_from)
    if copy_from is None and check_after:  # what was copied from the file is what was checked
        checks.same_source(source, expected_sha)
    return rows


CANARY_RESULTS = "run_results.canary.json"  # what _build_and_verify names the canary stage's dbt results


def _build_and_verify(run: Run, report: dict[str, Any], target: Target, rows: dict[str, int],
                      source_rows: dict[str, int], dbt_vars: dict[str, Any] | None, settings: Settings,
                      prefix: str, unit_tests_from: Path | None = None) -> dict[str, Any]:
    """build (tests are the gate) → verify → report, for one schema set loaded with `rows`; the unit
    tests that passed in `unit_tests_from` (the canary's results) are not run again (gate.py)."""
    out: dict[str, Any] = {"rows": rows}
    with run.step(f"{prefix}build") as rec:
        name = prefix.rstrip("_")

        def on_tests(tests: dict[str, Any]) -> None:
            out["tests"] = tests
            if not prefix:
                report["tests"] = tests

        build_and_test(run, f"{prefix}build", rec, target, settings, dbt_vars,
                       work_dir=run.run_dir / (f"dbt-{name}" if name else "dbt"),
                       results_name=f"run_results.{name}.json" if name else "run_results.json", on_tests=on_tests,
                       unit_tests_from=unit_tests_from)
        out["built_rows"] = rec["rows_written"]
    with run.step(f"{prefix}verify") as rec:
        verified = checks.verify_build(target.schemas, source_rows if not target.sample else None,
                                       raw_rows=rows, built_rows=out["built_rows"])
        rec["reconciled"] = all(r["ok"] for r in verified["reconcile"].values())
        out["verify"] = verified
        if not prefix:
            report["verify"] = verified
        problems = [f"{t} rows do not reconcile" for t, r in verified["reconcile"].items() if not r["ok"]]
        if problems:
            raise GateHalted(f"verification failed on {target.schemas.marts}: " + "; ".join(problems), problems)
        out["dashboards"] = rec["dashboards"] = checks.dashboards(target)
    with run.step(f"{prefix}report"):
        raw, built = out["rows"], out["built_rows"]
        counted = {t: (raw[t], built[m]) for t, m in MARTS.items() if t in raw and m in built}
        figures = warehouse_figures(target.query, target.relation_prefix, target.raw_prefix, counted)
        out["warehouse"] = figures
        if not prefix:
            report["warehouse"] = figures
    return out


def _canary_stage(run: Run, report: dict[str, Any], source: Path, expected_sha: str, source_rows: dict[str, int],
                  dbt_vars: dict[str, Any] | None, settings: Settings, *, keep: bool, prefix: str,
                  copy_from: str | None = None) -> None:
    target = get_target("canary", settings)
    drop_now(target.schemas.with_loading())
    rec: dict[str, Any] = {"schema": target.schemas.marts, "kept": keep}
    report["canary"] = rec
    try:
        rows = _load(run, report, target, source, expected_sha, source_rows, prefix, copy_from=copy_from)
        out = _build_and_verify(run, report, target, rows, source_rows, dbt_vars, settings, prefix=prefix)
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
            try:  # what a lock keeps here, the next run's leftovers sweep drops
                drop_now(target.schemas.all())
            except Exception as exc:  # noqa: BLE001
                run.log(f"could not drop the canary schemas: {exc}", level="warning")
