"""Grafana's PostgreSQL macros, expanded as Grafana's server does, so panel SQL can be run and tested.

Mirrors Grafana's `pkg/tsdb/grafana-postgresql-datasource/macros.go` (non-TimescaleDB) and the
global variables its SQL engine replaces first (`pkg/tsdb/sqleng`):

| macro | becomes |
|---|---|
| `$__time(c)` | `c AS "time"` |
| `$__timeEpoch(c)` | `extract(epoch from c) as "time"` |
| `$__timeFilter(c)` | `c BETWEEN '<from RFC 3339, UTC>' AND '<to>'` |
| `$__timeFrom()`, `$__timeTo()` | `'<from>'`, `'<to>'` |
| `$__timeGroup(c, '1d'[, fill])` | `floor(extract(epoch from c)/86400)*86400` |
| `$__timeGroupAlias(c, '1d'[, fill])` | the same, then ` AS "time"` |
| `$__unixEpochFilter(c)` | `c >= <from epoch s> AND c <= <to epoch s>` |
| `$__unixEpochGroup(c, '1h')`, `…Alias` | `floor((c)/3600)*3600` (`AS "time"`) |
| `$__unixEpochNanoFilter(c)`, `…NanoFrom()`, `…NanoTo()` | in nanoseconds |
| `$__unixEpochFrom()`, `$__unixEpochTo()` | epoch seconds |
| `$__interval`, `$__interval_ms` | the panel's interval (`1h`, `3600000`) |

As in Grafana, `$__timeGroup(c, i)` directly followed by a comma gets the alias too (pre-5.3
compatibility), arguments are split on commas and trimmed, and an unknown macro is an error.

`time_range` reads a dashboard's default range (its `time.from` / `time.to`) as Grafana's dateMath
does: relative (`now`, `now-2y`, `now-30d`, `now/d`) or absolute (`2000-01-01T00:00:00.000Z`, or
epoch milliseconds), so a test runs the panels over the range a dashboard opens with.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class MacroError(ValueError):
    pass


def rfc3339nano(t: datetime) -> str:
    """Go's time.RFC3339Nano for a UTC time: trailing zeros of the fraction dropped, 'Z' suffix."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += "." + f"{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_interval(text: str) -> float:
    """Seconds in a Grafana interval such as '1d', '5m', '30s', '1w' (gtime.ParseInterval's units)."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip().strip("'"))
    if not m:
        raise MacroError(f"error parsing interval {text}")
    return int(m.group(1)) * UNITS[m.group(2)]


def go_float(seconds: float) -> str:
    """Go's %v for a float64: 86400 → '86400', 1.5 → '1.5'."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def _evaluate(name: str, args: list[str], start: datetime, end: datetime) -> str:
    def need_column() -> str:
        if not args or not args[0]:
            raise MacroError(f"missing time column argument for macro {name}")
        return args[0]

    if name == "__time":
        return f'{need_column()} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {need_column()}) as "time"'
    if name == "__timeFilter":
        return f"{need_column()} BETWEEN '{rfc3339nano(start)}' AND '{rfc3339nano(end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339nano(start)}'"
    if name == "__timeTo":
        return f"'{rfc3339nano(end)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        if len(args) < 2:
            raise MacroError(f"macro {name} needs time column and interval and optional fill value")
        s = go_float(parse_interval(args[1]))
        expr = f"floor(extract(epoch from {args[0]})/{s})*{s}"
        return expr + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        col = need_column()
        return f"{col} >= {int(start.timestamp())} AND {col} <= {int(end.timestamp())}"
    if name == "__unixEpochNanoFilter":
        col = need_column()
        return f"{col} >= {_nanos(start)} AND {col} <= {_nanos(end)}"
    if name == "__unixEpochNanoFrom":
        return str(_nanos(start))
    if name == "__unixEpochNanoTo":
        return str(_nanos(end))
    if name == "__unixEpochFrom":
        return str(int(start.timestamp()))
    if name == "__unixEpochTo":
        return str(int(end.timestamp()))
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        if len(args) < 2:
            raise MacroError(f"macro {name} needs time column and interval and optional fill value")
        s = go_float(parse_interval(args[1]))
        expr = f"floor(({args[0]})/{s})*{s}"
        return expr + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise MacroError(f"unknown macro {name!r}")


def _nanos(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def expand(sql: str, start: datetime, end: datetime, interval: timedelta = timedelta(hours=1)) -> str:
    """The SQL Grafana sends to PostgreSQL for a panel query over [start, end] (aware datetimes)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise MacroError("start and end must be timezone-aware")
    ms = int(interval.total_seconds() * 1000)
    sql = sql.replace("$__interval_ms", str(ms)).replace("$__interval", _interval_text(interval))

    def repl(m: re.Match[str]) -> str:
        name, raw = m.group(1), m.group(2)
        if name == "__timeGroup" and sql[m.end() : m.end() + 1] == ",":
            name = "__timeGroupAlias"
        args = [a.strip(" ") for a in raw.split(",")]
        return _evaluate(name, args, start, end)

    out = MACRO.sub(repl, sql)
    leftover = re.search(r"\$__[a-zA-Z]+|\$\{?[a-zA-Z_]+\}?", out)
    if leftover:
        raise MacroError(f"unexpanded variable {leftover.group(0)!r}")
    return out


def _interval_text(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


DATEMATH = re.compile(r"now((?:[+-]\d+[yMwdhms])*)(?:/([yMdhms]))?")
_STEP = re.compile(r"([+-])(\d+)([yMwdhms])")
_SPAN = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1),
         "s": timedelta(seconds=1)}


def _add_months(t: datetime, months: int) -> datetime:
    y, m = divmod(t.month - 1 + months, 12)
    year, month = t.year + y, m + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return t.replace(year=year, month=month, day=min(t.day, days[month - 1]))


def _round(t: datetime, unit: str, *, up: bool) -> datetime:
    """dateMath's `/unit`: the start of the unit (`from`), or its last millisecond (`to`)."""
    t = t.replace(microsecond=0)
    start = {
        "y": t.replace(month=1, day=1, hour=0, minute=0, second=0),
        "M": t.replace(day=1, hour=0, minute=0, second=0),
        "d": t.replace(hour=0, minute=0, second=0),
        "h": t.replace(minute=0, second=0),
        "m": t.replace(second=0),
        "s": t,
    }[unit]
    if not up:
        return start
    nxt = _add_months(start, 12) if unit == "y" else _add_months(start, 1) if unit == "M" else start + _SPAN[unit]
    return nxt - timedelta(milliseconds=1)


def parse_time(text: str, now: datetime, *, is_end: bool = False) -> datetime:
    """One end of a dashboard's time range as Grafana reads it (dateMath.parse): `now` with steps
    (`now-2y`, `now-30d+1h`) and rounding (`now/d`; `to` rounds up to the end of the unit), an ISO
    8601 time, or epoch milliseconds. Returns an aware UTC datetime."""
    text = text.strip()
    m = DATEMATH.fullmatch(text)
    if m:
        t = now.astimezone(UTC)
        for sign, n, unit in _STEP.findall(m.group(1)):
            k = int(n) * (1 if sign == "+" else -1)
            t = _add_months(t, 12 * k) if unit == "y" else _add_months(t, k) if unit == "M" else t + k * _SPAN[unit]
        return _round(t, m.group(2), up=is_end) if m.group(2) else t
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MacroError(f"not a Grafana time: {text!r}") from None
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


def time_range(time: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """A dashboard's default range (`{"from": ..., "to": ...}`) at `now`."""
    return parse_time(time["from"], now), parse_time(time["to"], now, is_end=True)
