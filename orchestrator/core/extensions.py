"""DuckDB extensions, offline.

The machine cannot download extensions, so they come from the PyPI packages
`duckdb-extension-<name>` (same version as duckdb). `ensure_installed()` copies each one into
DuckDB's local extension directory with `INSTALL '<file>'`, once; after that `LOAD <name>` and
autoloading work everywhere, dbt-duckdb included.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

from orchestrator.core.errors import EnvironmentProblem

EXTENSIONS = {
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "excel": "duckdb_extension_excel",
}


def packaged_file(name: str) -> Path:
    """The extension binary shipped by its PyPI package, for this duckdb version."""
    module = importlib.import_module(EXTENSIONS[name])
    base = Path(module.__path__[0]) / "extensions" / f"v{duckdb.__version__}"
    path = base / f"{name}.duckdb_extension"
    if not path.is_file():
        raise EnvironmentProblem(
            f"DuckDB extension {name} for duckdb {duckdb.__version__} not found in package "
            f"{EXTENSIONS[name]} ({path}): reinstall with `make setup`"
        )
    return path


def installed(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select extension_name from duckdb_extensions() where installed").fetchall()
    return {r[0] for r in rows}


def ensure_installed(con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Install every extension that is not yet installed; returns the names installed now."""
    own = con is None
    con = con or duckdb.connect()
    try:
        have = installed(con)
        done = []
        for name in EXTENSIONS:
            if name not in have:
                con.execute(f"INSTALL '{packaged_file(name)}'")
                done.append(name)
        return done
    finally:
        if own:
            con.close()


def load(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load one extension, installing it from its package first if needed."""
    if name not in installed(con):
        con.execute(f"INSTALL '{packaged_file(name)}'")
    con.execute(f"LOAD {name}")
