"""Gate 2, load raw: a verbatim text copy of the source tables into the target's `raw` schema.

Every column is copied as text (SQLite's declared types are not trusted) with `source_row`, the
row's SQLite rowid, in front. The three tables are replaced in one transaction, so a run killed
here leaves the previous raw data whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import extensions, health
from .settings import RAW_SCHEMA, duckdb_memory_limit
from .source import expected_tables


@dataclass
class LoadResult:
    rows: dict[str, int]


def attach_source(con: duckdb.DuckDBPyConnection, source: Path, alias: str = "src") -> None:
    """Attach the SQLite source read-only with every column read as text."""
    extensions.load(con, "sqlite_scanner")
    con.execute("SET sqlite_all_varchar = true")
    path = str(Path(source).resolve()).replace("'", "''")
    con.execute(f"ATTACH '{path}' AS {alias} (TYPE sqlite, READ_ONLY)")


def load_raw_duckdb(
    source: Path, warehouse: Path, on_table: Callable[[str, int], None] | None = None
) -> LoadResult:
    """`on_table(name, rows)` after each table. A health watchdog (health.py) interrupts the load
    when free disk or memory runs low: the transaction rolls back and ResourceLow is raised."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        str(warehouse), config={"memory_limit": duckdb_memory_limit(), "preserve_insertion_order": False}
    )
    try:
        attach_source(con, source)
        with health.Watchdog([warehouse.parent], on_trip=con.interrupt, where="during the load"):
            con.execute("BEGIN")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
            rows = {}
            for spec in expected_tables():
                con.execute(
                    f'CREATE OR REPLACE TABLE {RAW_SCHEMA}."{spec.name}" AS '
                    f'SELECT rowid AS source_row, * FROM src."{spec.name}"'
                )
                (rows[spec.name],) = con.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{spec.name}"').fetchall()[0]
                if on_table is not None:
                    on_table(spec.name, rows[spec.name])
            con.execute("COMMIT")
        con.execute("DETACH src")
        return LoadResult(rows=rows)
    finally:
        con.close()
