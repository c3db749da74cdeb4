"""Gate 1, profile: read every value of every column of a SQLite file, report what it really holds,
score its quality and decide whether the run may go on (the circuit breaker).

How it reads (docs/profile.md has the details and every formula):

* DuckDB attaches the file read-only with every column as text (`orchestrator.load.attach_source`).
  Per table, one aggregate query classifies every value (NULL, empty, whitespace-only, sentinel,
  integer, real, boolean word, date-like, text) and computes all columns' counters at once; a second
  query over the date-like values only groups them by their *shape* (digits as 9) to find every date
  format, the day/month evidence and the minimum and maximum of the parsed values. Duplicate keys and
  orphans take one query each where a key or a reference is known.
* SQLite itself counts each value's storage class (`typeof`), in a thread beside DuckDB: DuckDB's
  typed scan refuses mixed columns, which is exactly what must be counted here.
* Only streaming aggregates are used and DuckDB runs under a memory limit (spilling to a temporary
  directory), so memory does not grow with the rows.

The declared type of a column is reported and compared, never trusted.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from .errors import GateHalted, SourceError, UsageError
from .settings import PROJECT_DIR

SCHEMA_VERSION = 1
DBT_PROJECT_YML = PROJECT_DIR / "dbt_project.yml"
SENTINELS_CSV = PROJECT_DIR / "seeds" / "sentinel_values.csv"
DEFAULT_SENTINELS = ["N/A", "n/a", "NA", "-", "--", "NULL", "null", "None", "#N/A", "#N/B", "?", "none"]

# A type is detected when at least this share of a column's present values fit it.
DETECT_MIN_SHARE = 0.5
# Tables up to this many rows get an exact distinct count; larger ones a HyperLogLog estimate.
EXACT_DISTINCT_MAX_ROWS = 1_000_000
# Excel stores dates as days since 1899-12-30; these bounds are 2000-01-01 and 2099-12-31.
EXCEL_SERIAL_MIN, EXCEL_SERIAL_MAX = 36526, 73051
BOOLEAN_WORDS = ("true", "false", "yes", "no", "y", "n", "t", "f")
WHITESPACE = " \t\r\n\u00a0"

# References between the servicedesk tables (child table, column) -> (parent table, key column).
SERVICEDESK_REFERENCES = {
    ("comments", "CT-TKT-ID"): ("tickets", "TKT-Ticket ID"),
    ("timesheets", "TS-Crm ID"): ("tickets", "TKT-Ticket ID"),
}

# --- regular expressions (RE2 syntax inside DuckDB) -------------------------------------------------

RE_INTEGER = r"[+-]?\d+"
RE_REAL_DOT = r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+"
RE_REAL_COMMA = r"[+-]?\d+,\d+"
_MONTHS = (
    "january|february|march|april|june|july|august|september|october|november|december|"
    "sept|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
)
_RE_MONTH = rf"(?i:{_MONTHS})"
_NUMERIC_DATE = "|".join(
    [rf"\d{{4}}{s}\d{{1,2}}{s}\d{{1,2}}" for s in ("-", "/", r"\.")]
    + [rf"\d{{1,2}}{s}\d{{1,2}}{s}(?:\d{{4}}|\d{{2}})" for s in ("-", "/", r"\.")]
)
_NAMED_DATE = rf"\d{{1,2}}[- ]{_RE_MONTH}[- ](?:\d{{4}}|\d{{2}})|{_RE_MONTH} \d{{1,2}},? \d{{4}}"
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?: ?[AaPp][Mm])?)?"
_ZONE = r"(?:Z| ?[+-]\d{2}:?\d{2})?"
RE_DATE = rf"(?:{_NUMERIC_DATE}|{_NAMED_DATE}){_TIME}{_ZONE}"
# parts of a date-like value
RE_LEADING_ZERO = r"^0\d|^\d{1,4}[-/.]0\d|^\d{4}[-/.]\d{1,2}[-/.]0\d|[ T]0\d:"
RE_YEAR_FIRST = r"^\d{4}[-/.]"
RE_DAY_MONTH = r"^\d{1,2}[-/.]\d"
RE_NUM_DATE_PARTS = r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})"
RE_NAMED1_PARTS = r"^(\d{1,2})[- ]([A-Za-z]+)[- ](\d{2,4})"
RE_NAMED2_PARTS = r"^([A-Za-z]+) (\d{1,2}),? (\d{4})"
RE_TIME_PARTS = r"[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"

# value classes computed in SQL
K_NULL, K_EMPTY, K_WS, K_SENTINEL, K_INT, K_REAL_DOT, K_REAL_COMMA, K_BOOL, K_DATE, K_TEXT = range(10)


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectSettings:
    """What the dbt project declares once: the day/month order and the sentinel values."""

    day_first: bool
    sentinels: list[str]
    day_first_from: str
    sentinels_from: str


def project_settings(project_dir: Path = PROJECT_DIR) -> ProjectSettings:
    """Read `vars.day_first` from dbt_project.yml and the `value` column of seeds/sentinel_values.csv;
    fall back to day-first and the default sentinels when a file is missing."""
    day_first, day_from = True, "default"
    yml = project_dir / "dbt_project.yml"
    if yml.is_file():
        doc = yaml.safe_load(yml.read_text()) or {}
        value = (doc.get("vars") or {}).get("day_first")
        if value is not None:
            day_first, day_from = _as_bool(value, "day_first"), str(yml)
    sentinels, sent_from = list(DEFAULT_SENTINELS), "default"
    seed = project_dir / "seeds" / "sentinel_values.csv"
    if seed.is_file():
        with open(seed, newline="", encoding="utf-8") as f:
            rows = [r.get("value") for r in csv.DictReader(f)]
        found = [r for r in rows if r is not None and r != ""]
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


# --- source inspection (sqlite3, read-only) --------------------------------------------------------


@dataclass
class ColumnInfo:
    name: str
    declared_type: str
    primary_key: bool = False


@dataclass
class TableInfo:
    name: str
    columns: list[ColumnInfo]
    key: str | None = None
    key_from: str | None = None
    references: list[tuple[str, str, str, str]] = field(default_factory=list)  # col, parent, parent col, from


def q(name: str) -> str:
    """Quote an identifier for SQLite and DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal for DuckDB."""
    return "'" + value.replace("'", "''") + "'"


def check_file(path: Path) -> None:
    """File-level checks only (exists, regular, SQLite header, not truncated)."""
    from . import source

    checker = getattr(source, "check_sqlite_file", None)
    if checker is not None:
        checker(path)
        return
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: empty file, not a SQLite database")
    with open(path, "rb") as f:
        head = f.read(100)
    if not head.startswith(source.SQLITE_MAGIC) or len(head) < 100:
        raise SourceError(f"{path}: not a SQLite database (file header does not match)")


def inspect_tables(con: sqlite3.Connection) -> list[TableInfo]:
    """Every user table with its columns, declared types, declared key and foreign keys, plus the keys
    and references the servicedesk sources declare (models/staging/servicedesk/_servicedesk__sources.yml)."""
    from .source import expected_tables

    names = [
        r[0]
        for r in con.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' "
            "order by rowid"
        )
    ]
    known_keys = {}
    try:
        known_keys = {s.name: s.key for s in expected_tables() if s.key}
    except (OSError, KeyError, StopIteration, yaml.YAMLError):  # pragma: no cover - project files absent
        pass
    tables = []
    for name in names:
        info = con.execute(f"pragma table_info({q(name)})").fetchall()
        cols = [ColumnInfo(r[1], (r[2] or "").strip(), bool(r[5])) for r in info]
        t = TableInfo(name, cols)
        colnames = {c.name for c in cols}
        pks = [c for c in cols if c.primary_key]
        if known_keys.get(name) in colnames:
            t.key, t.key_from = known_keys[name], "servicedesk sources (meta.key)"
        elif len(pks) == 1 and pks[0].declared_type.upper() != "INTEGER":
            # An INTEGER PRIMARY KEY is the rowid itself and cannot hold duplicates.
            t.key, t.key_from = pks[0].name, "declared primary key"
        for row in con.execute(f"pragma foreign_key_list({q(name)})").fetchall():
            parent, child_col, parent_col = row[2], row[3], row[4]
            if parent_col is None:
                parent_pk = [r[1] for r in con.execute(f"pragma table_info({q(parent)})") if r[5]]
                parent_col = parent_pk[0] if len(parent_pk) == 1 else None
            if child_col in colnames and parent_col:
                t.references.append((child_col, parent, parent_col, "declared foreign key"))
        tables.append(t)
    by_name = {t.name: t for t in tables}
    for (child, col), (parent, pcol) in SERVICEDESK_REFERENCES.items():
        ct, pt = by_name.get(child), by_name.get(parent)
        if ct and pt and col in {c.name for c in ct.columns} and pcol in {c.name for c in pt.columns}:
            if not any(r[0] == col for r in ct.references):
                ct.references.append((col, parent, pcol, "servicedesk sources"))
    return tables


def storage_classes(path: Path, tables: list[TableInfo]) -> dict[str, dict[str, dict[str, int]]]:
    """SQLite's own storage class of every value, counted in SQLite (one scan per table)."""
    from .source import connect_readonly

    out: dict[str, dict[str, dict[str, int]]] = {}
    con = connect_readonly(path)
    try:
        for t in tables:
            if not t.columns:
                out[t.name] = {}
                continue
            parts = []
            for i, c in enumerate(t.columns):
                for cls in ("integer", "real", "text", "blob", "null"):
                    parts.append(f"total(typeof({q(c.name)}) = '{cls}') as c{i}_{cls}")
            cur = con.execute(f"select {', '.join(parts)} from {q(t.name)}")
            values = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
            out[t.name] = {
                c.name: {
                    cls: int(values[f"c{i}_{cls}"])
                    for cls in ("integer", "real", "text", "blob", "null")
                    if values[f"c{i}_{cls}"]
                }
                for i, c in enumerate(t.columns)
            }
    finally:
        con.close()
    return out


# --- declared types ---------------------------------------------------------------------------------


def declared_family(declared: str) -> str | None:
    """What a declared type claims: integer, real, numeric, boolean, timestamp, date, text, or None
    (no type, BLOB: no claim). SQLite's affinity rules, refined for date and boolean names."""
    d = declared.upper()
    if not d or "BLOB" in d:
        return None
    if "BOOL" in d:
        return "boolean"
    if "TIMESTAMP" in d or "DATETIME" in d or "TIME" in d:
        return "timestamp"
    if "DATE" in d:
        return "date"
    if "INT" in d:
        return "integer"
    if "CHAR" in d or "CLOB" in d or "TEXT" in d:
        return "text"
    if "REAL" in d or "FLOA" in d or "DOUB" in d:
        return "real"
    return "numeric"


COMPATIBLE = {
    "integer": {"integer"},
    "real": {"integer", "real"},
    "numeric": {"integer", "real"},
    "boolean": {"boolean"},
    "timestamp": {"timestamp", "date"},
    "date": {"date", "timestamp"},
}


# --- SQL builders -----------------------------------------------------------------------------------


def _ws() -> str:
    return " || ".join(f"chr({ord(c)})" for c in WHITESPACE)


def _class_expr(v: str, t: str, sentinels: list[str]) -> str:
    sent = ", ".join(lit(s) for s in sentinels) or "NULL"
    bools = ", ".join(lit(b) for b in BOOLEAN_WORDS)
    return (
        f"CASE WHEN {v} IS NULL THEN {K_NULL} WHEN {v} = '' THEN {K_EMPTY} WHEN {t} = '' THEN {K_WS} "
        f"WHEN {t} IN ({sent}) THEN {K_SENTINEL} "
        f"WHEN regexp_full_match({t}, {lit(RE_INTEGER)}) THEN {K_INT} "
        f"WHEN regexp_full_match({t}, {lit(RE_REAL_DOT)}) THEN {K_REAL_DOT} "
        f"WHEN regexp_full_match({t}, {lit(RE_REAL_COMMA)}) THEN {K_REAL_COMMA} "
        f"WHEN lower({t}) IN ({bools}) THEN {K_BOOL} "
        f"WHEN regexp_full_match({t}, {lit(RE_DATE)}) THEN {K_DATE} ELSE {K_TEXT} END"
    )


def column_counters_sql(table: str, columns: list[str], sentinels: list[str], exact_distinct: bool) -> str:
    """One aggregate query computing every column's counters over every row of one table."""
    raw = ", ".join(f"{q(c)} AS v{i}" for i, c in enumerate(columns))
    trimmed = ", ".join(f"v{i}, trim(v{i}, {_ws()}) AS t{i}" for i in range(len(columns)))
    classed = ", ".join(
        f"v{i}, t{i}, {_class_expr(f'v{i}', f't{i}', sentinels)} AS k{i}" for i in range(len(columns))
    )
    numbers = ", ".join(
        f"v{i}, t{i}, k{i}, CASE WHEN k{i} IN ({K_INT}, {K_REAL_DOT}, {K_REAL_COMMA}) "
        f"THEN TRY_CAST(replace(t{i}, ',', '.') AS DOUBLE) END AS x{i}"
        for i in range(len(columns))
    )
    aggs = ["count(*) AS row_count"]
    for i in range(len(columns)):
        k = f"k{i}"
        for name, cls in (
            ("null", K_NULL), ("empty", K_EMPTY), ("whitespace", K_WS), ("sentinel", K_SENTINEL),
            ("integer", K_INT), ("real_dot", K_REAL_DOT), ("real_comma", K_REAL_COMMA),
            ("boolean_word", K_BOOL), ("date_like", K_DATE), ("text", K_TEXT),
        ):  # fmt: skip
            aggs.append(f"count(*) FILTER ({k} = {cls}) AS c{i}_{name}")
        aggs += [
            f"count(*) FILTER ({k} = {K_INT} AND t{i} IN ('0', '1')) AS c{i}_zero_one",
            f"count(*) FILTER ({k} > {K_SENTINEL} AND v{i} <> t{i}) AS c{i}_untrimmed",
            f"histogram(t{i}) FILTER ({k} = {K_SENTINEL}) AS c{i}_sentinel_values",
            f"min(TRY_CAST(t{i} AS HUGEINT)) FILTER ({k} = {K_INT}) AS c{i}_int_min",
            f"max(TRY_CAST(t{i} AS HUGEINT)) FILTER ({k} = {K_INT}) AS c{i}_int_max",
            f"min(x{i}) AS c{i}_num_min",
            f"max(x{i}) AS c{i}_num_max",
            f"count(*) FILTER (x{i} BETWEEN {EXCEL_SERIAL_MIN} AND {EXCEL_SERIAL_MAX}) AS c{i}_excel",
            f"min(length(v{i})) FILTER ({k} > {K_SENTINEL}) AS c{i}_len_min",
            f"max(length(v{i})) FILTER ({k} > {K_SENTINEL}) AS c{i}_len_max",
            (f"count(DISTINCT v{i})" if exact_distinct else f"approx_count_distinct(v{i})") + f" AS c{i}_distinct",
        ]
    return (
        f"WITH r AS (SELECT {raw} FROM src.{q(table)}), "
        f"t AS (SELECT {trimmed} FROM r), "
        f"k AS (SELECT {classed} FROM t), "
        f"n AS (SELECT {numbers} FROM k) "
        f"SELECT {', '.join(aggs)} FROM n"
    )


def _num(expr: str) -> str:
    return f"TRY_CAST(nullif({expr}, '') AS INTEGER)"


def date_shapes_sql(table: str, columns: dict[int, str], with_excel: set[int]) -> str:
    """Group the date-like values of some columns by shape (digits as 9, month names as Mon) and
    whether a day, month or hour field has a leading zero; per group: count, examples, day/month
    evidence, and the values parsed both day-first and month-first (count, min, max)."""
    sel = ", ".join(f"trim({q(c)}, {_ws()}) AS {q(str(i))}" for i, c in columns.items())
    is_date = f"regexp_full_match(v, {lit(RE_DATE)})"
    is_excel = (
        f"(col IN ({', '.join(lit(str(i)) for i in sorted(with_excel)) or 'NULL'}) "
        f"AND regexp_full_match(v, {lit(RE_INTEGER + '|' + RE_REAL_DOT + '|' + RE_REAL_COMMA)}) "
        f"AND TRY_CAST(replace(v, ',', '.') AS DOUBLE) BETWEEN {EXCEL_SERIAL_MIN} AND {EXCEL_SERIAL_MAX})"
    )
    shape = (
        "CASE WHEN is_excel THEN 'EXCEL' ELSE regexp_replace(regexp_replace(v, '[0-9]', '9', 'g'), "
        f"{lit(_RE_MONTH)}, 'Mon', 'g') END"
    )
    lz = f"NOT is_excel AND regexp_matches(v, {lit(RE_LEADING_ZERO)})"
    kind = (
        "CASE WHEN is_excel THEN 'excel' "
        f"WHEN regexp_matches(v, {lit(RE_YEAR_FIRST)}) THEN 'ymd' "
        f"WHEN regexp_matches(v, {lit(RE_DAY_MONTH)}) THEN 'dmy' ELSE 'named' END"
    )
    num_date = f"regexp_extract(v, {lit(RE_NUM_DATE_PARTS)}, ['a', 'b', 'c'])"
    named1 = f"regexp_extract(v, {lit(RE_NAMED1_PARTS)}, ['d', 'mon', 'y'])"
    named2 = f"regexp_extract(v, {lit(RE_NAMED2_PARTS)}, ['mon', 'd', 'y'])"
    tm = f"regexp_extract(v, {lit(RE_TIME_PARTS)}, ['h', 'mi', 's', 'f'])"
    months = "['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec']"

    def year(e: str) -> str:
        return (
            f"CASE WHEN length({e}) = 2 THEN {_num(e)} + CASE WHEN {_num(e)} < 70 THEN 2000 ELSE 1900 END "
            f"ELSE {_num(e)} END"
        )

    def mk(y: str, m: str, d: str) -> str:
        return f"try(make_timestamp({y}, {m}, {d}, hh, mi, ss))"

    excel_ts = (
        "TIMESTAMP '1899-12-30' + "
        "to_seconds(round(TRY_CAST(replace(v, ',', '.') AS DOUBLE) * 86400)::BIGINT)"
    )
    named_ts = mk("nyear", "nmon", "nday")
    return f"""
WITH r AS (SELECT {sel} FROM src.{q(table)}),
u AS (UNPIVOT r ON {", ".join(q(str(i)) for i in columns)} INTO NAME col VALUE v),
c AS (SELECT col, v, {is_excel} AS is_excel FROM u WHERE v <> ''),
d AS (SELECT col, v, is_excel FROM c WHERE is_excel OR {is_date}),
p AS (
  SELECT col, v, {shape} AS shape, {lz} AS lz, {kind} AS kind, {num_date} AS nd,
         CASE WHEN {named1}.mon <> '' THEN {named1} ELSE {named2} END AS nm, {tm} AS tm,
         regexp_matches(v, '[Pp][Mm]') AS pm, regexp_matches(v, '[Aa][Mm]') AS am
  FROM d),
q AS (
  SELECT col, v, shape, lz, kind, nd, nm,
         CASE WHEN tm.h = '' THEN 0
              WHEN pm AND {_num('tm.h')} < 12 THEN {_num('tm.h')} + 12
              WHEN am AND {_num('tm.h')} = 12 THEN 0 ELSE {_num('tm.h')} END AS hh,
         coalesce({_num('tm.mi')}, 0) AS mi,
         coalesce({_num('tm.s')}, 0)
           + coalesce(TRY_CAST(nullif(tm.f, '') AS DOUBLE) / pow(10, length(tm.f)), 0) AS ss,
         {_num('nd.a')} AS f1, {_num('nd.b')} AS f2,
         {year('nm.y')} AS nyear, list_position({months}, lower(left(nm.mon, 3))) AS nmon,
         {_num('nm.d')} AS nday
  FROM p),
s AS (
  SELECT col, v, shape, lz, kind, f1, f2,
    CASE kind WHEN 'excel' THEN {excel_ts}
              WHEN 'ymd' THEN {mk(_num('nd.a'), 'f2', _num('nd.c'))}
              WHEN 'dmy' THEN {mk(year('nd.c'), 'f2', 'f1')}
              ELSE {named_ts} END AS ts_df,
    CASE kind WHEN 'excel' THEN {excel_ts}
              WHEN 'ymd' THEN {mk(_num('nd.a'), 'f2', _num('nd.c'))}
              WHEN 'dmy' THEN {mk(year('nd.c'), 'f1', 'f2')}
              ELSE {named_ts} END AS ts_mf
  FROM q)
SELECT col, shape, lz, kind, count(*) AS n,
  min(v) AS ex1, max(v) AS ex2, arg_min(v, hash(v)) AS ex3,
  count(*) FILTER (kind = 'dmy' AND f1 > 12 AND f2 <= 12) AS first_over_12,
  count(*) FILTER (kind = 'dmy' AND f2 > 12 AND f1 <= 12) AS second_over_12,
  count(*) FILTER (kind = 'dmy' AND f1 <= 12 AND f2 <= 12) AS ambiguous,
  count(ts_df) AS ok_df, min(ts_df) AS min_df, max(ts_df) AS max_df,
  count(ts_mf) AS ok_mf, min(ts_mf) AS min_mf, max(ts_mf) AS max_mf
FROM s GROUP BY ALL
"""


# --- date formats from shapes -----------------------------------------------------------------------

_SHAPE_RE = re.compile(
    r"^(?:(?P<ymd>9{4})(?P<s1>[-/.])(?P<ymd_m>9{1,2})(?P=s1)(?P<ymd_d>9{1,2})"
    r"|(?P<f1>9{1,2})(?P<s2>[-/.])(?P<f2>9{1,2})(?P=s2)(?P<y2>9{4}|9{2})"
    r"|(?P<nd>9{1,2})(?P<s3>[- ])Mon(?P=s3)(?P<ny>9{4}|9{2})"
    r"|Mon (?P<md>9{1,2})(?P<mc>,?) (?P<my>9{4}))"
    r"(?:(?P<tsep>[ T])(?P<h>9{1,2}):99(?::99(?:(?P<fsep>[.,])(?P<frac>9{1,9}))?(?P<sec>))?"
    r"(?P<ampm> ?(?:[AaPp][Mm]))?)?"
    r"(?P<zone>Z| ?[+-]99:?99)?$"
)


@dataclass
class Shape:
    """A parsed shape: its date tokens (letter, width) with separators, and whether it holds a time."""

    tokens: list[tuple[str, int | str]]  # ("D", 2), ("sep", "/"), ...
    has_time: bool
    order_ambiguous: bool  # D and M are both numeric fields in day/month or month/day order


def parse_shape(shape: str, day_first: bool) -> Shape | None:
    if shape == "EXCEL":
        return Shape([("EXCEL", 0)], True, False)
    m = _SHAPE_RE.match(shape)
    if not m:
        return None
    g = m.groupdict()
    tok: list[tuple[str, int | str]] = []
    ambiguous = False
    if g["ymd"]:
        tok = [("Y", 4), ("sep", g["s1"]), ("M", len(g["ymd_m"])), ("sep", g["s1"]), ("D", len(g["ymd_d"]))]
    elif g["f1"]:
        ambiguous = True
        a, b = ("D", "M") if day_first else ("M", "D")
        tok = [(a, len(g["f1"])), ("sep", g["s2"]), (b, len(g["f2"])), ("sep", g["s2"]), ("Y", len(g["y2"]))]
    elif g["nd"]:
        s = g["s3"]
        tok = [("D", len(g["nd"])), ("sep", s), ("Mon", 3), ("sep", s), ("Y", len(g["ny"]))]
    else:
        tok = [("Mon", 3), ("sep", " "), ("D", len(g["md"])), ("sep", g["mc"] + " "), ("Y", len(g["my"]))]
    has_time = g["h"] is not None
    if has_time:
        tok += [("sep", g["tsep"]), ("H", len(g["h"])), ("sep", ":"), ("MI", 2)]
        if g["sec"] is not None:
            tok += [("sep", ":"), ("S", 2)]
            if g["frac"]:
                tok += [("sep", g["fsep"]), ("F", len(g["frac"]))]
        if g["ampm"]:
            tok += [("sep", " " if g["ampm"].startswith(" ") else ""), ("AMPM", 2)]
    if g["zone"]:
        z = g["zone"]
        tok += [("Z", 1)] if z == "Z" else [("sep", " " if z.startswith(" ") else ""), ("TZ", len(z.strip()))]
    return Shape(tok, has_time, ambiguous)


_PADDABLE = {"D", "M", "H"}


def format_label(tokens: list[tuple[str, int | str]], short: set[int]) -> tuple[str, str]:
    """Human label (DD/MM/YYYY HH:MM:SS) and strptime pattern (%d/%m/%Y %H:%M:%S) of a token list;
    positions in `short` are fields written without padding (D, M, H)."""
    label, fmt = [], []
    ampm = any(k == "AMPM" for k, _ in tokens)
    for pos, (kind, width) in enumerate(tokens):
        if kind == "sep":
            label.append(str(width))
            fmt.append(str(width))
            continue
        w = int(width)
        if kind == "EXCEL":
            return "Excel serial day number", "excel"
        if kind in _PADDABLE:
            letter = kind
            label.append(letter if pos in short else letter * 2)
            fmt.append({"D": "%d", "M": "%m", "H": "%I" if ampm else "%H"}[kind])
        elif kind == "Y":
            label.append("Y" * w)
            fmt.append("%Y" if w == 4 else "%y")
        elif kind == "Mon":
            label.append("Mon")
            fmt.append("%b")
        elif kind == "MI":
            label.append("MM")
            fmt.append("%M")
        elif kind == "S":
            label.append("SS")
            fmt.append("%S")
        elif kind == "F":
            label.append("F" * w)
            fmt.append("%f")
        elif kind == "AMPM":
            label.append("AM/PM")
            fmt.append("%p")
        elif kind == "Z":
            label.append("Z")
            fmt.append("Z")
        elif kind == "TZ":
            label.append("+HH:MM" if w == 6 else "+HHMM")
            fmt.append("%z")
    return "".join(label), "".join(fmt)


def _skeleton(tokens: list[tuple[str, int | str]]) -> tuple[Any, ...]:
    return tuple((k, None if k in _PADDABLE else w) for k, w in tokens)


def _short_positions(tokens: list[tuple[str, int | str]]) -> set[int]:
    return {i for i, (k, w) in enumerate(tokens) if k in _PADDABLE and w == 1}


def build_formats(groups: list[dict[str, Any]], day_first: bool) -> list[dict[str, Any]]:
    """Turn shape groups of one column into formats.

    Shapes that differ only in the width of day, month or hour fields are one format family. A family
    is written without padding (D/M/YYYY) when some value has a one-digit field, with padding
    (DD/MM/YYYY) when some value has a leading zero; when both occur they are two formats, and values
    that show neither (e.g. 25/12/2012) join the larger one."""
    families: dict[tuple[Any, ...], list[tuple[dict[str, Any], Shape]]] = defaultdict(list)
    for g in groups:
        shape = parse_shape(g["shape"], day_first)
        if shape is None:  # pragma: no cover - RE_DATE and _SHAPE_RE describe the same language
            continue
        families[_skeleton(shape.tokens)].append((g, shape))
    formats: dict[str, dict[str, Any]] = {}
    for members in families.values():
        short = [(g, s) for g, s in members if _short_positions(s.tokens)]
        padded = [(g, s) for g, s in members if not _short_positions(s.tokens) and g["lz"]]
        wide = [(g, s) for g, s in members if not _short_positions(s.tokens) and not g["lz"]]
        n_short, n_padded = sum(g["n"] for g, _ in short), sum(g["n"] for g, _ in padded)
        if short and (not padded or n_short > n_padded):
            short += wide
        else:
            padded += wide
        for part in (short, padded):
            if not part:
                continue
            positions: set[int] = set().union(*(_short_positions(s.tokens) for _, s in part))
            label, pattern = format_label(part[0][1].tokens, positions)
            f = formats.setdefault(
                label,
                {"format": label, "strptime": pattern, "count": 0, "examples": [], "has_time": False,
                 "order_ambiguous": False, "_groups": []},
            )  # fmt: skip
            for g, s in part:
                f["count"] += g["n"]
                f["has_time"] |= s.has_time
                f["order_ambiguous"] |= s.order_ambiguous
                f["_groups"].append(g)
    out = sorted(formats.values(), key=lambda f: (-f["count"], f["format"]))
    for f in out:
        examples: list[str] = []
        for g in sorted(f["_groups"], key=lambda g: -g["n"]):
            for e in (g["ex1"], g["ex3"], g["ex2"]):
                if e not in examples and len(examples) < 3:
                    examples.append(e)
        f["examples"] = examples
    return out


# --- the profile ------------------------------------------------------------------------------------


def _share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole else 0.0


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return value


def _duckdb(memory_limit: str, tmp: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": tmp})
    con.execute("SET preserve_insertion_order = false")
    return con


def profile_source(
    path: Path,
    *,
    day_first: bool | None = None,
    sentinels: list[str] | None = None,
    thresholds: Thresholds | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """Profile every table and column of a SQLite file; returns the JSON-able profile
    (shape: docs/profile.schema.json). `day_first` and `sentinels` default to the dbt project's."""
    from .load import attach_source
    from .source import connect_readonly

    started = time.perf_counter()
    path = Path(path)
    check_file(path)
    settings = project_settings()
    order = settings.day_first if day_first is None else day_first
    sents = settings.sentinels if sentinels is None else list(sentinels)
    try:
        scon = connect_readonly(path)
        try:
            tables = inspect_tables(scon)
            counts = {t.name: scon.execute(f"select count(*) from {q(t.name)}").fetchone()[0] for t in tables}
        finally:
            scon.close()
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: unreadable SQLite database ({exc})") from exc
    if not tables:
        raise SourceError(f"{path}: SQLite database holds no tables")

    limit = memory_limit or os.environ.get("SDRUN_PROFILE_MEMORY_LIMIT", "1GB")
    with tempfile.TemporaryDirectory(prefix="sdrun-profile-") as tmp, ThreadPoolExecutor(1) as pool:
        storage_future = pool.submit(storage_classes, path, tables)
        con = _duckdb(limit, tmp)
        try:
            attach_source(con, path)
            table_profiles = []
            for t in tables:
                table_profiles.append(_profile_table(con, t, counts[t.name], sents, order))
            for t, tp in zip(tables, table_profiles, strict=True):
                tp["key"] = _key_check(con, t, sents)
                tp["references"] = [_reference_check(con, t, r, sents) for r in t.references]
        except duckdb.Error as exc:
            raise SourceError(f"{path}: could not be read ({str(exc).splitlines()[0]})") from exc
        finally:
            con.close()
        try:
            storage = storage_future.result()
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{path}: unreadable SQLite database ({exc})") from exc
    for tp in table_profiles:
        for col in tp["columns"]:
            col["storage_classes"] = storage[tp["name"]].get(col["name"], {})

    profile: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": {"path": str(path.resolve()), "size_bytes": path.stat().st_size},
        "settings": {
            "day_first": order,
            "day_first_from": "argument" if day_first is not None else settings.day_first_from,
            "sentinels": sents,
            "sentinels_from": "argument" if sentinels is not None else settings.sentinels_from,
        },
        "summary": {},
        "tables": table_profiles,
        "score": quality_score(table_profiles),
    }
    profile["summary"] = _summary(profile)
    apply_breaker(profile, thresholds or Thresholds.from_env(), day_first=order)
    profile["elapsed_seconds"] = round(time.perf_counter() - started, 3)
    return profile


def _profile_table(
    con: duckdb.DuckDBPyConnection, t: TableInfo, rows: int, sentinels: list[str], day_first: bool
) -> dict[str, Any]:
    names = [c.name for c in t.columns]
    if not names:
        return {"name": t.name, "row_count": rows, "columns": []}
    cur = con.execute(column_counters_sql(t.name, names, sentinels, rows <= EXACT_DISTINCT_MAX_ROWS))
    values = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
    raw = [{k.split("_", 1)[1]: v for k, v in values.items() if k.startswith(f"c{i}_")} for i in range(len(names))]
    families = [declared_family(c.declared_type) for c in t.columns]
    wanted = {
        i: names[i]
        for i, r in enumerate(raw)
        if r["date_like"] or (r["excel"] and families[i] in ("date", "timestamp"))
    }
    with_excel = {i for i in wanted if raw[i]["excel"] and (raw[i]["date_like"] or families[i] in ("date", "timestamp"))}
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if wanted:
        cur = con.execute(date_shapes_sql(t.name, wanted, with_excel))
        cols = [d[0] for d in cur.description]
        for row in cur.fetchall():
            g = dict(zip(cols, row, strict=True))
            groups[int(g["col"])].append(g)
    columns = [
        _column_profile(pos, t.columns[pos], families[pos], raw[pos], groups.get(pos, []), rows, day_first)
        for pos in range(len(names))
    ]
    return {"name": t.name, "row_count": rows, "columns": columns}


def _column_profile(
    pos: int,
    info: ColumnInfo,
    family: str | None,
    r: dict[str, Any],
    groups: list[dict[str, Any]],
    rows: int,
    day_first: bool,
) -> dict[str, Any]:
    missing = r["null"] + r["empty"] + r["whitespace"] + r["sentinel"]
    present = rows - missing
    dates = _dates(groups, present, day_first) if groups else None
    n_int, n_real = r["integer"], r["real_dot"] + r["real_comma"]
    fits: dict[str, int] = {
        "integer": n_int,
        "real": n_int + n_real,
        "boolean": (r["boolean_word"] + r["zero_one"]) if r["boolean_word"] else 0,
        "date": dates["parsed"] if dates else 0,
    }
    detected, fit = "text", r["text"]
    if present:
        preference = ["boolean", "integer", "real", "date"]
        if family in ("date", "timestamp"):
            preference = ["date", "boolean", "integer", "real"]
        best = max(preference, key=lambda k: (fits[k], -preference.index(k)))
        if fits[best] / present >= DETECT_MIN_SHARE:
            detected, fit = best, fits[best]
            if best == "date":
                detected = "timestamp" if dates and dates["has_time"] else "date"
    else:
        detected, fit = "empty", 0
    if dates is not None and detected not in ("date", "timestamp"):
        # date-like values inside a column that is not a date column: keep the formats, not the verdict
        dates["is_date_column"] = False
    mismatch = bool(family and family != "text" and detected != "empty" and detected not in COMPATIBLE[family])
    if family == "boolean" and detected == "integer" and r["zero_one"] == n_int:
        mismatch = False
    minimum: Any = None
    maximum: Any = None
    if detected == "integer":
        minimum, maximum = r["int_min"], r["int_max"]
        minimum = int(minimum) if minimum is not None else None
        maximum = int(maximum) if maximum is not None else None
    elif detected == "real":
        minimum, maximum = r["num_min"], r["num_max"]
    elif detected in ("date", "timestamp") and dates:
        minimum, maximum = dates["min"], dates["max"]
    numeric = None
    if n_int + n_real:
        numeric = {"decimal_point": r["real_dot"], "decimal_comma": r["real_comma"], "integers": n_int}
    return {
        "name": info.name,
        "position": pos + 1,
        "declared_type": info.declared_type,
        "declared_family": family,
        "storage_classes": {},
        "null": r["null"],
        "empty": r["empty"],
        "whitespace_only": r["whitespace"],
        "sentinel": r["sentinel"],
        "sentinel_values": {k: int(v) for k, v in sorted((r["sentinel_values"] or {}).items())},
        "missing": missing,
        "present": present,
        "untrimmed": r["untrimmed"],
        "distinct_count": int(r["distinct"]),
        "distinct_exact": rows <= EXACT_DISTINCT_MAX_ROWS,
        "value_classes": {
            "integer": n_int,
            "real": n_real,
            "boolean_word": r["boolean_word"],
            "date_like": r["date_like"],
            "text": r["text"],
        },
        "detected_type": detected,
        "confidence": _share(fit, present) if present else 0.0,
        "fit": fit,
        "type_mismatch": mismatch,
        "min": _iso(minimum),
        "max": _iso(maximum),
        "min_length": r["len_min"],
        "max_length": r["len_max"],
        "numeric": numeric,
        "dates": dates,
    }


def _dates(groups: list[dict[str, Any]], present: int, day_first: bool) -> dict[str, Any]:
    first = sum(g["first_over_12"] for g in groups)
    second = sum(g["second_over_12"] for g in groups)
    ambiguous = sum(g["ambiguous"] for g in groups)
    has_dmy = any(g["kind"] == "dmy" for g in groups)
    if not has_dmy:
        verdict = None
    elif first and second:
        verdict = "conflicting"
    elif first:
        verdict = "day-first"
    elif second:
        verdict = "month-first"
    else:
        verdict = "ambiguous"
    used = {"day-first": True, "month-first": False}.get(verdict or "", day_first)
    suffix = "df" if used else "mf"
    parsed = sum(g[f"ok_{suffix}"] for g in groups)
    mins = [g[f"min_{suffix}"] for g in groups if g[f"min_{suffix}"] is not None]
    maxs = [g[f"max_{suffix}"] for g in groups if g[f"max_{suffix}"] is not None]
    formats = build_formats(groups, used)
    for f in formats:
        f["parsed"] = sum(g[f"ok_{suffix}"] for g in f.pop("_groups"))
    return {
        "is_date_column": True,
        "formats": [
            {k: f[k] for k in ("format", "strptime", "count", "parsed", "examples", "has_time")} for f in formats
        ],
        "order_evidence": {"first_over_12": first, "second_over_12": second, "ambiguous": ambiguous},
        "verdict": verdict,
        "parsed_as": "day-first" if used else "month-first",
        "date_like": sum(g["n"] for g in groups),
        "parsed": parsed,
        "unparseable": present - parsed,
        "unparseable_share": _share(present - parsed, present),
        "has_time": any(f["has_time"] for f in formats),
        "min": _iso(min(mins)) if mins else None,
        "max": _iso(max(maxs)) if maxs else None,
    }


def _not_missing(expr: str, sentinels: list[str]) -> str:
    sent = ", ".join(lit(s) for s in sentinels) or "NULL"
    return f"{expr} IS NOT NULL AND {expr} <> '' AND {expr} NOT IN ({sent})"


def _key_check(con: duckdb.DuckDBPyConnection, t: TableInfo, sentinels: list[str]) -> dict[str, Any] | None:
    if not t.key:
        return None
    k = f"trim({q(t.key)}, {_ws()})"
    row = con.execute(
        f"SELECT count(*), coalesce(sum(n), 0), min(k), max(k) FROM ("
        f"SELECT {k} AS k, count(*) AS n FROM src.{q(t.name)} WHERE {_not_missing(k, sentinels)} "
        f"GROUP BY 1 HAVING count(*) > 1)"
    ).fetchone()
    dup_keys, dup_rows = int(row[0]), int(row[1])
    return {
        "column": t.key,
        "from": t.key_from,
        "duplicate_keys": dup_keys,
        "duplicate_rows": dup_rows,
        "surplus_rows": dup_rows - dup_keys,
        "examples": [e for e in dict.fromkeys((row[2], row[3])) if e is not None],
    }


def _reference_check(
    con: duckdb.DuckDBPyConnection, t: TableInfo, ref: tuple[str, str, str, str], sentinels: list[str]
) -> dict[str, Any]:
    col, parent, pcol, origin = ref
    c = f"trim({q(col)}, {_ws()})"
    p = f"trim({q(pcol)}, {_ws()})"
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (p.k IS NULL), min(c.r) FILTER (p.k IS NULL), "
        f"max(c.r) FILTER (p.k IS NULL) "
        f"FROM (SELECT {c} AS r FROM src.{q(t.name)} WHERE {_not_missing(c, sentinels)}) c "
        f"LEFT JOIN (SELECT DISTINCT {p} AS k FROM src.{q(parent)}) p ON c.r = p.k"
    ).fetchone()
    return {
        "column": col,
        "references": {"table": parent, "column": pcol},
        "from": origin,
        "rows_with_reference": int(row[0]),
        "orphan_rows": int(row[1]),
        "examples": [e for e in dict.fromkeys((row[2], row[3])) if e is not None],
    }


# --- score ------------------------------------------------------------------------------------------

DIMENSIONS = ("completeness", "validity", "uniqueness", "consistency", "integrity")


def quality_score(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Five dimensions, each 100 × good / all over the units it counts (docs/profile.md);
    the score is the mean of the dimensions that apply to this file."""
    cells = present = valid = typed = consistent = keyed_rows = surplus = refs = orphans = 0
    for t in tables:
        for c in t["columns"]:
            cells += t["row_count"]
            present += c["present"]
            kind = c["detected_type"]
            valid += c["present"] if kind in ("text", "empty") else c["fit"]
            if kind in ("date", "timestamp") and c["dates"]:
                formats = c["dates"]["formats"]
                typed += c["present"]
                consistent += max((f["count"] for f in formats), default=0)
            elif kind == "real" and c["numeric"]:
                n = c["numeric"]
                typed += c["present"]
                consistent += n["integers"] + max(n["decimal_point"], n["decimal_comma"])
        if t.get("key"):
            keyed_rows += t["row_count"]
            surplus += t["key"]["surplus_rows"]
        for r in t.get("references", []):
            refs += r["rows_with_reference"]
            orphans += r["orphan_rows"]
    parts = {
        "completeness": (present, cells, "present cells / all cells"),
        "validity": (valid, present, "present values fitting their column's detected type / present values"),
        "uniqueness": (keyed_rows - surplus, keyed_rows, "rows of keyed tables that are not surplus duplicates"),
        "consistency": (consistent, typed, "values of date and real columns in their column's main representation"),
        "integrity": (refs - orphans, refs, "references that resolve / rows with a reference"),
    }
    dims = {}
    for name, (good, total, formula) in parts.items():
        dims[name] = {
            "score": round(100.0 * good / total, 2) if total else None,
            "good": good,
            "total": total,
            "applicable": bool(total),
            "formula": f"100 × {formula}",
        }
    applicable = [d["score"] for d in dims.values() if d["score"] is not None]
    overall = round(sum(applicable) / len(applicable), 2) if applicable else 100.0
    return {"overall": overall, "dimensions": dims}


def _summary(profile: dict[str, Any]) -> dict[str, Any]:
    cols = [c for t in profile["tables"] for c in t["columns"]]
    return {
        "tables": len(profile["tables"]),
        "columns": len(cols),
        "rows": sum(t["row_count"] for t in profile["tables"]),
        "values": sum(t["row_count"] * len(t["columns"]) for t in profile["tables"]),
        "date_columns": sum(1 for c in cols if c["detected_type"] in ("date", "timestamp")),
        "type_mismatches": sum(1 for c in cols if c["type_mismatch"]),
    }


# --- circuit breaker --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trip:
    rule: str
    message: str
    table: str | None = None
    column: str | None = None
    figure: float | None = None
    threshold: float | None = None


def evaluate_breaker(profile: dict[str, Any], thresholds: Thresholds, *, day_first: bool) -> list[Trip]:
    trips: list[Trip] = []
    mismatched: list[str] = []
    n_columns = 0
    for t in profile["tables"]:
        for c in t["columns"]:
            n_columns += 1
            where = f"{t['name']}.{c['name']}"
            if c["type_mismatch"]:
                mismatched.append(f"{where} (declared {c['declared_type']}, holds {c['detected_type']})")
            d = c["dates"]
            is_date = c["detected_type"] in ("date", "timestamp") or c["declared_family"] in ("date", "timestamp")
            if is_date and c["present"]:
                bad = c["present"] - (d["parsed"] if d else 0)
                share = bad / c["present"]
                if share > thresholds.max_unparseable_date_share:
                    trips.append(Trip(
                        "unparseable_dates",
                        f"{where}: {share:.1%} of date values cannot be parsed ({bad:,} of {c['present']:,}; "
                        f"limit {thresholds.max_unparseable_date_share:.0%})",
                        t["name"], c["name"], round(share, 6), thresholds.max_unparseable_date_share,
                    ))  # fmt: skip
            if thresholds.halt_on_order_conflict and d and d["is_date_column"]:
                ev = d["order_evidence"]
                against = ev["second_over_12"] if day_first else ev["first_over_12"]
                support = ev["first_over_12"] if day_first else ev["second_over_12"]
                configured = "day-first" if day_first else "month-first"
                if against:
                    trips.append(Trip(
                        "order_conflict",
                        f"{where}: {against:,} values can only be "
                        f"{'month-first' if day_first else 'day-first'} ({support:,} only {configured}; "
                        f"verdict {d['verdict']}) but the project is configured {configured}",
                        t["name"], c["name"], against, 0,
                    ))  # fmt: skip
    share = len(mismatched) / n_columns if n_columns else 0.0
    if share > thresholds.max_type_mismatch_share:
        shown = ", ".join(mismatched[:5]) + (f" and {len(mismatched) - 5} more" if len(mismatched) > 5 else "")
        trips.append(Trip(
            "type_mismatch",
            f"{share:.1%} of columns are type-mismatched ({len(mismatched)} of {n_columns}; "
            f"limit {thresholds.max_type_mismatch_share:.0%}): {shown}",
            None, None, round(share, 6), thresholds.max_type_mismatch_share,
        ))  # fmt: skip
    score = profile["score"]["overall"]
    if score < thresholds.min_score:
        dims = {k: v["score"] for k, v in profile["score"]["dimensions"].items() if v["score"] is not None}
        worst = min(dims, key=lambda k: dims[k])
        trips.append(Trip(
            "min_score",
            f"quality score {score:.1f} is under {thresholds.min_score:g} (lowest dimension: {worst} "
            f"{dims[worst]:.1f})",
            None, None, score, thresholds.min_score,
        ))  # fmt: skip
    return trips


def breaker_trips(profile: dict[str, Any], thresholds: Thresholds, *, day_first: bool) -> list[str]:
    """One line per tripped rule, naming table.column and the figure; empty when the run may go on."""
    return [t.message for t in evaluate_breaker(profile, thresholds, day_first=day_first)]


def apply_breaker(profile: dict[str, Any], thresholds: Thresholds, *, day_first: bool) -> list[str]:
    """Evaluate the breaker and record thresholds and trips in `profile["breaker"]`."""
    trips = evaluate_breaker(profile, thresholds, day_first=day_first)
    profile["breaker"] = {
        "thresholds": asdict(thresholds),
        "day_first": day_first,
        "halted": bool(trips),
        "trips": [asdict(t) for t in trips],
    }
    return [t.message for t in trips]


# --- output -----------------------------------------------------------------------------------------


def write_json(profile: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(profile, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_html(profile: dict[str, Any], path: Path) -> None:
    from .profile_html import render_html

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_html(profile), encoding="utf-8")
    tmp.replace(path)


def run_gate(source: Path, out_dir: Path, thresholds: Thresholds | None = None) -> dict[str, Any]:
    """Gate 1: profile the source, write out_dir/profile.json and out_dir/profile.html, and raise
    GateHalted (exit 3) with one reason per tripped rule when the breaker trips."""
    thresholds = thresholds or Thresholds.from_env()
    profile = profile_source(source, thresholds=thresholds)
    write_json(profile, Path(out_dir) / "profile.json")
    write_html(profile, Path(out_dir) / "profile.html")
    trips = [t["message"] for t in profile["breaker"]["trips"]]
    if trips:
        raise GateHalted(f"Gate 1 (profile) halted the run: {len(trips)} breaker rule(s) tripped", reasons=trips)
    return profile


def iter_columns(profile: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    for t in profile["tables"]:
        for c in t["columns"]:
            yield t, c


def print_summary(profile: dict[str, Any], file: Any = None) -> None:
    """A readable summary for a terminal (rich tables)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, width=max(120, Console().width))
    s, sc = profile["summary"], profile["score"]
    console.print(
        f"[bold]Profile of {profile['source']['path']}[/bold]: {s['tables']} tables, {s['columns']} columns, "
        f"{s['rows']:,} rows, {s['values']:,} values read in {profile.get('elapsed_seconds', 0):.2f} s "
        f"(configured order: {'day-first' if profile['settings']['day_first'] else 'month-first'})"
    )
    dims = "  ".join(
        f"{k} {v['score']:.1f}" if v["score"] is not None else f"{k} n/a" for k, v in sc["dimensions"].items()
    )
    console.print(f"Quality score [bold]{sc['overall']:.1f}[/bold] / 100   ({dims})")
    for t in profile["tables"]:
        extra = []
        if t.get("key"):
            k = t["key"]
            extra.append(f"key {k['column']}: {k['duplicate_keys']:,} duplicate keys ({k['surplus_rows']:,} surplus rows)")
        for r in t.get("references", []):
            extra.append(f"{r['column']} → {r['references']['table']}: {r['orphan_rows']:,} orphans")
        table = Table(
            title=f"{t['name']} — {t['row_count']:,} rows" + (f"; {'; '.join(extra)}" if extra else ""),
            title_justify="left",
        )
        for h in ("column", "declared", "storage", "detected", "conf.", "null", "empty", "ws", "sent.",
                  "distinct", "formats / order", "min … max"):  # fmt: skip
            table.add_column(h, overflow="fold")
        for c in t["columns"]:
            d = c["dates"]
            fmts = ""
            if d and d["formats"]:
                fmts = ", ".join(f"{f['format']} ×{f['count']:,}" for f in d["formats"][:4])
                if d["verdict"]:
                    fmts += f" [{d['verdict']}]"
            storage = " ".join(f"{k}:{v:,}" for k, v in c["storage_classes"].items())
            detected = c["detected_type"] + (" [red](mismatch)[/red]" if c["type_mismatch"] else "")
            span = "" if c["min"] is None else f"{c['min']} … {c['max']}"
            table.add_row(
                c["name"], c["declared_type"] or "-", storage, detected, f"{c['confidence']:.0%}",
                f"{c['null']:,}", f"{c['empty']:,}", f"{c['whitespace_only']:,}", f"{c['sentinel']:,}",
                f"{c['distinct_count']:,}" + ("" if c["distinct_exact"] else "≈"), fmts, span,
            )  # fmt: skip
        console.print(table)
    b = profile.get("breaker")
    if b:
        if b["halted"]:
            console.print(f"[bold red]Circuit breaker: {len(b['trips'])} rule(s) tripped[/bold red]")
        else:
            console.print("[green]Circuit breaker: no rule tripped[/green]")
