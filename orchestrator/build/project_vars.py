"""`--var NAME=VALUE`: the dbt project's variables, checked before anything runs.

A variable's form is that of its default in dbt_project.yml (`vars:`): a boolean, a number, a list
of texts, a date or timestamp, a time zone, a schema name. A value of another form, or a name the
project does not declare, is a usage error (exit 2) that says the expected form, never something
dbt or the SQL would trip over later (a YAML date object, a scalar taken as a list of letters, a
quote inside a timestamp).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import yaml

from orchestrator.core.errors import UsageError
from orchestrator.core.settings import PROJECT_DIR

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$")
IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ZONE_VARS = {"source_timezone"}
SCHEMA_VARS = {"raw_schema"}


def project_defaults() -> dict[str, Any]:
    doc = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    return dict(doc.get("vars") or {})


def _expected(name: str, default: Any) -> str:
    if name in ZONE_VARS:
        return "an IANA time zone name such as Europe/Amsterdam"
    if name in SCHEMA_VARS:
        return "a schema name (lower-case letters, digits, _)"
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number" + (" from 0 to 1" if name.endswith("_share") else "")
    if isinstance(default, list):
        return 'a list of texts, e.g. \'["n/a", "-"]\''
    if isinstance(default, str) and TIMESTAMP_RE.match(default):
        return "a date or timestamp, e.g. 2000-01-01 or 2000-01-01 00:00:00"
    return "a text"


def check_value(name: str, value: Any, default: Any) -> Any:
    """The value in the form dbt gets it, or UsageError naming the expected form."""
    bad = UsageError(f"--var {name}={value!r}: expected {_expected(name, default)}")
    if name in ZONE_VARS:
        try:
            zoneinfo.ZoneInfo(str(value))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise bad from None
        return str(value)
    if name in SCHEMA_VARS:
        if not isinstance(value, str) or not IDENT_RE.match(value):
            raise bad
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        if name.endswith("_share") and not 0 <= value <= 1:
            raise bad
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return value
    if isinstance(default, str) and TIMESTAMP_RE.match(default):
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, dt.date):
            return value.isoformat()
        if not isinstance(value, str) or not TIMESTAMP_RE.match(value.strip()):
            raise bad
        return value.strip()
    if not isinstance(value, str):
        raise bad
    return value


def parse_vars(pairs: list[str]) -> dict[str, Any]:
    """`["day_first=false"]` → {"day_first": False}. Values are read as YAML, then checked against
    the form of the project's default."""
    defaults = project_defaults()
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--var {pair!r}: expected NAME=VALUE")
        if key not in defaults:
            raise UsageError(f"--var {key}: not a variable of the project (dbt_project.yml vars: "
                             f"{', '.join(sorted(defaults))})")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UsageError(f"--var {pair!r}: the value is not valid YAML; expected "
                             f"{_expected(key, defaults[key])}") from None
        out[key] = check_value(key, value, defaults[key])
    return out
