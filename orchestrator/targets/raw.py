"""Gate 2, load raw, the part every target shares: beside the verbatim text copy of the source
tables goes `date_orders`, the day/month order the profile decided per column and shape
(profile.date_orders), which the staging models read. Each target copies the tables its own way
(targets/duckdb.py, targets/postgres.py), always through `source.read.source_select`.
"""

from __future__ import annotations

from typing import Any

import duckdb

DATE_ORDERS_TABLE = "date_orders"
DATE_ORDERS_COLUMNS = "table_name varchar, column_name varchar, shape varchar, day_first boolean, reason varchar"



def write_date_orders(con: duckdb.DuckDBPyConnection, relation: str, orders: list[dict[str, Any]] | None) -> None:
    """The profile's day/month decisions (profile.date_orders) as table `relation` (always created,
    empty when the export has no slash dates: the staging models read it)."""
    con.execute(f"CREATE TABLE {relation} ({DATE_ORDERS_COLUMNS})")
    rows = [(o["table"], o["column"], o["shape"], bool(o["day_first"]), o["reason"]) for o in orders or []]
    if rows:
        con.executemany(f"INSERT INTO {relation} VALUES (?, ?, ?, ?, ?)", rows)
