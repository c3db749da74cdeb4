"""The one build-and-test gate: `dbt build` on a target, where every dbt test is the gate.

A model error fails the step (exit 1); an error-severity test failure halts the run (exit 3) and
nothing is published. dbt's partial-parse state is kept per target between runs (`parse_cache`),
so a run parses no more than what changed; the preflight's `dbt parse` uses the same file, and inside
a run (build/dbt.py `dbt_session`) the build runs on the manifest that parse made, with no parse of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.build.dbt import run_dbt
from orchestrator.build.report import test_figures
from orchestrator.core.errors import GateHalted, StepFailed
from orchestrator.core.progress import Progress
from orchestrator.core.runs import Run
from orchestrator.core.settings import Settings

if TYPE_CHECKING:
    from orchestrator.targets import Target


def parse_cache(settings: Settings, target_name: str) -> Path:
    """The file holding dbt's partial-parse state for a target's builds."""
    return settings.runs_dir / (".dbt-partial-parse.msgpack" if target_name == "dev"
                                else f".dbt-partial-parse.{target_name}.msgpack")


def build_and_test(run: Run, step: str, rec: dict[str, Any], target: Target, settings: Settings,
                   dbt_vars: dict[str, Any] | None, *, work_dir: Path, results_name: str,
                   on_tests: Callable[[dict[str, Any]], None], bar: Progress | None = None,
                   unit_tests_from: Path | None = None) -> dict[str, Any]:
    """Run `dbt build` into `target` (inside step `step`, whose record is `rec`); dbt's events go to
    the run log. `on_tests(figures)` gets the test figures before any failure is raised.
    Returns the test figures (report.test_figures).

    `unit_tests_from`: the run_results of a build of this run, same project and vars (prod's canary
    stage), whose unit tests all passed. dbt's unit tests read only their own fixtures, never the
    loaded data, so they are not run again: their results count among this build's tests."""
    carried = passed_unit_tests(unit_tests_from) if unit_tests_from is not None else None
    result = run_dbt(
        ["build"] + (["--exclude", "resource_type:unit_test"] if carried else []),
        work_dir=work_dir,
        env=target.dbt_env(),
        vars={**(dbt_vars or {}), **target.dbt_vars()},
        parse_cache=parse_cache(settings, target.name),
        on_event=dbt_event_logger(run, step, bar),
    )
    rr = work_dir / "run_results.build.json"
    if rr.exists():
        rr.replace(run.run_dir / results_name)
    if carried and unit_tests_from is not None:
        result.results = carried + result.results
        rec["unit_tests_from"] = unit_tests_from.name
    tests = test_figures(result)
    on_tests(tests)
    rec["returncode"] = result.returncode
    rec["rows_written"] = result.rows_written()
    errors = result.model_errors()
    if errors:
        raise StepFailed(f"{step}: dbt build failed: " + "; ".join(errors[:3]))
    if tests["failing"]:
        names = [t["name"] for t in tests["failing"]]
        raise GateHalted(
            f"{len(names)} dbt test(s) failed on {target.schemas.marts}: {', '.join(names[:5])}"
            + (f" and {len(names) - 5} more" if len(names) > 5 else ""),
            reasons=names,
        )
    if result.returncode != 0:
        raise StepFailed(f"dbt build exited {result.returncode}: see {result.log_path}")
    return tests


def passed_unit_tests(run_results: Path) -> list[dict[str, Any]] | None:
    """The unit tests' results in a run_results file, when there are some and every one passed; else
    None (they run again)."""
    try:
        results = json.loads(run_results.read_text(encoding="utf-8"))["results"]
    except (OSError, ValueError, KeyError):
        return None
    units = [r for r in results if r["unique_id"].startswith("unit_test.")]
    if not units or any(r["status"] != "pass" for r in units):
        return None
    return units


DBT_LEVELS = {"debug": "debug", "info": "debug", "warn": "warning", "error": "error"}


def dbt_event_logger(run: Run, step: str, bar: Progress | None = None) -> Callable[[dict[str, Any]], None]:
    """An `on_event` for run_dbt: each dbt event becomes a structured record of the run log
    (source "dbt", its event name, node and status); node results advance `bar`."""

    def on_event(event: dict[str, Any]) -> None:
        info, data = event["info"], event.get("data") or {}
        fields: dict[str, Any] = {"source": "dbt", "dbt_event": info.get("name"), "dbt_ts": info.get("ts"),
                                  "dbt_pid": info.get("pid")}  # one dbt process per run (build/dbt_worker.py)
        node = data.get("node_info") or {}
        if node.get("unique_id"):
            fields["node"] = node["unique_id"]
            if node.get("node_status"):
                fields["node_status"] = node["node_status"]
        for key in ("status", "index", "total", "num_models", "execution_time", "num_failures"):
            if key in data:
                fields[key] = data[key]
        level = DBT_LEVELS.get(str(info.get("level")), "debug")
        run.log(str(info.get("msg", "")).rstrip(), step=step, level=level, **fields)
        name = str(info.get("name", ""))
        total = data.get("total") or data.get("num_models")  # LogTestResult calls it num_models
        if bar is not None and total and "index" in data and name.endswith("Result"):
            bar.update(bar.done + 1, total)

    return on_event
