"""Where things live: the dbt project, runs, the dev warehouse, backups.

Every location can be moved by an environment variable, so tests and users can run several
copies side by side: SDRUN_HOME (runs/, backups/, warehouse/ default under it), SDRUN_RUNS_DIR,
SDRUN_WAREHOUSE (the DuckDB file of target `dev`), SDRUN_BACKUPS_DIR. Schema names are made in
targets/schemas.py, target names in targets/__init__.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROFILES_DIR = PROJECT_DIR / "profiles"



def duckdb_memory_limit() -> str:
    """DuckDB's memory limit for every connection sdrun opens (profiles.yml reads the same variable).
    DuckDB's process goes past it by a few hundred MB on large joins; 320MB keeps a 10-million-row
    run under 1 GiB (docs/benchmarks.md). The price is speed: 700MB built the dev target 10-20%
    faster (scale 10: 32.6 s against 40.0 s) but peaked at 1.3 GiB at scale 40. Raise it on a
    machine with memory to spare (docs/operations.md)."""
    return os.environ.get("SDRUN_DUCKDB_MEMORY_LIMIT", "320MB")


@dataclass(frozen=True)
class Settings:
    home: Path
    runs_dir: Path
    warehouse: Path
    backups_dir: Path

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("SDRUN_HOME", PROJECT_DIR)).resolve()
        runs = Path(os.environ.get("SDRUN_RUNS_DIR", home / "runs")).resolve()
        wh = Path(os.environ.get("SDRUN_WAREHOUSE", home / "warehouse" / "servicedesk.duckdb")).resolve()
        backups = Path(os.environ.get("SDRUN_BACKUPS_DIR", home / "backups")).resolve()
        return cls(home=home, runs_dir=runs, warehouse=wh, backups_dir=backups)
