"""Targets (profiles/profiles.yml): where raw data is loaded and dbt builds.

`dev` is the embedded DuckDB warehouse file. PostgreSQL targets (canary, prod) plug in here with
the same three operations: load raw, the environment dbt needs, and queries for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from orchestrator.core.errors import UsageError
from orchestrator.core.settings import LIVE_SCHEMA, RAW_SCHEMA, TARGETS, Settings
from orchestrator.targets.raw import load_raw_duckdb


@dataclass
class DuckDBTarget:
    """Target `dev`: the warehouse is one DuckDB file; marts in schema `servicedesk`."""

    warehouse: Path
    name: str = "dev"
    schema: str = LIVE_SCHEMA
    raw_schema: str = RAW_SCHEMA

    def load_raw(self, source: Path, on_table: Callable[[str, int], None] | None = None,
                 date_orders: list[dict[str, Any]] | None = None) -> dict[str, int]:
        return load_raw_duckdb(source, self.warehouse, on_table=on_table, date_orders=date_orders).rows

    @property
    def relation_prefix(self) -> str:
        """How SQL names the marts' schema. The DuckDB catalog is named after the file
        (servicedesk), like the schema, so a bare `servicedesk.tickets` would be ambiguous."""
        return f'"{self.warehouse.stem}"."{self.schema}"'

    @property
    def raw_prefix(self) -> str:
        return f'"{self.warehouse.stem}"."{self.raw_schema}"'

    def dbt_env(self) -> dict[str, str]:
        return {"SDRUN_TARGET": self.name, "SDRUN_WAREHOUSE": str(self.warehouse), "SDRUN_SCHEMA": self.schema}

    def query(self, sql: str) -> Sequence[Sequence[Any]]:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def describe(self) -> str:
        return f"DuckDB {self.warehouse}"


def get_target(name: str, settings: Settings) -> DuckDBTarget:
    if name not in TARGETS:
        raise UsageError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    if name == "dev":
        return DuckDBTarget(warehouse=settings.warehouse)
    raise UsageError(f"target {name!r} (PostgreSQL) is not available in this version yet")
