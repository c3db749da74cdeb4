"""Where raw data is loaded and dbt builds: the Target protocol and the registry of targets.

    dev      DuckDB, the embedded warehouse file (targets/duckdb.py)
    canary   PostgreSQL, a ~10% sample in the canary schemas (targets/postgres.py)
    prod     PostgreSQL, the next version's schemas, swapped in by the deploy (orchestrator/deploy/)

The names are those of profiles/profiles.yml. `get_target` is the one place that checks a name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from orchestrator.core.errors import UsageError
from orchestrator.core.settings import Settings
from orchestrator.targets.duckdb import DuckDBTarget
from orchestrator.targets.postgres import PostgresTarget
from orchestrator.targets.schemas import SchemaSet


class Target(Protocol):
    """What every step needs of a target: load raw, dbt's environment and vars, and queries."""

    name: str
    kind: str  # the engine: duckdb | postgres
    schemas: SchemaSet
    sample: bool

    def load_raw(self, source: Path, on_table: Callable[[str, int], None] | None = None,
                 date_orders: list[dict[str, Any]] | None = None, copy_from: str | None = None) -> dict[str, int]: ...

    @property
    def relation_prefix(self) -> str: ...

    @property
    def raw_prefix(self) -> str: ...

    def dbt_env(self) -> dict[str, str]: ...

    def dbt_vars(self) -> dict[str, Any]: ...

    def query(self, sql: str) -> Sequence[Sequence[Any]]: ...

    def describe(self) -> str: ...


# name -> (engine, how to make the target a run builds into)
REGISTRY: dict[str, tuple[str, Callable[[Settings], Target]]] = {
    "dev": ("duckdb", lambda settings: DuckDBTarget(warehouse=settings.warehouse)),
    "canary": ("postgres", lambda _settings: PostgresTarget("canary", SchemaSet.canary(), sample=True)),
    "prod": ("postgres", lambda _settings: PostgresTarget("prod", SchemaSet.building())),
}
NAMES = tuple(REGISTRY)


def check_name(name: str) -> str:
    if name not in REGISTRY:
        raise UsageError(f"unknown target {name!r}: choose one of {', '.join(NAMES)}")
    return name


def engine(name: str) -> str:
    """duckdb or postgres."""
    return REGISTRY[check_name(name)][0]


def get_target(name: str, settings: Settings) -> Target:
    """The target a run of `name` builds into (prod: the next version's schemas, not the live ones)."""
    return REGISTRY[check_name(name)][1](settings)
