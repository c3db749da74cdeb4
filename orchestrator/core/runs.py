"""A run: its id, its folder `runs/<run_id>/`, its steps with durations, and its log.

The log is JSON lines (`log.jsonl`): run id, step, level, message and fields, one object a line.
People read the same events as short lines on stderr.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.core import failpoints, health, signals
from orchestrator.core.redact import redact

if TYPE_CHECKING:
    from orchestrator.core.progress import Progress


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a short random suffix, e.g. 20261122T081500Z_3f9a."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "_" + secrets.token_hex(2)


@dataclass
class Run:
    run_id: str
    run_dir: Path
    quiet: bool = False
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # Folders the run writes to: free disk there (and memory) is checked before every step (core/health.py).
    health_paths: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, runs_dir: Path, quiet: bool = False) -> Run:
        run_id = new_run_id()
        run_dir = runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=False)
        return cls(run_id=run_id, run_dir=run_dir, quiet=quiet)

    @property
    def log_path(self) -> Path:
        return self.run_dir / "log.jsonl"

    def log(self, message: str, *, step: str | None = None, level: str = "info", **fields: Any) -> None:
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "run_id": self.run_id,
            "step": step,
            "level": level,
            "message": message,
            **fields,
        }
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(redact(json.dumps(record, default=str)) + "\n")
        if not self.quiet and level != "debug":
            prefix = f"[{step}] " if step else ""
            try:
                print(redact(f"{prefix}{message}"), file=sys.stderr, flush=True)
            except BrokenPipeError:  # the reader of the progress lines went away: the log file keeps them all
                self.quiet = True

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a step; its record (status, seconds, and anything the body adds) goes to the report."""
        record: dict[str, Any] = {"status": "running"}
        self.steps[name] = record
        self.log(f"{name} ...", step=name)
        t0 = time.perf_counter()
        try:
            health.check([self.run_dir, *self.health_paths], where=f"before step {name}")
            failpoints.pause(f"step:{name}", self)
            yield record
        except BaseException as exc:
            interrupted = signals.as_interrupted(exc)
            record["status"] = "interrupted" if interrupted else "failed"
            record["error"] = str(interrupted or exc)
            raise
        else:
            record["status"] = "ok"
        finally:
            record["seconds"] = round(time.perf_counter() - t0, 3)
            self.log(
                f"{name} {record['status']} in {record['seconds']:.1f}s",
                step=name,
                level="info" if record["status"] == "ok" else "error",
                seconds=record["seconds"],
            )

    def progress(self, step: str, description: str, *, total: float | None = None, unit: str = "") -> Progress:
        """A progress bar on a terminal, else a log line every few seconds (core/progress.py)."""
        from orchestrator.core.progress import Progress

        return Progress(description, total=total, unit=unit, enabled=not self.quiet,
                        log=lambda message: self.log(message, step=step))

    def write_json(self, name: str, payload: Any) -> Path:
        path = self.run_dir / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(redact(json.dumps(payload, indent=2, default=str)) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path
