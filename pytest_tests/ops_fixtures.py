"""One real `sdrun full` (dev, DuckDB) shared by the operability tests (metrics, logs, health).

Import the fixture into a test module: `from .ops_fixtures import ops_run  # noqa: F401`.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import sdrun


@dataclass
class OpsRun:
    home: Path
    source: Path
    run_dir: Path
    textfile_dir: Path
    proc: subprocess.CompletedProcess[str]

    @property
    def report(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "report.json").read_text())


@pytest.fixture(scope="session")
def ops_run(tmp_path_factory: pytest.TempPathFactory, demo_source: Path) -> OpsRun:
    home = tmp_path_factory.mktemp("ops-home")
    textfile_dir = home / "textfile"
    proc = sdrun("full", "--source", str(demo_source), home=home, env={"SDRUN_METRICS_TEXTFILE_DIR": str(textfile_dir)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p for p in (home / "runs").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 1
    return OpsRun(home=home, source=demo_source, run_dir=runs[0], textfile_dir=textfile_dir, proc=proc)
