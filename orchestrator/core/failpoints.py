"""Failpoints for fault-injection tests: hold a run at a named point, so that a test can kill it,
stop its database or replace its source at a known moment instead of racing it.

Inert unless ``SDRUN_PAUSE_AT`` is set (comma-separated points). The points:

- ``step:<name>``: a step has started (its start line is logged), e.g. ``step:swap``
- ``<prefix>load:<table>``: the PostgreSQL load has copied this table, e.g. ``load:tickets``

At a point the run logs ``paused at <point>``, creates ``<run folder>/paused.<point>`` and waits
until that file is removed (the test resumes it) or ``SDRUN_PAUSE_SECONDS`` (default 120) pass.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Protocol


class Run(Protocol):
    """What a failpoint needs of a run (core/runs.py Run): its folder and its log."""

    run_dir: Path

    def log(self, message: str, *, step: str | None = None, level: str = "info", **fields: Any) -> None: ...


def pause(point: str, run: Run) -> None:
    wanted = os.environ.get("SDRUN_PAUSE_AT", "")
    if not wanted or point not in {p.strip() for p in wanted.split(",")}:
        return
    marker = run.run_dir / f"paused.{point.replace(':', '_')}"
    marker.touch()
    run.log(f"paused at {point} (remove {marker} to go on)", level="warning", point=point)
    deadline = time.monotonic() + float(os.environ.get("SDRUN_PAUSE_SECONDS", "120"))
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    marker.unlink(missing_ok=True)
