"""Smaller faults of a dev run and of the read-only commands, with real processes and real locks:

- another program writing the SQLite source (a write lock held past SQLite's busy timeout) before or
  during `sdrun full`: one `Error:` line naming the file, the lock's holder (its PID) and the bounded
  wait, exit 1, the source unchanged;
- another process holding the dev warehouse (DuckDB) open: one `Error:` line naming the file and the
  holder's PID (DuckDB's lock error names it), exit 1;
- a reader that goes away early (`sdrun status | head -1`): no traceback, a sane exit code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .helpers import SDRUN, last_report, sdrun

# the SQLite busy timeout sdrun states (orchestrator/source/contract.py SQLITE_BUSY_TIMEOUT_S)
BUSY_S = 5
# what a locked run may take at most once the lock is there: the wait and the run's own steps around it
BOUND_S = 45.0
# how long a holder keeps its lock: longer than BOUND_S, so that a run that waits for it without a
# bound (SQLite's backup API retries a locked step forever) fails the test instead of finishing
HOLD_S = 150


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def holding(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A separate python process running `code` (which prints 'held' once its lock is taken), killed after."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "held", (line, proc.stderr.read() if proc.stderr else "")
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=30)


SQLITE_WRITER = f"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")  # a writer in the middle of its transaction: readers wait, then give up
print("held", flush=True)
time.sleep({HOLD_S})
"""

DUCKDB_WRITER = f"""
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])  # a DuckDB shell or notebook with the warehouse open for writing
print("held", flush=True)
time.sleep({HOLD_S})
"""


def _start_paused(home: Path, source: Path, point: str) -> tuple[subprocess.Popen[str], Path]:
    """`sdrun full` (dev) held at failpoint `point` (orchestrator/core/failpoints.py); returns the process and
    the marker file whose removal resumes it."""
    env = {**os.environ, "SDRUN_HOME": str(home), "SDRUN_PAUSE_AT": point}
    proc = subprocess.Popen([SDRUN, "full", "--source", str(source), "-q"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    name = "paused." + point.replace(":", "_")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        markers = list((home / "runs").glob(f"*/{name}")) if (home / "runs").exists() else []
        if markers:
            return proc, markers[0]
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before {point}:\n{out}\n{err}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the run never reached {point}")


def _finish(proc: subprocess.Popen[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the run waited for the lock without a bound (still running after {BOUND_S:.0f}s):\n{err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), time.monotonic() - t0


def _one_clear_error(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    assert result.returncode == 1, out[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, errors
    line = errors[0]
    assert "unexpected" not in line, line
    for part in parts:
        assert part in line, (part, line)
    return line


@pytest.fixture
def source(tmp_path: Path, demo_source: Path) -> Path:
    """A copy of the session's demo source: the lock tests lock their own file."""
    path = tmp_path / "q3.db"
    shutil.copyfile(demo_source, path)
    return path


# ------------------------------------------------------------------------------------------------
# the SQLite source locked by a writer
# ------------------------------------------------------------------------------------------------


def test_a_source_locked_before_the_run_is_one_clear_error(tmp_path: Path, source: Path) -> None:
    before = _sha(source)
    with holding(SQLITE_WRITER, str(source)) as writer:
        t0 = time.monotonic()
        result = sdrun("full", "--source", str(source), "-q", home=tmp_path, timeout=int(BOUND_S) + 30)
        took = time.monotonic() - t0
    line = _one_clear_error(result, str(source), "locked", f"PID {writer.pid}", f"{BUSY_S}s")
    assert took < BOUND_S, (took, line)
    assert _sha(source) == before
    report = last_report(tmp_path)
    assert report["outcome"] == "failed" and report["exit_code"] == 1 and report["source"]["unchanged"] is True


@pytest.mark.parametrize("step", ["backup", "profile", "load"])
def test_a_source_locked_during_the_run_is_one_clear_error(tmp_path: Path, source: Path, step: str) -> None:
    """The writer takes its lock while the run waits at the start of `step` (the backup copies the file
    through SQLite's backup API, the profile and the load read it through DuckDB's sqlite scanner)."""
    before = _sha(source)
    proc, marker = _start_paused(tmp_path, source, f"step:{step}")
    try:
        with holding(SQLITE_WRITER, str(source)) as writer:
            marker.unlink()
            result, took = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    line = _one_clear_error(result, str(source), "locked", f"PID {writer.pid}", f"{BUSY_S}s")
    assert took < BOUND_S, (took, line)
    assert _sha(source) == before
    report = last_report(tmp_path)
    assert report["steps"][step]["status"] == "failed" and report["exit_code"] == 1
    assert report["source"]["unchanged"] is True
    if step == "backup":  # the unfinished copy is removed
        assert not [p for p in (tmp_path / "backups").iterdir() if p.name.startswith("source-")]


# ------------------------------------------------------------------------------------------------
# the dev warehouse held open by another process
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before", "build", "report"])
def test_a_warehouse_held_by_another_process_is_one_clear_error(tmp_path: Path, source: Path, when: str) -> None:
    """before: the warehouse is open elsewhere when the run starts (the load cannot open it); build: it is
    opened elsewhere just before dbt builds into it; report: before the run reads the marts' figures."""
    warehouse = tmp_path / "warehouse" / "servicedesk.duckdb"
    warehouse.parent.mkdir(parents=True)
    before = _sha(source)
    if when == "before":
        with holding(DUCKDB_WRITER, str(warehouse)) as holder:
            t0 = time.monotonic()
            result = sdrun("full", "--source", str(source), "-q", home=tmp_path, timeout=int(BOUND_S) + 60)
            took = time.monotonic() - t0
            assert holder.poll() is None  # the other process is left alone
    else:
        proc, marker = _start_paused(tmp_path, source, f"step:{when}")
        try:
            with holding(DUCKDB_WRITER, str(warehouse)) as holder:
                marker.unlink()
                result, took = _finish(proc)
                assert holder.poll() is None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    line = _one_clear_error(result, str(warehouse), "held open", f"PID {holder.pid}")
    assert took < BOUND_S + 30, (took, line)
    assert _sha(source) == before
    report = last_report(tmp_path)
    assert report["outcome"] == "failed" and report["exit_code"] == 1


# ------------------------------------------------------------------------------------------------
# a reader that closes early: `sdrun status | head -1`
# ------------------------------------------------------------------------------------------------


def _into_closed_pipe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run sdrun with its stdout a pipe whose reader has already gone (as `| head -1` once head has
    read its line): the first write fails with EPIPE, every time."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([SDRUN, *args], stdout=w, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    finally:
        os.close(w)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", proc.stderr)


def _quiet_end(result: subprocess.CompletedProcess[str]) -> None:
    """No traceback, no 'Exception ignored' from the flush at exit, no `Error:` line; exit 1 (click's
    code for output that could not be written)."""
    for text in ("Traceback", "Exception ignored", "BrokenPipeError", "Error:"):
        assert text not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, result.stderr[-3000:]


@pytest.mark.parametrize("args", [["profile", "--source", "{source}"], ["preflight", "--source", "{source}"],
                                  ["preflight", "--source", "{source}", "--json"], ["backups", "list"]],
                         ids=["profile", "preflight", "preflight-json", "backups-list"])
def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path, source: Path, args: list[str]) -> None:
    env = {**os.environ, "SDRUN_HOME": str(tmp_path)}
    if args[0] == "backups":
        assert sdrun("backup", "--source", str(source), home=tmp_path).returncode == 0
    result = _into_closed_pipe([a.replace("{source}", str(source)) for a in args], env)
    _quiet_end(result)


@pytest.fixture(scope="module")
def ledger_env(pg_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A database of the private cluster with sdrun's ledger holding 3,000 runs (`history` prints about
    250 kB: far more than a pipe holds, so `| head -1` closes it while sdrun still writes)."""
    import psycopg2

    pg_cluster.create_database("t_small_faults")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SDRUN_"))}
    env.update(pg_cluster.env("t_small_faults"))
    env["SDRUN_HOME"] = str(tmp_path_factory.mktemp("sdrun-home"))
    setup = subprocess.run([SDRUN, "setup-db"], capture_output=True, text=True, env=env, timeout=120)
    assert setup.returncode == 0, setup.stderr
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], dbname=env["PGDATABASE"])
    try:
        with con.cursor() as cur:
            cur.execute("insert into sdrun_meta.runs (run_id, target, source_path, source_sha256, outcome, "
                        "finished_at, counts) "
                        "select 'R' || lpad(g::text, 6, '0'), 'prod', '/exports/q' || g || '.db', md5(g::text), "
                        "'ok', now(), '{\"tickets\": 10}' from generate_series(1, 3000) g")
        con.commit()
    finally:
        con.close()
    return env


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["history", "--limit", "3000"],
                                  ["history", "--limit", "3000", "--json"]],
                         ids=["status", "status-json", "history", "history-json"])
def test_postgres_commands_into_a_closed_pipe_end_quietly(ledger_env: dict[str, str], args: list[str]) -> None:
    _quiet_end(_into_closed_pipe(args, ledger_env))


def test_history_piped_into_head_ends_quietly(ledger_env: dict[str, str]) -> None:
    """The shell's own `sdrun history | head -1`: head reads one line and exits while sdrun writes."""
    result = subprocess.run(["bash", "-c", f"'{SDRUN}' history --limit 3000 | head -1; exit ${{PIPESTATUS[0]}}"],
                            capture_output=True, text=True, env=ledger_env, timeout=300)
    assert result.stdout.startswith("run_id") and result.stdout.count("\n") == 1, result.stdout[:500]
    _quiet_end(result)


def test_a_run_whose_log_reader_goes_away_still_reports_its_true_outcome(tmp_path: Path, source: Path) -> None:
    """`sdrun full ... 2>&1 | head -1`: the reader of the progress lines goes away. The run must either
    complete or fail, but its report.json and exit code must say what really happened."""
    r, w = os.pipe()
    os.close(r)
    env = {**os.environ, "SDRUN_HOME": str(tmp_path)}
    try:
        proc = subprocess.run([SDRUN, "full", "--source", str(source)], stdout=subprocess.PIPE, stderr=w, text=True,
                              env=env, timeout=600)
    finally:
        os.close(w)
    report = last_report(tmp_path)
    assert proc.returncode == report["exit_code"], (proc.returncode, report.get("outcome"), report.get("error"))
    if report["outcome"] == "ok":
        assert report["steps"]["build"]["status"] == "ok", report["steps"]
