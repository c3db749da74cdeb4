"""`sdrun full`: every gate in order, one run folder, one report.

Steps: preflight (Gate 0: machine and input fit for the run; any FAIL stops here, exit 1) →
backup (a verified copy of the SQLite source in backups/) → check (the source is a readable SQLite
export with the expected tables and columns) → profile (Gate 1, when available) → load raw → dbt
build (the tests are the gate) → report. Free disk and memory are checked before every step and
watched during the load (health.py). Whatever happens, the source's SHA-256 is checked unchanged at
the end and report.json and metrics.prom (Prometheus text format) are written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.build.dbt import run_dbt
from orchestrator.build.report import summary_lines, test_figures, warehouse_figures
from orchestrator.core.errors import GateHalted, SdrunError, SourceError, SourceModified, StepFailed, UsageError
from orchestrator.core.runs import Run
from orchestrator.core.settings import Settings
from orchestrator.run import steps as gate0
from orchestrator.source.contract import check_source
from orchestrator.source.xlsx import import_folder, source_sha256
from orchestrator.targets.duckdb import get_target


def profile_step(run: Run, db: Path, report: dict[str, Any], dbt_vars: dict[str, Any] | None) -> None:
    """Gate 1: profile every value before anything is loaded; the breaker raises GateHalted (exit 3).
    Writes runs/<run_id>/profile.json and profile.html; report["profile"] gets the score and trips."""
    from orchestrator.profile.scan import Thresholds, run_gate

    day_first = (dbt_vars or {}).get("day_first")
    with run.step("profile") as rec:
        try:
            prof = run_gate(db, run.run_dir, Thresholds.from_env(),
                            day_first=None if day_first is None else bool(day_first))  # fmt: skip
        except GateHalted as exc:
            report["profile"] = {"halted": True, "trips": exc.reasons, "json": str(run.run_dir / "profile.json"),
                                 "html": str(run.run_dir / "profile.html")}  # fmt: skip
            raise
        _refuse_undecodable_text(db, prof)
        report["profile"] = {
            "halted": False,
            "trips": [],
            "date_orders": prof["date_orders"],
            "warnings": prof["warnings"],
            "score": prof["score"]["overall"],
            "dimensions": prof["score"]["dimensions"],
            "json": str(run.run_dir / "profile.json"),
            "html": str(run.run_dir / "profile.html"),
        }
        rec["score"] = prof["score"]["overall"]


def _refuse_undecodable_text(db: Path, prof: dict[str, Any]) -> None:
    """Text that cannot be stored as text, on either target: bytes that are not UTF-8 (or a BLOB), and
    NUL bytes (PostgreSQL's text has no room for U+0000). One clear error naming the columns."""
    from orchestrator.profile.scan import iter_columns
    from orchestrator.source.contract import expected_tables

    loaded = {spec.name for spec in expected_tables()}
    columns = [(t["name"], c) for t, c in iter_columns(prof) if t["name"] in loaded]
    problems = []
    for field, what, fix in (("invalid_utf8", "values that are not UTF-8 text", "re-export the file as UTF-8"),
                             ("nul_bytes", "values holding a NUL byte",
                              "PostgreSQL cannot store NUL in text: remove them from the export")):
        bad = [f"{table}.{c['name']} ({c[field]:,})" for table, c in columns if c.get(field)]
        if bad:
            problems.append(f"{what} in {', '.join(bad)}: {fix}")
    if problems:
        raise SourceError(f"{db}: {'; '.join(problems)}")


@dataclass
class RunOutcome:
    report: dict[str, Any]
    summary: list[str]
    error: SdrunError | None


def full(
    source: Path,
    *,
    target_name: str = "dev",
    settings: Settings | None = None,
    dbt_vars: dict[str, Any] | None = None,
    quiet: bool = False,
    deploy_options: Any = None,
) -> RunOutcome:
    settings = settings or Settings.from_env()
    if target_name in ("canary", "prod"):  # PostgreSQL: canary stage and blue-green deploy (deploy.py)
        from orchestrator.deploy.flow import full as deploy_full

        if Path(source).is_dir():  # canary/prod deploy a SQLite file that backups and the ledger can name
            raise UsageError(
                f"{source}: an XLSX folder is imported directly on target dev only; for {target_name} run "
                f"`sdrun import --from {source} --out SOURCE.db` and deploy SOURCE.db"
            )
        outcome = deploy_full(source, target_name=target_name, settings=settings, dbt_vars=dbt_vars, quiet=quiet,
                              options=deploy_options)
        _write_metrics(outcome.report, None)
        return outcome
    target = get_target(target_name, settings)
    source = Path(source)
    run = Run.create(settings.runs_dir, quiet=quiet)
    run.health_paths = [settings.warehouse.parent, settings.backups_dir]
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "run_id": run.run_id,
        "sdrun_version": __version__,
        "target": target.name,
        "started_at": run.started_at,
        "source": {"path": str(source)},
        "steps": run.steps,
        "report_path": str(run.run_dir / "report.json"),
    }
    run.log(f"run {run.run_id}: {source} → {target.describe()}", target=target.name)
    sha_before = source_sha256(source)
    report["source"]["sha256_before"] = sha_before
    error: SdrunError | None = None
    try:
        gate0.preflight_step(run, report, source, target.name, settings, dbt_vars)
        db = source  # the SQLite source the steps read; an XLSX folder is imported into the run first
        if source.is_dir():
            with run.step("import") as rec:
                imported = import_folder(source, run.run_dir / "source.db")
                rec.update(imported.to_dict())
                db = imported.out
        gate0.backup_step(run, report, "backup", db, settings, source_sha256=sha_before if db == source else None)
        with run.step("check") as rec:
            info = check_source(db)
            rec["tables"] = info.tables
            if info.extra_columns:
                rec["extra_columns"] = info.extra_columns
                run.log(f"extra columns ignored: {info.extra_columns}", step="check", level="warning")
        profile_step(run, db, report, dbt_vars)
        with run.step("load") as rec, run.progress("load", "load raw", total=sum(info.tables.values()),
                                                     unit="rows") as bar:
            rec["rows"] = target.load_raw(db, on_table=lambda _table, n: bar.advance(n),
                                          date_orders=report["profile"]["date_orders"])
        with run.step("build") as rec, run.progress("build", "dbt build", unit="nodes") as bar:
            result = run_dbt(
                ["build"],
                work_dir=run.run_dir / "dbt",
                env=target.dbt_env(),
                vars=dbt_vars,
                parse_cache=settings.runs_dir / ".dbt-partial-parse.msgpack",
                on_event=gate0.dbt_event_logger(run, "build", bar),
            )
            rr = run.run_dir / "dbt" / "run_results.build.json"
            if rr.exists():
                rr.replace(run.run_dir / "run_results.json")
            tests = test_figures(result)
            report["tests"] = tests
            rec["returncode"] = result.returncode
            errors = result.model_errors()
            if errors:
                raise StepFailed("dbt build failed: " + "; ".join(errors[:3]))
            if tests["failing"]:
                names = [t["name"] for t in tests["failing"]]
                raise GateHalted(
                    f"{len(names)} dbt test(s) failed: {', '.join(names[:5])}"
                    + (f" and {len(names) - 5} more" if len(names) > 5 else ""),
                    reasons=names,
                )
            if result.returncode != 0:
                raise StepFailed(f"dbt build exited {result.returncode}: see {result.log_path}")
        with run.step("report"):
            report["warehouse"] = warehouse_figures(target.query, target.relation_prefix, target.raw_prefix)
    except GateHalted as exc:
        error = exc
        try:  # the figures help to see why; best effort, the build may not have reached every mart
            report["warehouse"] = warehouse_figures(target.query, target.relation_prefix, target.raw_prefix)
        except Exception as fig_exc:  # noqa: BLE001
            run.log(f"no warehouse figures: {fig_exc}", level="warning")
    except SdrunError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - an unexpected failure still gets a report and one line
        run.log(f"unexpected {type(exc).__name__}", level="error")
        error = StepFailed(f"unexpected {type(exc).__name__}: {exc}")
    finally:
        sha_after = source_sha256(source)
        report["source"]["sha256_after"] = sha_after
        report["source"]["unchanged"] = sha_before == sha_after
        if sha_before != sha_after:
            error = SourceModified(f"{source}: SHA-256 changed during the run ({sha_before} → {sha_after})")
        report["seconds"] = round(time.perf_counter() - t0, 3)
        report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        report["outcome"] = "ok" if error is None else ("halted" if isinstance(error, GateHalted) else "failed")
        report["exit_code"] = 0 if error is None else error.exit_code
        if error is not None:
            report["error"] = str(error)
        run.write_json("report.json", report)
        _write_metrics(report, run)
        run.log(
            f"run {report['outcome']}",
            level="info" if error is None else "error",
            outcome=report["outcome"],
            exit_code=report["exit_code"],
        )
    return RunOutcome(report=report, summary=summary_lines(report), error=error)


def _write_metrics(report: dict[str, Any], run: Run | None) -> None:
    """runs/<run_id>/metrics.prom (+ the node-exporter textfile dir); a failure here never fails the run."""
    from orchestrator.build.metrics import write_metrics

    try:
        write_metrics(report, Path(report["report_path"]).with_name("metrics.prom"))
    except Exception as exc:  # noqa: BLE001
        if run is not None:
            run.log(f"metrics not written: {type(exc).__name__}: {exc}", level="warning")
