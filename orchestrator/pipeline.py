"""`sdrun full`: every gate in order, one run folder, one report.

Steps: check (the source is a readable SQLite export with the expected tables and columns) →
profile (Gate 1, when available) → load raw → dbt build (the tests are the gate) → report.
Whatever happens, the source's SHA-256 is checked unchanged at the end and report.json is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .dbt import run_dbt
from .errors import GateHalted, SdrunError, SourceModified, StepFailed
from .report import summary_lines, test_figures, warehouse_figures
from .runs import Run
from .settings import Settings
from .source import check_source, sha256_file
from .targets import get_target


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
) -> RunOutcome:
    settings = settings or Settings.from_env()
    target = get_target(target_name, settings)
    source = Path(source)
    run = Run.create(settings.runs_dir, quiet=quiet)
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
    sha_before = sha256_file(source) if source.is_file() else None
    report["source"]["sha256_before"] = sha_before
    error: SdrunError | None = None
    try:
        with run.step("check") as rec:
            info = check_source(source)
            rec["tables"] = info.tables
            if info.extra_columns:
                rec["extra_columns"] = info.extra_columns
                run.log(f"extra columns ignored: {info.extra_columns}", step="check", level="warning")
        with run.step("load") as rec:
            rec["rows"] = target.load_raw(source)
        with run.step("build") as rec:
            result = run_dbt(
                ["build"],
                work_dir=run.run_dir / "dbt",
                env=target.dbt_env(),
                vars=dbt_vars,
                parse_cache=settings.runs_dir / ".dbt-partial-parse.msgpack",
                on_line=lambda line: run.log(line, step="build", level="debug"),
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
        sha_after = sha256_file(source) if source.is_file() else None
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
        run.log(
            f"run {report['outcome']}",
            level="info" if error is None else "error",
            outcome=report["outcome"],
            exit_code=report["exit_code"],
        )
    return RunOutcome(report=report, summary=summary_lines(report), error=error)
