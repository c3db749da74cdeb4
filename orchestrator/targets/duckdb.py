"""Target `dev`: the embedded DuckDB warehouse, one file; marts in schema `servicedesk`.

Its raw load is a verbatim text copy of the source tables into schema `raw` (see source/read.py for
how each value is read), replaced in one transaction, so a run killed here leaves the previous raw
data whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orchestrator.core import health
from orchestrator.core.errors import EnvironmentProblem
from orchestrator.core.settings import duckdb_memory_limit
from orchestrator.source.contract import expected_tables
from orchestrator.source.read import attach_source, source_select
from orchestrator.targets.raw import DATE_ORDERS_TABLE, write_date_orders
from orchestrator.targets.schemas import SchemaSet


@dataclass
class DuckDBTarget:
    """The warehouse is one DuckDB file; the schemas are the live set's names."""

    warehouse: Path
    name: str = "dev"
    schemas: SchemaSet = field(default_factory=SchemaSet.live)
    kind = "duckdb"
    sample = False

    def load_raw(self, source: Path, on_table: Callable[[str, int], None] | None = None,
                 date_orders: list[dict[str, Any]] | None = None, copy_from: str | None = None) -> dict[str, int]:
        if copy_from is not None:
            raise ValueError("the DuckDB target loads from the source only")
        return load_raw_duckdb(source, self.warehouse, on_table=on_table, date_orders=date_orders)

    @property
    def relation_prefix(self) -> str:
        """How SQL names the marts' schema. The DuckDB catalog is named after the file
        (servicedesk), like the schema, so a bare `servicedesk.tickets` would be ambiguous."""
        return f'"{self.warehouse.stem}"."{self.schemas.marts}"'

    @property
    def raw_prefix(self) -> str:
        return f'"{self.warehouse.stem}"."{self.schemas.raw}"'

    def dbt_env(self) -> dict[str, str]:
        return {"SDRUN_TARGET": self.name, "SDRUN_WAREHOUSE": str(self.warehouse), **self.schemas.dbt_env()}

    def dbt_vars(self) -> dict[str, Any]:
        return {}  # the raw schema is the sources' default

    def query(self, sql: str) -> Sequence[Sequence[Any]]:
        con = connect_warehouse(self.warehouse, read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def describe(self) -> str:
        return f"DuckDB {self.warehouse}"


def warehouse_locked(warehouse: Path, exc: BaseException) -> EnvironmentProblem:
    """The one line for a warehouse another process holds open: DuckDB's lock error names the holder's
    program and PID (exit 1). DuckDB does not wait for a file lock, and neither does sdrun."""
    m = re.search(r"[Cc]onflicting lock is held in (.*?) \(PID (\d+)\)", str(exc))
    who = f"PID {m.group(2)} ({m.group(1)})" if m else "another process"
    return EnvironmentProblem(
        f"{warehouse}: the dev warehouse is held open by {who}; while a process has a DuckDB file open "
        "for writing no other can open it, and sdrun does not wait for it: close that program (a DuckDB "
        "shell, a notebook, a BI tool, another sdrun run), then run again"
    )


def _is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def connect_warehouse(warehouse: Path, *, read_only: bool = False,
                      config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the dev warehouse; another process holding the file is one clear error."""
    try:
        return duckdb.connect(str(warehouse), read_only=read_only, config=config or {})
    except duckdb.IOException as exc:
        if _is_lock_conflict(exc):
            raise warehouse_locked(warehouse, exc) from exc
        raise


def check_warehouse_free(warehouse: Path) -> None:
    """Raise the clear EnvironmentProblem when another process holds the warehouse open (dbt is about
    to open it, or just failed to): the file is opened and closed at once, no query is run."""
    if warehouse.is_file():
        connect_warehouse(warehouse).close()


def load_raw_duckdb(
    source: Path,
    warehouse: Path,
    on_table: Callable[[str, int], None] | None = None,
    date_orders: list[dict[str, Any]] | None = None,
) -> dict[str, int]:
    """`on_table(name, rows)` after each table. A health watchdog (core/health.py) interrupts the load
    when free disk or memory runs low: the transaction rolls back and ResourceLow is raised."""
    raw = SchemaSet.live().raw
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect_warehouse(
        warehouse, config={"memory_limit": duckdb_memory_limit(), "preserve_insertion_order": False}
    )
    try:
        attach_source(con, source)
        with health.Watchdog([warehouse.parent], on_trip=con.interrupt, where="during the load"):
            con.execute("BEGIN")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {raw}")
            rows = {}
            for spec in expected_tables():
                con.execute(f'CREATE OR REPLACE TABLE {raw}."{spec.name}" AS {source_select(con, spec.name)}')
                (rows[spec.name],) = con.execute(f'SELECT count(*) FROM {raw}."{spec.name}"').fetchall()[0]
                if on_table is not None:
                    on_table(spec.name, rows[spec.name])
            con.execute(f"DROP TABLE IF EXISTS {raw}.{DATE_ORDERS_TABLE}")
            write_date_orders(con, f"{raw}.{DATE_ORDERS_TABLE}", date_orders)
            con.execute("COMMIT")
        con.execute("DETACH src")
        return rows
    finally:
        con.close()
