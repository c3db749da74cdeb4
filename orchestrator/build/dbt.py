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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
) -> DbtResult:
    """Run `dbt <args>` from the project directory; returns the parsed run_results.

    `parse_cache`, a file kept between runs, carries dbt's partial-parse state so that a run does
    not parse the whole project again; dbt itself discards it when the project, vars or profile changed.

    dbt runs with `--log-format json`: each console event is parsed; `dbt.log` gets its readable
    line, `on_line(message)` its text and `on_event(event)` the whole structured event (dbt's
    `info` and `data`). `project_dir` defaults to this project.
    """
    project_dir = project_dir or PROJECT_DIR
    target_path = work_dir / "target"
    partial = target_path / "partial_parse.msgpack"
    if parse_cache is not None and parse_cache.is_file():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parse_cache, partial)
    log_path = work_dir / "logs"
    cmd = [
        *dbt_executable(),
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
    full_env = {**os.environ, **DBT_ENV, **(env or {})}
    work_dir.mkdir(parents=True, exist_ok=True)
    console = work_dir / "dbt.log"
    with open(console, "a", encoding="utf-8") as out:
        proc = subprocess.Popen(
            cmd, cwd=project_dir, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            preexec_fn=_die_with_parent,
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                event = parse_event(line)
                text = event["info"]["msg"] if event else line.rstrip("\n")
                out.write((f"{event['info'].get('ts', '')[11:19]}  " if event else "") + text + "\n")
                if on_line is not None:
                    on_line(text)
                if on_event is not None and event is not None:
                    on_event(event)
        except BaseException:  # Ctrl-C, SIGTERM, a failing callback: dbt stops with the run, within seconds
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        returncode = proc.wait()
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
