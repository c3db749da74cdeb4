"""Reading the SQLite source exactly: DuckDB attaches it read-only with every column as text, and
`source_select` gives each value as SQLite writes it (a REAL with the 15, 16 or 17 significant digits
that read back as the same float8: SQLite's own text keeps only 15, so 13/60 would come back as
0.216666666666667). The profile and every raw load read the source through these two.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestrator.core import extensions
from orchestrator.source.contract import quote_ident


def attach_source(con: duckdb.DuckDBPyConnection, source: Path, alias: str = "src") -> None:
    """Attach the SQLite source read-only with every column read as text. A read waits at most 5s for
    another program's write lock (the sqlite scanner's busy timeout, as SQLITE_BUSY_TIMEOUT_S), then
    fails with 'database is locked' (contract.is_locked; run/steps.py makes it one clear line)."""
    extensions.load(con, "sqlite_scanner")
    con.execute("SET sqlite_all_varchar = true")
    path = str(Path(source).resolve()).replace("'", "''")
    con.execute(f"ATTACH '{path}' AS {alias} (TYPE sqlite, READ_ONLY)")


def source_select(con: duckdb.DuckDBPyConnection, table: str, alias: str = "src") -> str:
    """DuckDB SQL reading `table` of the attached SQLite source as text, `source_row` first.
    SQLite itself writes each value as text (sqlite_query): a REAL as the shortest of 15, 16 or 17
    significant digits that reads back as the same float8; every other value as SQLite's text."""
    cols = [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? ORDER BY column_index",
        [alias, table]).fetchall()]  # fmt: skip
    exprs = ["rowid AS source_row"]
    for c in cols:
        x = quote_ident(c)
        exprs.append(
            f"CASE WHEN typeof({x}) <> 'real' OR CAST(CAST({x} AS TEXT) AS REAL) = {x} THEN CAST({x} AS TEXT) "
            f"WHEN CAST(printf('%!.16g', {x}) AS REAL) = {x} THEN printf('%!.16g', {x}) "
            f"ELSE printf('%!.17g', {x}) END AS {x}"
        )
    inner = f"SELECT {', '.join(exprs)} FROM {quote_ident(table)}".replace("'", "''")
    outer = "SELECT CAST(source_row AS BIGINT) AS source_row, * EXCLUDE (source_row)"
    return f"{outer} FROM sqlite_query('{alias}', '{inner}')"
