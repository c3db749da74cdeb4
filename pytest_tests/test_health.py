"""Health: low disk or memory stops the run before it runs out, exit 1, with the live data untouched."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import duckdb
import pytest

from orchestrator.core import health
from orchestrator.core.errors import UsageError
from orchestrator.core.progress import Progress
from orchestrator.source.contract import sha256_file
from orchestrator.targets.duckdb import load_raw_duckdb

from .helpers import sdrun
from .ops_fixtures import OpsRun, ops_run  # noqa: F401 - the shared run fixture


def mart_counts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            t: con.execute(f"select count(*) from servicedesk.servicedesk.{t}").fetchone()[0]
            for t in ("tickets", "comments", "timesheets", "quarantine", "audit_changes")
        }
    finally:
        con.close()


def test_low_disk_stops_full_with_exit_1_and_the_warehouse_untouched(
    ops_run: OpsRun,  # noqa: F811
) -> None:
    warehouse = ops_run.home / "warehouse" / "servicedesk.duckdb"
    before_sha, before_counts = sha256_file(warehouse), mart_counts(warehouse)
    runs_before = set((ops_run.home / "runs").iterdir())
    proc = sdrun(
        "full", "--source", str(ops_run.source), home=ops_run.home, env={"SDRUN_MIN_FREE_DISK_MB": str(10**12)}
    )
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "SDRUN_MIN_FREE_DISK_MB" in error[0] and "nothing was published" in error[0]
    assert sha256_file(warehouse) == before_sha
    assert mart_counts(warehouse) == before_counts
    (new_run,) = set((ops_run.home / "runs").iterdir()) - runs_before
    report = json.loads((new_run / "report.json").read_text())
    assert report["outcome"] == "failed" and report["exit_code"] == 1
    assert "load" not in report["steps"] and "build" not in report["steps"]
    assert 'sdrun_run_outcome{target="dev",outcome="failed"} 1' in (new_run / "metrics.prom").read_text()


def test_low_memory_stops_full_with_exit_1(ops_run: OpsRun) -> None:  # noqa: F811
    proc = sdrun(
        "full", "--source", str(ops_run.source), home=ops_run.home, env={"SDRUN_MIN_FREE_MEMORY_MB": str(10**12)}
    )
    assert proc.returncode == 1
    assert "SDRUN_MIN_FREE_MEMORY_MB" in proc.stderr


def test_load_refuses_to_start_on_low_disk_and_keeps_raw(
    ops_run: OpsRun,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse = ops_run.home / "warehouse" / "servicedesk.duckdb"
    before = sha256_file(warehouse)
    monkeypatch.setenv("SDRUN_MIN_FREE_DISK_MB", str(10**12))
    with pytest.raises(health.ResourceLow, match="before during the load|during the load"):
        load_raw_duckdb(ops_run.source, warehouse)
    assert sha256_file(warehouse) == before


def test_watchdog_interrupts_a_running_duckdb_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk runs low while a long statement runs: the watchdog interrupts it and raises ResourceLow."""
    monkeypatch.setenv("SDRUN_HEALTH_INTERVAL", "0.05")
    con = duckdb.connect()
    free = health.free_disk_mb(Path.cwd())

    def disk_fills_up() -> None:
        time.sleep(0.3)
        monkeypatch.setenv("SDRUN_MIN_FREE_DISK_MB", str(int(free) * 10 + 10**6))

    t0 = time.monotonic()
    threading.Thread(target=disk_fills_up).start()
    with (
        pytest.raises(health.ResourceLow, match="SDRUN_MIN_FREE_DISK_MB"),
        health.Watchdog([Path.cwd()], on_trip=con.interrupt, where="during test"),
    ):
        con.execute("select count(*) from range(1000000000000) a where a.range % 7 = 3").fetchall()
    assert time.monotonic() - t0 < 60
    con.close()


def test_thresholds_reject_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDRUN_MIN_FREE_DISK_MB", "lots")
    with pytest.raises(UsageError, match="SDRUN_MIN_FREE_DISK_MB"):
        health.ResourceLimits.from_env()


def test_progress_logs_lines_when_not_on_a_terminal() -> None:
    lines: list[str] = []
    with Progress("load raw", total=300, unit="rows", log=lines.append, terminal=False, every=0) as bar:
        for _ in range(3):
            bar.advance(100)
    assert lines[-1].startswith("load raw: 300/300 rows (100%), ")
    assert "rows/s" in lines[-1] and "ETA" in lines[0]
