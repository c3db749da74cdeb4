"""Gate 1's configuration: the project's sentinels and day/month default (dbt_project.yml), and the
circuit breaker's thresholds (options, SDRUN_BREAKER_<NAME>)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.core.errors import UsageError
from orchestrator.core.settings import PROJECT_DIR

SCHEMA_VERSION = 1
DEFAULT_SENTINELS = ["N/A", "n/a", "NA", "-", "--", "NULL", "null", "None", "#N/A", "#N/B", "?", "none"]

# DuckDB's memory limit for the profile (SDRUN_PROFILE_MEMORY_LIMIT); beyond it DuckDB spills to disk.
# benchmarks/profile_bench.py at scales 10 / 40 (2026-12-06): 256MB 9.2 / 34.8 s, peak 321 / 476 MiB;
# 512MB 7.7 / 28.7 s, 353 / 561 MiB; 1GB 7.5 / 29.1 s, 398 / 865 MiB. Under 512MB the comments'
# (column, value) groups and the per-group figures no longer fit, and the spilling costs a fifth.
DEFAULT_MEMORY_LIMIT = "512MB"
# A type is detected when at least this share of a column's present values fit it.
DETECT_MIN_SHARE = 0.5
# Excel stores dates as days since 1899-12-30; these bounds are 2000-01-01 and 2099-12-31.
EXCEL_SERIAL_MIN, EXCEL_SERIAL_MAX = 36526, 73051
BOOLEAN_WORDS = ("true", "false", "yes", "no", "y", "n", "t", "f")
WHITESPACE = " \t\r\n\u00a0"


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectSettings:
    """What the dbt project declares once: the day/month order and the sentinel values."""

    day_first: bool
    sentinels: list[str]
    day_first_from: str
    sentinels_from: str


def project_settings(project_dir: Path = PROJECT_DIR) -> ProjectSettings:
    """What the dbt project declares once: `vars.day_first` and `vars.sentinels` in dbt_project.yml
    (the sentinels may instead come from a seed seeds/sentinel_values.csv, column `value`).
    Falls back to day-first and DEFAULT_SENTINELS when neither is declared."""
    day_first, day_from = True, "default"
    sentinels, sent_from = list(DEFAULT_SENTINELS), "default"
    yml = project_dir / "dbt_project.yml"
    if yml.is_file():
        project_vars = (yaml.safe_load(yml.read_text()) or {}).get("vars") or {}
        if project_vars.get("day_first") is not None:
            day_first, day_from = _as_bool(project_vars["day_first"], "day_first"), f"{yml} (vars.day_first)"
        if project_vars.get("sentinels"):
            sentinels, sent_from = [str(v) for v in project_vars["sentinels"]], f"{yml} (vars.sentinels)"
    seed = project_dir / "seeds" / "sentinel_values.csv"
    if sent_from == "default" and seed.is_file():
        with open(seed, newline="", encoding="utf-8") as f:
            found = [r["value"] for r in csv.DictReader(f) if r.get("value")]
        if found:
            sentinels, sent_from = found, str(seed)
    return ProjectSettings(day_first, sentinels, day_from, sent_from)


def _as_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise UsageError(f"{name}: expected true or false, got {value!r}")


@dataclass(frozen=True)
class Thresholds:
    """The circuit breaker's limits (defaults from the reference deployment)."""

    max_unparseable_date_share: float = 0.20
    max_type_mismatch_share: float = 0.10
    min_score: float = 80.0
    halt_on_order_conflict: bool = True

    ENV_PREFIX = "SDRUN_BREAKER_"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Thresholds:
        """Defaults, overridden by SDRUN_BREAKER_<FIELD> variables, overridden by non-None `overrides`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, default in asdict(cls()).items():
            raw = env.get(cls.ENV_PREFIX + name.upper())
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = _as_bool(raw, name) if isinstance(default, bool) else float(raw)
            except ValueError:
                raise UsageError(f"{cls.ENV_PREFIX + name.upper()}={raw!r}: not a number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        t = cls(**values)
        for name in ("max_unparseable_date_share", "max_type_mismatch_share"):
            if not 0 <= getattr(t, name) <= 1:
                raise UsageError(f"breaker threshold {name} must be a share between 0 and 1")
        if not 0 <= t.min_score <= 100:
            raise UsageError("breaker threshold min_score must be between 0 and 100")
        return t


def iter_columns(profile: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (table, column) of a profile."""
    for t in profile["tables"]:
        for c in t["columns"]:
            yield t, c
