"""Gate 0 inside `sdrun full`: preflight, then the source backup, as steps of the run on every target;
and dbt's events into the run log. Their lines land in log.jsonl (and, unless quiet, on stderr).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.core.progress import Progress
from orchestrator.core.settings import Settings
from orchestrator.run import preflight
from orchestrator.source.backups import backup_source

if TYPE_CHECKING:
    from orchestrator.core.runs import Run

LEVELS = {preflight.PASS: "debug", preflight.WARN: "warning", preflight.FAIL: "error"}


def preflight_step(run: Run, report: dict[str, Any], source: Path, target_name: str, settings: Settings,
                   dbt_vars: dict[str, Any] | None = None) -> None:
    """Step `preflight`: every check, each logged; raises PreflightFailed (exit 1) on any FAIL, else
    report["preflight"] gets the JSON."""

    def on_check(c: preflight.Check) -> None:
        run.log(f"{c.status} {c.name}: {c.detail}", step="preflight", level=LEVELS[c.status], check=c.name,
                status=c.status)  # fmt: skip

    with run.step("preflight") as rec:
        checks = preflight.run_checks(source, target_name, settings, dbt_vars=dbt_vars, on_check=on_check)
        doc = preflight.to_json(checks, source, target_name)
        n = doc["counts"]
        run.log(f"preflight: {n['PASS']} passed, {n['WARN']} warning(s), {n['FAIL']} failed", step="preflight", **n)
        preflight.raise_on_fail(checks)
        report["preflight"] = doc
        rec["counts"] = n


def backup_step(run: Run, report: dict[str, Any], step: str, source: Path, settings: Settings, *,
                source_sha256: str | None = None) -> None:
    """Step `step`: back the source up (or reuse a verified backup of the same SHA-256);
    report[step] gets its summary."""
    with run.step(step) as rec:
        with run.progress(step, "backup", unit="bytes") as bar:
            backup, made = backup_source(
                source, settings.backups_dir, source_sha256=source_sha256, reuse=True,
                progress=lambda done, total: bar.update(done, total),
            )  # fmt: skip
        m = backup.manifest
        if made:
            run.log(f"source backed up to {backup.folder} ({m['bytes'] / (1 << 20):,.1f} MB in {m['seconds']:.2f}s, "
                    f"sha256 {m['sha256'][:12]}…)", step=step, path=str(backup.folder))  # fmt: skip
        else:
            run.log(f"source already backed up in {backup.folder} (same SHA-256, checksum verified)", step=step,
                    path=str(backup.folder))  # fmt: skip
        report[step] = {"path": str(backup.folder), "created": made, "bytes": m["bytes"], "sha256": m["sha256"],
                        "source_sha256": m["source_sha256"]}  # fmt: skip
        rec.update(report[step])


DBT_LEVELS = {"debug": "debug", "info": "debug", "warn": "warning", "error": "error"}


def dbt_event_logger(run: Any, step: str, bar: Progress | None = None) -> Callable[[dict[str, Any]], None]:
    """An `on_event` for run_dbt: each dbt event becomes a structured record of the run log
    (source "dbt", its event name, node and status); node results advance `bar`."""

    def on_event(event: dict[str, Any]) -> None:
        info, data = event["info"], event.get("data") or {}
        fields: dict[str, Any] = {"source": "dbt", "dbt_event": info.get("name"), "dbt_ts": info.get("ts")}
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
