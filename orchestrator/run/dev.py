"""`sdrun full` on target dev (DuckDB): every gate in order, one run folder, one report.

Steps: preflight (Gate 0: machine and input fit for the run; any FAIL stops here, exit 1) →
import (an XLSX folder only: into a SQLite source in the run folder) → backup (a verified copy of
the SQLite source in backups/) → check (the source is a readable SQLite export with the expected
tables and columns) → profile (Gate 1) → load raw → dbt build (the tests are the gate) → report.
The run skeleton (run/skeleton.py) checks the source's SHA-256 unchanged at the end and writes
report.json and metrics.prom whatever happens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.build.gate import build_and_test
from orchestrator.build.report import warehouse_figures
from orchestrator.core.errors import GateHalted, StepFailed
from orchestrator.core.settings import Settings
from orchestrator.run import steps
from orchestrator.run.skeleton import RunContext, RunOutcome, execute
from orchestrator.source.xlsx import import_folder
from orchestrator.targets import get_target
from orchestrator.targets.duckdb import check_warehouse_free


def full(source: Path, *, settings: Settings, dbt_vars: dict[str, Any] | None = None,
         quiet: bool = False) -> RunOutcome:
    target = get_target("dev", settings)

    def body(ctx: RunContext) -> None:
        run, report = ctx.run, ctx.report
        parse = steps.preflight_step(run, report, ctx.source, target.name, settings, dbt_vars)
        db = ctx.source  # the SQLite source the steps read; an XLSX folder is imported into the run first
        if ctx.source.is_dir():
            with run.step("import") as rec:
                imported = import_folder(ctx.source, run.run_dir / "source.db")
                rec.update(imported.to_dict())
                db = imported.out
        steps.backup_step(run, report, "backup", db, settings,
                          source_sha256=ctx.sha_before if db == ctx.source else None)
        info = steps.check_step(run, db, refuse_empty=False,
                                sha256=ctx.sha_before if db == ctx.source else None)
        steps.profile_step(run, db, report, dbt_vars)
        steps.parse_step(run, report, parse)
        steps.load_step(run, "load", target, db, report, sum(info.tables.values()))
        try:
            with run.step("build") as rec, run.progress("build", "dbt build", unit="nodes") as bar:
                # another process holding the warehouse open: one clear line, not dbt's traceback
                check_warehouse_free(settings.warehouse)
                try:
                    build_and_test(run, "build", rec, target, settings, dbt_vars, work_dir=run.run_dir / "dbt",
                                   results_name="run_results.json", on_tests=lambda t: report.update(tests=t),
                                   bar=bar)  # fmt: skip
                except StepFailed:
                    check_warehouse_free(settings.warehouse)  # taken between the check and dbt's connection
                    raise
        except GateHalted:
            try:  # the figures help to see why; best effort, the build may not have reached every mart
                report["warehouse"] = warehouse_figures(target.query, target.relation_prefix, target.raw_prefix)
            except Exception as fig_exc:  # noqa: BLE001
                run.log(f"no warehouse figures: {fig_exc}", level="warning")
            raise
        with run.step("report"):
            report["warehouse"] = warehouse_figures(target.query, target.relation_prefix, target.raw_prefix)

    return execute(source, target_name=target.name, settings=settings, quiet=quiet, describe=target.describe(),
                   body=body, health_paths=[settings.warehouse.parent, settings.backups_dir])
