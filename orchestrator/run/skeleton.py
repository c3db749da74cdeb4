"""The one run skeleton every `sdrun full` goes through, on every target.

It makes the run (its id, folder and log), hashes the source before and after, turns whatever the
flow raised into the run's outcome and exit code (Ctrl-C and SIGTERM included: `interrupted`,
exit 130 / 143, core/signals.py), and always writes `report.json` and
`metrics.prom`, however the run ended: a failure gets a report and one line, never a traceback.
The flows (run/dev.py, deploy/flow.py) only say what happens in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.build.dbt import dbt_session
from orchestrator.build.metrics import write_metrics
from orchestrator.build.report import summary_lines
from orchestrator.core import signals
from orchestrator.core.errors import GateHalted, Interrupted, SdrunError, SourceError, SourceModified, StepFailed
from orchestrator.core.runs import Run
from orchestrator.core.settings import Settings
from orchestrator.source.xlsx import source_sha256


@dataclass
class RunOutcome:
    report: dict[str, Any]
    summary: list[str]
    error: SdrunError | None


@dataclass
class RunContext:
    """What a flow's body works with: the run, its report (filled as the steps go), the source."""

    run: Run
    report: dict[str, Any]
    source: Path
    settings: Settings
    sha_before: str | None
    state: dict[str, Any] = field(default_factory=dict)  # the flow's own, for its on_finish


def execute(
    source: Path,
    *,
    target_name: str,
    settings: Settings,
    quiet: bool,
    describe: str,
    body: Callable[[RunContext], None],
    health_paths: list[Path],
    report_fields: dict[str, Any] | None = None,
    on_finish: Callable[[RunContext], None] | None = None,
    summary: Callable[[dict[str, Any]], list[str]] = summary_lines,
) -> RunOutcome:
    """Run `body` as one run into target `target_name`. `on_finish(ctx)` runs once the outcome is
    known, before report.json is written (the deploy records it in its ledger there)."""
    source = Path(source)
    run = Run.create(settings.runs_dir, quiet=quiet)
    run.health_paths = health_paths  # free disk there (and memory) is checked before every step
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "run_id": run.run_id,
        "sdrun_version": __version__,
        "target": target_name,
        **(report_fields or {}),
        "started_at": run.started_at,
        "source": {"path": str(source)},
        "steps": run.steps,
        "report_path": str(run.run_dir / "report.json"),
    }
    run.log(f"run {run.run_id}: {source} → {describe}", target=target_name)
    sha_before = source_sha256(source)
    report["source"]["sha256_before"] = sha_before
    ctx = RunContext(run=run, report=report, source=source, settings=settings, sha_before=sha_before)
    error: SdrunError | None = None
    try:
        with signals.stop_on_sigterm(), dbt_session(run.run_dir):  # one dbt process for the whole run
            body(ctx)
    except SdrunError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - an unexpected failure still gets a report and one line
        error = StepFailed(f"unexpected {type(exc).__name__}: {exc}")
        run.log(f"unexpected {type(exc).__name__}: {exc}", level="error")
    except (KeyboardInterrupt, signals.Terminated) as exc:  # the flow's own cleanup has run (finally blocks)
        error = signals.as_interrupted(exc)
    finally:
        sha_after = source_sha256(source)
        report["source"]["sha256_after"] = sha_after
        report["source"]["unchanged"] = sha_before == sha_after
        if sha_before != sha_after and not isinstance(error, SourceError):  # a SourceError already said so
            error = SourceModified(f"{source}: SHA-256 changed during the run ({sha_before} → {sha_after})")
        report["seconds"] = round(time.perf_counter() - t0, 3)
        report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if error is None:
            report["outcome"] = "unchanged" if report.get("unchanged") else "ok"
        elif isinstance(error, Interrupted):
            report["outcome"] = "interrupted"
        else:
            report["outcome"] = "halted" if isinstance(error, GateHalted) else "failed"
        report["exit_code"] = 0 if error is None else error.exit_code
        if error is not None:
            report["error"] = str(error)
        if on_finish is not None:
            try:
                on_finish(ctx)
            except Exception as exc:  # noqa: BLE001 - the report is still written
                run.log(f"finishing the run failed: {type(exc).__name__}: {exc}", level="warning")
        run.write_json("report.json", report)
        try:  # runs/<run_id>/metrics.prom (+ the node-exporter textfile dir); never fails the run
            write_metrics(report, run.run_dir / "metrics.prom")
        except Exception as exc:  # noqa: BLE001
            run.log(f"metrics not written: {type(exc).__name__}: {exc}", level="warning")
        run.log(f"run {report['outcome']}", level="info" if error is None else "error",
                outcome=report["outcome"], exit_code=report["exit_code"])
    return RunOutcome(report=report, summary=summary(report), error=error)
