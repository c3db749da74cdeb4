"""Gate 2, load raw: a verbatim text copy of the source tables into the target's `raw` schema.

Every column is copied as text (SQLite's declared types are not trusted) with `source_row`, the
row's SQLite rowid, in front. A REAL value becomes the text that reads back as the same float8
(SQLite's own text keeps only 15 digits: 13/60 would come back as 0.216666666666667). Beside the
tables goes `date_orders`, the day/month order the profile decided per column and shape
(profile.date_orders), which the staging models read. The tables are replaced in one
transaction, so a run killed here leaves the previous raw data whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from orchestrator.core import extensions, health
from orchestrator.core.settings import RAW_SCHEMA, duckdb_memory_limit
from orchestrator.source.contract import expected_tables


@dataclass
class LoadResult:
    rows: dict[str, int]


def attach_source(con: duckdb.DuckDBPyConnection, source: Path, alias: str = "src") -> None:
    """Attach the SQLite source read-only with every column read as text."""
    extensions.load(con, "sqlite_scanner")
    con.execute("SET sqlite_all_varchar = true")
    path = str(Path(source).resolve()).replace("'", "''")
    con.execute(f"ATTACH '{path}' AS {alias} (TYPE sqlite, READ_ONLY)")


DATE_ORDERS_TABLE = "date_orders"
DATE_ORDERS_COLUMNS = "table_name varchar, column_name varchar, shape varchar, day_first boolean, reason varchar"


def _sqlite_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def source_select(con: duckdb.DuckDBPyConnection, table: str, alias: str = "src") -> str:
    """DuckDB SQL reading `table` of the attached SQLite source as text, `source_row` first.
    SQLite itself writes each value as text (sqlite_query): a REAL as the shortest of 15, 16 or 17
    significant digits that reads back as the same float8; every other value as SQLite's text."""
    cols = [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? ORDER BY column_index",
        [alias, table]).fetchall()]  # fmt: skip
    exprs = ["rowid AS source_row"]
    for c in cols:
        x = _sqlite_ident(c)
        exprs.append(
            f"CASE WHEN typeof({x}) <> 'real' OR CAST(CAST({x} AS TEXT) AS REAL) = {x} THEN CAST({x} AS TEXT) "
            f"WHEN CAST(printf('%!.16g', {x}) AS REAL) = {x} THEN printf('%!.16g', {x}) "
            f"ELSE printf('%!.17g', {x}) END AS {x}"
        )
    inner = f"SELECT {', '.join(exprs)} FROM {_sqlite_ident(table)}".replace("'", "''")
    outer = "SELECT CAST(source_row AS BIGINT) AS source_row, * EXCLUDE (source_row)"
    return f"{outer} FROM sqlite_query('{alias}', '{inner}')"


def write_date_orders(con: duckdb.DuckDBPyConnection, relation: str, orders: list[dict[str, Any]] | None) -> None:
    """The profile's day/month decisions (profile.date_orders) as table `relation` (always created,
    empty when the export has no slash dates: the staging models read it)."""
    con.execute(f"CREATE TABLE {relation} ({DATE_ORDERS_COLUMNS})")
    rows = [(o["table"], o["column"], o["shape"], bool(o["day_first"]), o["reason"]) for o in orders or []]
    if rows:
        con.executemany(f"INSERT INTO {relation} VALUES (?, ?, ?, ?, ?)", rows)


def load_raw_duckdb(
    source: Path,
    warehouse: Path,
    on_table: Callable[[str, int], None] | None = None,
    date_orders: list[dict[str, Any]] | None = None,
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
                con.execute(f'CREATE OR REPLACE TABLE {RAW_SCHEMA}."{spec.name}" AS {source_select(con, spec.name)}')
                (rows[spec.name],) = con.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{spec.name}"').fetchall()[0]
                if on_table is not None:
                    on_table(spec.name, rows[spec.name])
            con.execute(f"DROP TABLE IF EXISTS {RAW_SCHEMA}.{DATE_ORDERS_TABLE}")
            write_date_orders(con, f"{RAW_SCHEMA}.{DATE_ORDERS_TABLE}", date_orders)
            con.execute("COMMIT")
        con.execute("DETACH src")
        return LoadResult(rows=rows)
    finally:
        con.close()
