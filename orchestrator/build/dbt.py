"""Driving dbt: one invocation at a time, in a subprocess, with every output inside the run folder.

dbt's target/ and logs/ go under `runs/<run_id>/dbt/`, so runs never share state; its console
output goes to `runs/<run_id>/dbt.log` and each line into the run log. The results come from
dbt's own run_results.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.build.dbt_worker import DONE as WORKER_DONE  # the line that ends a command
from orchestrator.core.settings import PROFILES_DIR, PROJECT_DIR

# dbt must not try the network: no usage tracking, no version check.
DBT_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "DBT_VERSION_CHECK": "false",
    "DBT_PARTIAL_PARSE": "true",
}


@dataclass
class TestResult:
    name: str
    status: str  # pass, fail, warn, error, skipped
    failures: int | None
    message: str | None
    severity: str | None = None


@dataclass
class DbtResult:
    command: str
    returncode: int
    results: list[dict[str, Any]] = field(default_factory=list)
    log_path: Path | None = None

    def by_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for r in self.results if r["unique_id"].split(".")[0] == resource_type]

    def tests(self) -> list[TestResult]:
        out = []
        for r in self.results:
            kind = r["unique_id"].split(".")[0]
            if kind not in ("test", "unit_test"):
                continue
            out.append(
                TestResult(
                    name=r["unique_id"].split(".")[2] if kind == "test" else r["unique_id"].split(".", 2)[2],
                    status=r["status"],
                    failures=r.get("failures"),
                    message=r.get("message"),
                )
            )
        return out

    def rows_written(self) -> dict[str, int]:
        """Rows each model built by this command holds, as the database reported it for the statement
        that wrote the table (`CREATE TABLE AS`: dbt's adapter_response.rows_affected); models
        without that figure are left out."""
        out = {}
        for r in self.by_type("model"):
            rows = (r.get("adapter_response") or {}).get("rows_affected")
            if r["status"] == "success" and isinstance(rows, int) and rows >= 0:
                out[r["unique_id"].split(".")[-1]] = rows
        return out

    def model_errors(self) -> list[str]:
        """One line per failed model or seed: its id and the cause (the database's own message when
        dbt gives one, e.g. 'could not extend file ...: No space left on device')."""
        return [
            f"{r['unique_id']}: {error_cause(r.get('message'))}"
            for r in self.results
            if r["unique_id"].split(".")[0] in ("model", "seed", "snapshot") and r["status"] == "error"
        ]


def error_cause(message: str | None) -> str:
    """dbt's 'Database Error in model X (path)' headline is followed by the cause, a HINT and the
    compiled code's path: keep the cause."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return "error"
    causes = [line for line in lines[1:] if not line.startswith(("compiled code at", "HINT:", "DETAIL:"))]
    return causes[0] if causes else lines[0]


def _die_with_parent() -> None:
    """Linux: dbt gets SIGKILL when sdrun dies, so a killed run leaves no dbt still writing."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def parse_event(line: str) -> dict[str, Any] | None:
    """One `--log-format json` console line as dbt's event ({"info": {...}, "data": {...}}), else None."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("info"), dict) or "msg" not in event["info"]:
        return None
    return event


def dbt_executable() -> list[str]:
    exe = Path(sys.executable).with_name("dbt")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]


def _stop(proc: subprocess.Popen[str]) -> None:
    """dbt stops within seconds: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _run_process(cmd: list[str], *, env: dict[str, str], cwd: Path, on_output: Callable[[str], None]) -> int:
    """`dbt <cmd>` as its own process (outside a dbt_session)."""
    proc = subprocess.Popen(
        [*dbt_executable(), *cmd], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        bufsize=1, preexec_fn=_die_with_parent,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            on_output(line)
    except BaseException:  # Ctrl-C, SIGTERM, a failing callback: dbt stops with the run, within seconds
        _stop(proc)
        raise
    return proc.wait()


class DbtWorker:
    """The run's one dbt process (build/dbt_worker.py): dbt imported once, a project parsed once.

    Its command line names the run folder, so that what a run started can be found by it."""

    def __init__(self, label: Path) -> None:
        self.label = label
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", str(Path(__file__).with_name("dbt_worker.py")), str(self.label)],
                cwd=PROJECT_DIR, env={**os.environ, **DBT_ENV}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, bufsize=1, preexec_fn=_die_with_parent,
            )
        return self.proc

    def run(self, cmd: list[str], *, env: dict[str, str], cwd: Path, key: str,
            on_output: Callable[[str], None], derive: dict[str, Any] | None = None) -> int:
        """One dbt command; its exit code as the dbt CLI's. Interrupted (Ctrl-C, SIGTERM, a failing
        callback), the worker is stopped within seconds and the next command starts a new one."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            command: dict[str, Any] = {"args": cmd, "env": env, "cwd": str(cwd), "key": key}
            if derive is not None:
                command["derive"] = derive
            proc.stdin.write(json.dumps(command) + "\n")
            proc.stdin.flush()
            for line in proc.stdout:
                if line.startswith('{"' + WORKER_DONE):
                    return int(json.loads(line)[WORKER_DONE]["returncode"])
                on_output(line)
        except BaseException:
            self.close(graceful=False)
            raise
        self.close(graceful=False)  # it died mid-command (its last lines went to the log)
        return proc.returncode if proc.returncode else 2

    def close(self, graceful: bool = True) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if graceful and proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.close()  # end of input: it exits
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _stop(proc)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()


_session: DbtWorker | None = None


@contextmanager
def dbt_session(label: Path) -> Iterator[None]:
    """Inside, every run_dbt goes to one dbt process (started at the first), stopped on the way out:
    a run imports dbt once, and a build reuses the manifest the run's `dbt parse` made."""
    global _session
    outer, _session = _session, DbtWorker(label)
    try:
        yield
    finally:
        worker, _session = _session, outer
        worker.close()


def start_worker() -> None:
    """Start the session's dbt process now, from this thread. Call it from the main thread before
    handing a dbt command to another thread: the process is started with PR_SET_PDEATHSIG, which
    stops it when the *thread* that started it ends, not only the process."""
    if _session is not None:
        _session._start()


@dataclass(frozen=True)
class DeriveFrom:
    """Another target's parse that a `parse` may copy instead (run_dbt): that target's name, dbt
    environment and vars, and each of its schemas with this target's counterpart."""

    target: str
    env: dict[str, str]
    vars: dict[str, Any]
    schemas: dict[str, str]


def _manifest_key(project_dir: Path, env: dict[str, str] | None, vars: dict[str, Any] | None) -> str:
    """What a parsed manifest depends on: the dbt session keeps it under this key."""
    return json.dumps([str(project_dir), str(PROFILES_DIR), env or {}, vars or {}], sort_keys=True)


def run_dbt(
    args: list[str],
    *,
    work_dir: Path,
    parse_cache: Path | None = None,
    env: dict[str, str] | None = None,
    vars: dict[str, Any] | None = None,
    on_line: Any = None,
    on_event: Any = None,
    project_dir: Path | None = None,
    derive_from: DeriveFrom | None = None,
) -> DbtResult:
    """Run `dbt <args>` from the project directory; returns the parsed run_results.

    `parse_cache`, a file kept between runs, carries dbt's partial-parse state so that a run does
    not parse the whole project again; dbt itself discards it when the project, vars or profile changed.

    dbt runs with `--log-format json`: each console event is parsed; `dbt.log` gets its readable
    line, `on_line(message)` its text and `on_event(event)` the whole structured event (dbt's
    `info` and `data`). `project_dir` defaults to this project.

    `derive_from` (a `parse` in a dbt session only): the manifest is the one the session parsed for
    that other target, moved into this target's schemas (build/dbt_worker.py `derive_manifest`),
    when that parse was made and the move is possible; else dbt parses.
    """
    project_dir = project_dir or PROJECT_DIR
    target_path = work_dir / "target"
    partial = target_path / "partial_parse.msgpack"
    if parse_cache is not None and parse_cache.is_file():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parse_cache, partial)
    log_path = work_dir / "logs"
    cmd = [
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(PROFILES_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--log-format",
        "json",
        "--log-format-file",
        "debug",
        "--no-use-colors",
    ]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    work_dir.mkdir(parents=True, exist_ok=True)
    console = work_dir / "dbt.log"
    with open(console, "a", encoding="utf-8") as out:

        def on_output(line: str) -> None:
            event = parse_event(line)
            text = event["info"]["msg"] if event else line.rstrip("\n")
            out.write((f"{event['info'].get('ts', '')[11:19]}  " if event else "") + text + "\n")
            if on_line is not None:
                on_line(text)
            if on_event is not None and event is not None:
                on_event(event)

        if _session is not None:
            derive = None if derive_from is None else {
                "from": _manifest_key(project_dir, derive_from.env, derive_from.vars),
                "schemas": derive_from.schemas, "target": derive_from.target}
            returncode = _session.run(cmd, env={**DBT_ENV, **(env or {})}, cwd=project_dir,
                                      key=_manifest_key(project_dir, env, vars), on_output=on_output, derive=derive)
        else:
            returncode = _run_process(cmd, env={**os.environ, **DBT_ENV, **(env or {})}, cwd=project_dir,
                                      on_output=on_output)
    if parse_cache is not None and partial.is_file():
        tmp = parse_cache.with_suffix(".tmp")
        shutil.copyfile(partial, tmp)
        tmp.replace(parse_cache)
    results: list[dict[str, Any]] = []
    rr = target_path / "run_results.json"
    if rr.exists():
        results = json.loads(rr.read_text())["results"]
        rr.replace(work_dir / f"run_results.{args[0]}.json")
    return DbtResult(command=" ".join(args), returncode=returncode, results=results, log_path=console)
