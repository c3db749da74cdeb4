"""Gate 1, profile: read every value of every column of a SQLite file, report what it really holds,
score its quality and decide whether the run may go on (the circuit breaker).

How it reads (docs/profile.md has the details and every formula):

* DuckDB attaches the file read-only with every column as text (`orchestrator.source.read.attach_source`).
  Per table, ONE query reads every value: it unpivots the table to (column, value), groups equal
  values (exact distinct counts come with it), classifies each distinct value once (NULL, empty,
  whitespace-only, sentinel, integer, real, boolean word, date-like, text), and for date-like values
  computes the shape (digits as 9), the day/month evidence and the value parsed day-first and
  month-first. Its result is one small row per (column, class, shape) group. Duplicate keys and
  orphans take one query each where a key or a reference is known. Tables run side by side.
* SQLite itself counts each value's storage class (`typeof`), in a thread beside DuckDB: DuckDB's
  typed scan refuses mixed columns, which is exactly what must be counted here.
* Only aggregates are kept and DuckDB runs under a memory limit (spilling to a temporary directory),
  so memory does not grow with the rows.

The declared type of a column is reported and compared, never trusted. This module knows nothing of
the command line: `sdrun profile` (orchestrator.cli) and `sdrun full` (run_gate) call it.
"""

from __future__ import annotations

import contextlib
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

from orchestrator.core.errors import GateHalted, SourceError, UsageError
from orchestrator.core.settings import PROJECT_DIR
from orchestrator.source.contract import check_sqlite_file, connect_readonly, expected_tables

SCHEMA_VERSION = 1
DEFAULT_SENTINELS = ["N/A", "n/a", "NA", "-", "--", "NULL", "null", "None", "#N/A", "#N/B", "?", "none"]

# DuckDB's memory limit for the profile (SDRUN_PROFILE_MEMORY_LIMIT); beyond it DuckDB spills to disk.
# 256MB: a quarter more time than unlimited at scale 40 with a bounded footprint; 128MB doubles the time.
DEFAULT_MEMORY_LIMIT = "256MB"
# A type is detected when at least this share of a column's present values fit it.
DETECT_MIN_SHARE = 0.5
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
_RE_WEEKDAY = r"(?i:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*)"
# The forms macros/cleaning/timestamps.sql parses (timestamp_patterns), written the same way here.
_NUMERIC_DATE = r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"
_NAMED_DATE = (
    rf"(?:{_RE_WEEKDAY},? )?(?:\d{{1,2}}[-/ ]{_RE_MONTH}[-/ ](?:\d{{4}}|\d{{2}})|{_RE_MONTH} \d{{1,2}},? \d{{4}})"
)
_TIME = (
    r"(?:(?:[ T]|, )\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?: ?[AaPp][Mm]| ?(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?)?"
)
RE_DATE = rf"(?:{_NUMERIC_DATE}|{_NAMED_DATE}){_TIME}"
# parts of a date-like value (a leading weekday removed first)
RE_NUM_DATE_PARTS = r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})"
RE_NAMED1_PARTS = r"^(\d{1,2})[-/ ]([A-Za-z]+)[-/ ](\d{2,4})"
RE_NAMED2_PARTS = r"^([A-Za-z]+) (\d{1,2}),? (\d{4})"
RE_TIME_PARTS = r"(?:[ T]|, )(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
RE_WEEKDAY_PREFIX = rf"^{_RE_WEEKDAY},? "

# date shapes (digits as 9) that DuckDB's timestamp cast parses exactly: the fast path
ISO_SHAPES = [
    "9999-99-99" + time + frac
    for time in ("", " 99:99", "T99:99", " 99:99:99", "T99:99:99")
    for frac in ([""] + ["." + "9" * n for n in range(1, 7)] if time.endswith(":99:99") else [""])
]

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


def inspect_tables(con: sqlite3.Connection) -> list[TableInfo]:
    """Every user table with its columns, declared types, declared key and foreign keys, plus the keys
    and references the servicedesk sources declare (models/staging/servicedesk/_servicedesk__sources.yml)."""
    names = [
        r[0]
        for r in con.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' "
            "and coalesce(sql, '') not like 'create virtual table%' order by rowid"
        )
    ]
    known_keys: dict[str, str] = {}
    with contextlib.suppress(OSError, KeyError, StopIteration, yaml.YAMLError):  # project files absent
        known_keys = {s.name: s.key for s in expected_tables() if s.key}
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
        if (
            ct
            and pt
            and col in {c.name for c in ct.columns}
            and pcol in {c.name for c in pt.columns}
            and not any(r[0] == col for r in ct.references)
        ):
            ct.references.append((col, parent, pcol, "servicedesk sources"))
    return tables


def storage_classes(path: Path, tables: list[TableInfo]) -> dict[str, dict[str, dict[str, int]]]:
    """SQLite's own storage class of every value, counted by SQLite itself in one scan per table.
    Two classes share one sum (the second counted in units of 2**32), which halves the work."""
    high = 1 << 32
    out: dict[str, dict[str, dict[str, int]]] = {}
    con = connect_readonly(path)
    try:
        for t in tables:
            out[t.name] = {}
            if not t.columns:
                continue
            parts = []
            for c in t.columns:
                ty = f"typeof({q(c.name)})"
                parts.append(f"sum(CASE {ty} WHEN 'text' THEN 1 WHEN 'integer' THEN {high} ELSE 0 END)")
                parts.append(f"sum(CASE {ty} WHEN 'real' THEN 1 WHEN 'blob' THEN {high} ELSE 0 END)")
            row = con.execute(f"select count(*), {', '.join(parts)} from {q(t.name)}").fetchone()
            rows = row[0]
            for i, c in enumerate(t.columns):
                a, b = row[1 + 2 * i] or 0, row[2 + 2 * i] or 0
                counts = {"integer": a // high, "real": b % high, "text": a % high, "blob": b // high}
                counts["null"] = rows - sum(counts.values())
                out[t.name][c.name] = {k: v for k, v in counts.items() if v}
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


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


def _num(expr: str) -> str:
    return f"TRY_CAST(nullif({expr}, '') AS INTEGER)"


def _year(e: str) -> str:
    n = _num(e)
    return f"CASE WHEN length({e}) = 2 THEN {n} + CASE WHEN {n} < 70 THEN 2000 ELSE 1900 END ELSE {n} END"


def table_scan_sql(table: str, columns: list[str], sentinels: list[str]) -> str:
    """The one query that reads every value of a table.

    Every value is classified once (NULL, empty, whitespace-only, sentinel, integer, real with a
    point or a comma, boolean word, date-like, text). Date-like values, and numbers in the Excel
    serial range, also get their shape (digits as 9, month names as Mon), whether a day, month or
    hour field has a leading zero, their day/month evidence and their value parsed day-first and
    month-first. Columns are renamed by position ("0", "1", ...): any name works, even an empty one.
    The result has one row per (column, class, shape, kind, leading zero) group, so it
    stays small however many rows the table has."""
    names = ", ".join(q(str(i)) for i in range(len(columns)))
    cls = (
        f"CASE WHEN v IS NULL THEN {K_NULL} WHEN v = '' THEN {K_EMPTY} WHEN t = '' THEN {K_WS} "
        f"WHEN list_contains({_list(sorted({x.lower() for x in sentinels}))}, lower(t)) THEN {K_SENTINEL} "
        f"WHEN regexp_matches(t, '^[-+.0-9]') THEN CASE "
        f"WHEN regexp_full_match(t, {lit(RE_INTEGER)}) THEN {K_INT} "
        f"WHEN regexp_full_match(t, {lit(RE_REAL_DOT)}) THEN {K_REAL_DOT} "
        f"WHEN regexp_full_match(t, {lit(RE_REAL_COMMA)}) THEN {K_REAL_COMMA} "
        f"WHEN regexp_full_match(t, {lit(RE_DATE)}) THEN {K_DATE} ELSE {K_TEXT} END "
        f"WHEN length(t) <= 5 AND list_contains({_list(BOOLEAN_WORDS)}, lower(t)) THEN {K_BOOL} "
        f"WHEN regexp_full_match(t, {lit(RE_DATE)}) THEN {K_DATE} ELSE {K_TEXT} END"
    )
    digits9 = "translate(t, '0123456789', '9999999999')"
    shape = (
        f"CASE WHEN k = {K_DATE} THEN CASE WHEN regexp_matches(t, '[A-Za-z]{{3}}') "
        f"THEN regexp_replace(regexp_replace({digits9}, {lit(RE_WEEKDAY_PREFIX)}, 'Day, '), {lit(_RE_MONTH)}, 'Mon', "
        "'g') "
        f"ELSE {digits9} END "
        f"WHEN x BETWEEN {EXCEL_SERIAL_MIN} AND {EXCEL_SERIAL_MAX} THEN 'EXCEL' END"
    )
    months = _list(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
    excel_ts = "TIMESTAMP '1899-12-30' + to_seconds(round(x * 86400)::BIGINT)"
    # the common ISO shapes take DuckDB's own timestamp parser (no year 0, no hour 24)
    iso_ts = "CASE WHEN left(t, 4) <> '0000' AND substr(t || ' 00', 12, 2) <= '23' THEN TRY_CAST(t AS TIMESTAMP) END"

    def mk(y: str, m: str, d: str) -> str:
        # checked first: an invalid date raising inside try() costs a C++ exception per value
        leap = f"(({y}) % 4 = 0 AND (({y}) % 100 <> 0 OR ({y}) % 400 = 0))"
        days = (
            f"CASE WHEN ({m}) = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END "
            f"WHEN ({m}) IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
        )
        ok = (
            f"({y}) BETWEEN 1 AND 9999 AND ({m}) BETWEEN 1 AND 12 AND ({d}) BETWEEN 1 AND {days} "
            "AND hh BETWEEN 0 AND 23 AND mi BETWEEN 0 AND 59 AND ss >= 0 AND ss < 60"
        )
        return f"CASE WHEN {ok} THEN make_timestamp({y}, {m}, {d}, hh, mi, ss) END"

    def z(e: str) -> str:  # '1' when a two-digit field starts with a zero
        return f"CASE WHEN length({e}) = 2 AND left({e}, 1) = '0' THEN '1' ELSE '0' END"

    def when_date(expr: str) -> str:
        return f"CASE WHEN shape IS NOT NULL THEN {expr} END"

    ws = lit(WHITESPACE)
    trimmed = (
        f"CASE WHEN v = '' THEN v WHEN contains({ws}, left(v, 1)) OR contains({ws}, right(v, 1)) "
        f"THEN trim(v, {ws}) ELSE v END"
    )
    named_ts = mk(_year("nm.y"), f"list_position({months}, lower(left(nm.mon, 3)))", _num("nm.d"))
    h = _num("tm.h")
    # fmt: off
    return f"""
WITH r AS (SELECT * FROM src.{q(table)} AS r({names})),
u AS (FROM r UNPIVOT INCLUDE NULLS (v FOR col IN ({names}))),
g0 AS (SELECT col, v AS raw, count(*) AS n FROM u GROUP BY col, v),
g1 AS (SELECT col, raw, n, try(decode(encode(raw))) AS valid FROM g0),
dv AS (SELECT col, n, coalesce(valid, '0x' || hex(raw)) AS v, raw IS NOT NULL AND valid IS NULL AS bad FROM g1),
t AS (SELECT col, v, n, bad, {trimmed} AS t FROM dv),
k AS (SELECT col, v, n, bad, t, {cls} AS k FROM t),
x AS (SELECT col, v, n, bad, t, k,
        CASE WHEN k IN ({K_INT}, {K_REAL_DOT}, {K_REAL_COMMA})
             THEN TRY_CAST(replace(t, ',', '.') AS DOUBLE) END AS x
      FROM k),
s AS (SELECT col, v, n, bad, t, k, x, {shape} AS shape FROM x),
d0 AS (SELECT col, v, n, bad, t, k, x, shape,
        CASE WHEN shape IS NULL THEN NULL WHEN shape = 'EXCEL' THEN 'excel'
             WHEN list_contains({_list(ISO_SHAPES)}, shape) THEN 'iso'
             WHEN contains(shape, 'Mon') THEN 'named' WHEN left(shape, 4) = '9999' THEN 'ymd' ELSE 'dmy' END AS kind
      FROM s),
d AS (SELECT col, v, n, bad, t, k, x, shape, kind,
        CASE WHEN kind IN ('ymd', 'dmy') THEN regexp_extract(t, {lit(RE_NUM_DATE_PARTS)}, ['a', 'b', 'c']) END AS nd,
        CASE WHEN kind = 'named' THEN CASE WHEN left(regexp_replace(shape, '^Day,? ', ''), 1) = '9'
             THEN regexp_extract(regexp_replace(t, {lit(RE_WEEKDAY_PREFIX)}, ''), {lit(RE_NAMED1_PARTS)},
                                 ['d', 'mon', 'y'])
             ELSE regexp_extract(regexp_replace(t, {lit(RE_WEEKDAY_PREFIX)}, ''), {lit(RE_NAMED2_PARTS)},
                                 ['mon', 'd', 'y']) END END AS nm,
        CASE WHEN kind <> 'iso' AND contains(shape, ':')
             THEN regexp_extract(t, {lit(RE_TIME_PARTS)}, ['h', 'mi', 's', 'f']) END AS tm,
        CASE WHEN shape IS NOT NULL AND upper(right(t, 2)) IN ('AM', 'PM') THEN upper(left(right(t, 2), 1)) END AS ap
      FROM d0),
e AS (SELECT col, v, n, bad, t, k, x, shape, kind, nd, nm,
        CASE kind WHEN 'ymd' THEN {z('nd.b')} || {z('nd.c')} WHEN 'dmy' THEN {z('nd.a')} || {z('nd.b')}
                  WHEN 'named' THEN {z('nm.d')}
                  WHEN 'iso' THEN {z('substr(t, 6, 2)')} || {z('substr(t, 9, 2)')}
                    || CASE WHEN length(t) > 10 THEN {z('substr(t, 12, 2)')} ELSE '' END ELSE '' END
          || CASE WHEN shape IS NOT NULL AND tm.h <> '' THEN {z('tm.h')} ELSE '' END AS lz,
        CASE WHEN shape IS NULL OR coalesce(tm.h, '') = '' THEN 0 WHEN ap IS NOT NULL AND {h} > 12 THEN 99
             WHEN ap = 'P' AND {h} < 12 THEN {h} + 12
             WHEN ap = 'A' AND {h} = 12 THEN 0 ELSE {h} END AS hh,
        {when_date(f"coalesce({_num('tm.mi')}, 0)")} AS mi,
        {when_date(f"coalesce({_num('tm.s')}, 0) + "
                   f"coalesce(TRY_CAST(nullif(tm.f, '') AS DOUBLE) / pow(10, length(tm.f)), 0)")} AS ss,
        {when_date(_num("nd.a"))} AS f1, {when_date(_num("nd.b"))} AS f2
      FROM d),
f AS (SELECT col, v, n, bad, t, k, x, shape, kind, lz, f1, f2,
        CASE kind WHEN 'iso' THEN {iso_ts} WHEN 'excel' THEN {excel_ts}
                  WHEN 'ymd' THEN {mk(_num('nd.a'), 'f2', _num('nd.c'))}
                  WHEN 'dmy' THEN {mk(_year('nd.c'), 'f2', 'f1')} WHEN 'named' THEN {named_ts} END AS ts_df,
        CASE kind WHEN 'dmy' THEN {mk(_year('nd.c'), 'f1', 'f2')} END AS ts_md
      FROM e),
g AS (SELECT col, v, n, bad, t, k, x, shape, kind, lz, f1, f2, ts_df,
        CASE kind WHEN 'dmy' THEN ts_md ELSE ts_df END AS ts_mf
      FROM f),
h AS (SELECT *, ts_df IS NOT NULL OR ts_mf IS NOT NULL AS ok FROM g)
SELECT col, k, shape, kind, lz, sum(n) AS n, count(v) AS distinct_n,
  coalesce(sum(n) FILTER (k = {K_INT} AND (t = '0' OR t = '1')), 0) AS zero_one,
  coalesce(sum(n) FILTER (k > {K_SENTINEL} AND v <> t), 0) AS untrimmed,
  coalesce(sum(n) FILTER (bad), 0) AS invalid_utf8,
  coalesce(sum(n) FILTER (NOT bad AND contains(v, chr(0))), 0) AS nul_bytes,
  min(length(v)) FILTER (k > {K_SENTINEL}) AS len_min, max(length(v)) FILTER (k > {K_SENTINEL}) AS len_max,
  list({{'value': t, 'n': n}}) FILTER (k = {K_SENTINEL}) AS sentinel_values,
  min(TRY_CAST(t AS HUGEINT)) FILTER (k = {K_INT}) AS int_min,
  max(TRY_CAST(t AS HUGEINT)) FILTER (k = {K_INT}) AS int_max,
  min(x) AS num_min, max(x) AS num_max,
  min(v) FILTER (ok) AS ex1, max(v) FILTER (ok) AS ex2, arg_min(v, hash(v)) FILTER (ok) AS ex3,
  min(v) FILTER (shape IS NOT NULL AND NOT ok) AS bad_ex,
  min(v) FILTER (kind = 'dmy' AND f1 > 12 AND ts_df IS NOT NULL) AS first_ex,
  min(v) FILTER (kind = 'dmy' AND f2 > 12 AND ts_mf IS NOT NULL) AS second_ex,
  any_value(v) FILTER (k = {K_TEXT}) AS text_ex,
  coalesce(sum(n) FILTER (kind = 'dmy' AND f1 > 12 AND ts_df IS NOT NULL), 0) AS first_over_12,
  coalesce(sum(n) FILTER (kind = 'dmy' AND f2 > 12 AND ts_mf IS NOT NULL), 0) AS second_over_12,
  coalesce(sum(n) FILTER (kind = 'dmy' AND ts_df IS NOT NULL AND ts_mf IS NOT NULL), 0) AS ambiguous,
  coalesce(sum(n) FILTER (ts_df IS NOT NULL), 0) AS ok_df, min(ts_df) AS min_df, max(ts_df) AS max_df,
  coalesce(sum(n) FILTER (ts_mf IS NOT NULL), 0) AS ok_mf, min(ts_mf) AS min_mf, max(ts_mf) AS max_mf
FROM h GROUP BY col, k, shape, kind, lz
"""
    # fmt: on


# --- date formats from shapes -----------------------------------------------------------------------

_SHAPE_RE = re.compile(
    r"^(?P<wd>Day(?P<wdc>,?) )?"
    r"(?:(?P<ymd>9{4})(?P<s1>[-/.])(?P<ymd_m>9{1,2})[-/.](?P<ymd_d>9{1,2})"
    r"|(?P<f1>9{1,2})(?P<s2>[-/.])(?P<f2>9{1,2})[-/.](?P<y2>9{4}|9{2})"
    r"|(?P<nd>9{1,2})(?P<s3>[-/ ])Mon[-/ ](?P<ny>9{4}|9{2})"
    r"|Mon (?P<md>9{1,2})(?P<mc>,?) (?P<my>9{4}))"
    r"(?:(?P<tsep>[ T]|, )(?P<h>9{1,2}):99(?::99(?:(?P<fsep>[.,])(?P<frac>9{1,9}))?(?P<sec>))?"
    r"(?P<ampm> ?(?:[AaPp][Mm]))?(?P<zone> ?(?:Z|UTC|GMT|[+-]99(?::?99)?))?)?$"
)


def order_shape_key(shape: str) -> str:
    """The key of a day/month shape: the date separator and the clock ('/ 24h', '- 12h', '. date').
    macros/cleaning/timestamps.sql (date_order_shape) computes the same key from the same value."""
    sep = shape[1] if shape[1:2] in ("/", "-", ".") else shape[2:3]
    upper = shape.upper()
    clock = "12h" if upper.endswith(("AM", "PM")) else "24h" if ":" in shape else "date"
    return f"{sep} {clock}"


def order_shape_label(key: str) -> str:
    sep, clock = key.split(" ")
    time = {"12h": " with a 12-hour time (AM/PM)", "24h": " with a 24-hour time", "date": ", no time"}[clock]
    return f"NN{sep}NN{sep}YYYY{time}"


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
    if g["wd"]:
        tok = [("WD", 3), ("sep", g["wdc"] + " ")]
    ambiguous = False
    if g["ymd"]:
        tok += [("Y", 4), ("sep", g["s1"]), ("M", len(g["ymd_m"])), ("sep", g["s1"]), ("D", len(g["ymd_d"]))]
    elif g["f1"]:
        ambiguous = True
        a, b = ("D", "M") if day_first else ("M", "D")
        tok += [(a, len(g["f1"])), ("sep", g["s2"]), (b, len(g["f2"])), ("sep", g["s2"]), ("Y", len(g["y2"]))]
    elif g["nd"]:
        s = g["s3"]
        tok += [("D", len(g["nd"])), ("sep", s), ("Mon", 3), ("sep", s), ("Y", len(g["ny"]))]
    else:
        tok += [("Mon", 3), ("sep", " "), ("D", len(g["md"])), ("sep", g["mc"] + " "), ("Y", len(g["my"]))]
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
        lead = [("sep", " ")] if z.startswith(" ") else []
        z = z.strip()
        tok += lead + ([("Z", z)] if z in ("Z", "UTC", "GMT") else [("TZ", len(z))])
    return Shape(tok, has_time, ambiguous)


_PADDABLE = {"D", "M", "H"}


def format_label(tokens: list[tuple[str, int | str]], short: set[int]) -> tuple[str, str]:
    """Human label (DD/MM/YYYY HH:MM:SS) and strptime pattern (%d/%m/%Y %H:%M:%S) of a token list;
    positions in `short` are fields written without padding (D, M, H)."""
    label, fmt = [], []
    ampm = any(k == "AMPM" for k, _ in tokens)
    for pos, (kind, width) in enumerate(tokens):
        if kind in ("sep", "Z"):
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
        elif kind == "TZ":
            label.append({6: "+HH:MM", 5: "+HHMM"}.get(w, "+HH"))
            fmt.append("%z")
        elif kind == "WD":
            label.append("Ddd")
            fmt.append("%a")
    return "".join(label), "".join(fmt)


def _skeleton(tokens: list[tuple[str, int | str]]) -> tuple[Any, ...]:
    return tuple((k, None if k in _PADDABLE else w) for k, w in tokens)


def build_formats(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn the shape groups of one column into its date formats (only values that parse count).
    Each group carries the order it is read in (`_df`, set by `_dates`) and its count of values that
    parse so (`_ok`).

    Shapes that differ only in the width of day, month or hour fields form one family. Per field, a
    family writes it without padding (D, M, H) when some value has one digit there, with padding
    (DD, MM, HH) otherwise; only when one field shows both one-digit values and leading zeros does the
    family split into two formats, and values showing neither (e.g. 25) join the larger one."""
    families: dict[tuple[Any, ...], list[tuple[dict[str, Any], Shape]]] = defaultdict(list)
    for g in groups:
        shape = parse_shape(g["shape"], g["_df"])
        if shape is None or not g["_ok"]:
            continue
        families[_skeleton(shape.tokens)].append((g, shape))
    formats: dict[str, dict[str, Any]] = {}
    for members in families.values():
        paddable = [i for i, (k, _) in enumerate(members[0][1].tokens) if k in _PADDABLE]

        def style(g: dict[str, Any], shape: Shape, j: int, pos: int) -> str:
            if shape.tokens[pos][1] == 1:
                return "short"
            lz = g["lz"] or ""
            return "padded" if j < len(lz) and lz[j] == "1" else "either"

        weight: dict[tuple[int, str], int] = defaultdict(int)
        for g, shape in members:
            for j, pos in enumerate(paddable):
                weight[(pos, style(g, shape, j, pos))] += g["_ok"]
        for g, shape in members:
            short = set()
            for j, pos in enumerate(paddable):
                own = style(g, shape, j, pos)
                n_short, n_padded = weight[(pos, "short")], weight[(pos, "padded")]
                if own == "short" or (own == "either" and n_short > n_padded):
                    short.add(pos)
            label, pattern = format_label(shape.tokens, short)
            f = formats.setdefault(
                label,
                {"format": label, "strptime": pattern, "count": 0, "looks_like": 0, "has_time": False,
                 "order_ambiguous": False, "_groups": []},
            )  # fmt: skip
            f["count"] += g["_ok"]
            f["looks_like"] += g["n"]
            f["has_time"] |= shape.has_time
            f["order_ambiguous"] |= shape.order_ambiguous
            f["_groups"].append(g)
    out = sorted(formats.values(), key=lambda f: (-f["count"], f["format"]))
    for f in out:
        examples: list[str] = []
        for g in sorted(f.pop("_groups"), key=lambda g: -g["_ok"]):
            for e in (g["ex1"], g["ex3"], g["ex2"]):
                if e is not None and e not in examples and len(examples) < 3:
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
    from orchestrator.source.read import attach_source

    started = time.perf_counter()
    path = Path(path)
    check_sqlite_file(path)
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

    limit = memory_limit or os.environ.get("SDRUN_PROFILE_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    workers = max(2, min(4, os.cpu_count() or 2))
    with tempfile.TemporaryDirectory(prefix="sdrun-profile-") as tmp, ThreadPoolExecutor(workers) as pool:
        # SQLite counts storage classes while DuckDB reads the values; tables are read side by side,
        # each on its own cursor of one DuckDB database (one memory limit for all of them).
        storage_future = pool.submit(storage_classes, path, tables)
        con = _duckdb(limit, tmp)
        try:
            attach_source(con, path)

            def one(t: TableInfo) -> dict[str, Any]:
                cur = con.cursor()
                cur.execute("SET sqlite_all_varchar = true")  # a session setting: every cursor needs it
                try:
                    return {
                        "name": t.name,
                        "row_count": counts[t.name],
                        "key": _key_check(cur, t, sents),
                        "references": [_reference_check(cur, t, r, sents) for r in t.references],
                        "scans": _profile_table(cur, t, counts[t.name], sents),
                    }
                finally:
                    cur.close()

            biggest_first = sorted(tables, key=lambda t: -counts[t.name] * max(1, len(t.columns)))
            futures = {t.name: pool.submit(one, t) for t in biggest_first}
            table_profiles = [futures[t.name].result() for t in tables]
        except duckdb.Error as exc:
            raise SourceError(f"{path}: could not be read ({str(exc).splitlines()[0]})") from exc
        finally:
            con.close()
        try:
            storage = storage_future.result()
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{path}: unreadable SQLite database ({exc})") from exc
    order_from = "argument" if day_first is not None else settings.day_first_from
    orders = decide_orders([sc for tp in table_profiles for sc in tp["scans"]], order, order_from)
    for tp in table_profiles:
        tp["columns"] = [
            _column_profile(sc["pos"], sc["info"], sc["family"], sc["r"], sc["groups"], sc["rows"],
                            {k[2]: d for k, d in orders.items() if k[:2] == (tp["name"], sc["info"].name)})
            for sc in tp.pop("scans")
        ]  # fmt: skip
        for col in tp["columns"]:
            col["storage_classes"] = storage[tp["name"]].get(col["name"], {})

    profile: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": {"path": str(path.resolve()), "size_bytes": path.stat().st_size},
        "settings": {
            "day_first": order,
            "day_first_from": order_from,
            "sentinels": sents,
            "sentinels_from": "argument" if sentinels is not None else settings.sentinels_from,
        },
        "summary": {},
        "tables": table_profiles,
        "score": quality_score(table_profiles),
    }
    profile["summary"] = _summary(profile)
    profile["date_orders"] = date_orders(profile)
    profile["warnings"] = [
        f"{t['name']}.{c['name']}: dates shaped {o['label']} read {o['reason']}"
        for t, c in iter_columns(profile) if c["dates"] for o in c["dates"]["orders"] if o["warn"]
    ]  # fmt: skip
    apply_breaker(profile, thresholds or Thresholds.from_env(), day_first=order)
    profile["elapsed_seconds"] = round(time.perf_counter() - started, 3)
    return profile


CLASS_NAMES = {
    K_NULL: "null", K_EMPTY: "empty", K_WS: "whitespace", K_SENTINEL: "sentinel", K_INT: "integer",
    K_REAL_DOT: "real_dot", K_REAL_COMMA: "real_comma", K_BOOL: "boolean_word", K_DATE: "date_like",
    K_TEXT: "text",
}  # fmt: skip


def _profile_table(
    con: duckdb.DuckDBPyConnection, t: TableInfo, rows: int, sentinels: list[str]
) -> list[dict[str, Any]]:
    """One scan of table `t`: per column its value-class figures (`r`) and its date groups, for
    `_column_profile` once the day/month orders of the whole export are decided (decide_orders)."""
    names = [c.name for c in t.columns]
    if not names:
        return []
    cur = con.execute(table_scan_sql(t.name, names, sentinels))
    fields = [d[0] for d in cur.description]
    per_column: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in cur.fetchall():
        g = dict(zip(fields, row, strict=True))
        per_column[int(g["col"])].append(g)
    scans = []
    for pos, info in enumerate(t.columns):
        groups = per_column.get(pos, [])
        family = declared_family(info.declared_type)
        r: dict[str, Any] = {name: 0 for name in CLASS_NAMES.values()}
        sentinel_values: dict[str, int] = defaultdict(int)
        for g in groups:
            r[CLASS_NAMES[g["k"]]] += g["n"]
            for item in g["sentinel_values"] or []:
                sentinel_values[item["value"]] += item["n"]
        for name in ("zero_one", "untrimmed", "invalid_utf8", "nul_bytes"):
            r[name] = sum(g[name] for g in groups)
        r["distinct"] = sum(g["distinct_n"] for g in groups)
        r["sentinel_values"] = dict(sentinel_values)
        r["text_example"] = next((g["text_ex"] for g in groups if g["k"] == K_TEXT), None)
        for name, pick in (("int_min", min), ("int_max", max), ("num_min", min), ("num_max", max),
                           ("len_min", min), ("len_max", max)):  # fmt: skip
            found = [g[name] for g in groups if g[name] is not None]
            r[name] = pick(found) if found else None
        textual = [g for g in groups if g["k"] == K_DATE]
        excel = [g for g in groups if g["shape"] == "EXCEL"]
        date_groups = textual + excel if textual or family in ("date", "timestamp") else []
        missing = r["null"] + r["empty"] + r["whitespace"] + r["sentinel"]
        date_like = sum(g["n"] for g in textual)
        scans.append({
            "table": t.name, "pos": pos, "info": info, "family": family, "r": r, "groups": date_groups, "rows": rows,
            # a column whose values are mostly dates: its evidence counts for the whole export
            "dated": bool(textual)
            and (family in ("date", "timestamp") or date_like >= DETECT_MIN_SHARE * (rows - missing)),
        })  # fmt: skip
    return scans


# --- day/month order: per column and per shape, from the evidence of the whole export ---------------


def decide_orders(
    scans: list[dict[str, Any]], day_first: bool, day_first_from: str
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The day/month order of every shape (order_shape_key) of every date column holding
    day/month/year values, keyed (table, column, shape). A shape follows, in this order:

    1. its own evidence: values that can only be day-first (20/05/2025) or only month-first
       (05/20/2025); both at once is a conflict (the breaker halts: order_conflict);
    2. when it has none (every value is 12 or less in both fields): the column's other shapes,
       when they all point one way;
    3. else the export's other date columns of the same shape, when they all point one way; else all
       of the export's other date columns, when they all point one way;
    4. else the project's `day_first`, with a warning: the export gives no evidence at all."""
    decided: dict[tuple[str, str, str], dict[str, Any]] = {}
    pending: list[tuple[str, str, str]] = []
    for sc in scans:
        by_shape: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for g in sc["groups"]:
            if g["kind"] == "dmy":
                by_shape[order_shape_key(g["shape"])].append(g)
        for shape, groups in by_shape.items():
            key = (sc["table"], sc["info"].name, shape)
            first = sum(g["first_over_12"] for g in groups)
            second = sum(g["second_over_12"] for g in groups)
            ev = {"first_over_12": first, "second_over_12": second, "ambiguous": sum(g["ambiguous"] for g in groups)}
            if not (first or second or ev["ambiguous"]):
                continue  # no value of this shape is a valid date either way: nothing to decide
            first_ex = min((g["first_ex"] for g in groups if g["first_ex"]), default=None)
            second_ex = min((g["second_ex"] for g in groups if g["second_ex"]), default=None)
            d = {"table": sc["table"], "column": sc["info"].name, "shape": shape, "label": order_shape_label(shape),
                 "evidence": ev, "examples": {"day_first": first_ex, "month_first": second_ex},
                 "values": sum(g["n"] for g in groups), "dated": sc["dated"], "warn": False}  # fmt: skip
            if first and second:
                d.update(day_first=day_first, decided_by="conflict", reason=(
                    f"conflicting evidence: {first:,} values can only be day-first (e.g. {first_ex}) and {second:,} "
                    f"only month-first (e.g. {second_ex})"))  # fmt: skip
            elif first or second:
                n, ex, order = (first, first_ex, "day-first") if first else (second, second_ex, "month-first")
                field = "first" if first else "second"
                d.update(
                    day_first=bool(first),
                    decided_by="evidence",
                    reason=(f"{order}: {n:,} value(s) with a {field} field over 12 (e.g. {ex}) and none the other way"),
                )
            else:
                pending.append(key)
            decided[key] = d
    evidenced = {k: d for k, d in decided.items() if d.get("decided_by") == "evidence"}
    for key in pending:
        d = decided[key]
        table, column, shape = key
        n = d["evidence"]["ambiguous"]
        none = f"{n:,} values are 12 or less in both fields"
        own = {v["day_first"] for k, v in evidenced.items() if k[:2] == (table, column)}
        alike = [v for k, v in evidenced.items() if k[2] == shape and v["dated"]]
        export = [v for v in evidenced.values() if v["dated"]]
        if len(own) == 1:
            (df,) = own
            d.update(
                day_first=df,
                decided_by="column",
                reason=(f"{_order(df)}: no evidence of its own ({none}); the column's other shapes are {_order(df)}"),
            )
            continue
        for others, what in ((alike, "dates of this shape"), (export, "date columns")):
            orders = {v["day_first"] for v in others}
            if len(orders) == 1 and not own:
                (df,) = orders
                names = sorted({f"{v['table']}.{v['column']}" for v in others})
                shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                d.update(day_first=df, decided_by="export", reason=(
                    f"{_order(df)}: no evidence in this column ({none}); the export's other {what} are "
                    f"{_order(df)} ({shown})"))  # fmt: skip
                break
        else:
            d.update(day_first=day_first, decided_by="default", warn=True, reason=(
                f"{_order(day_first)}: the export gives no evidence ({none}); the project's "
                f"day_first={str(day_first).lower()} decides ({day_first_from}); set --var "
                f"day_first={str(not day_first).lower()} if this export is {_order(not day_first)}"))  # fmt: skip
    return decided


def _order(day_first: bool) -> str:
    return "day-first" if day_first else "month-first"


def date_orders(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the `date_orders` table the raw load writes (orchestrator/load.py)."""
    return [
        {"table": t["name"], "column": c["name"], "shape": o["shape"], "day_first": o["day_first"],
         "reason": o["reason"]}
        for t, c in iter_columns(profile) if c["dates"] for o in c["dates"]["orders"]
    ]  # fmt: skip


def _column_profile(
    pos: int,
    info: ColumnInfo,
    family: str | None,
    r: dict[str, Any],
    groups: list[dict[str, Any]],
    rows: int,
    orders: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    missing = r["null"] + r["empty"] + r["whitespace"] + r["sentinel"]
    present = rows - missing
    dates = _dates(groups, present, orders) if groups else None
    if dates and r["text_example"] is not None and len(dates["unparseable_examples"]) < 3:
        dates["unparseable_examples"].append(r["text_example"])
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
    mismatch = bool(family and family != "text" and detected != "empty")
    mismatch = mismatch and detected not in COMPATIBLE[family or "text"]
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
        if detected == "date":  # date-only values: no midnight time
            minimum, maximum = (v[:10] if isinstance(v, str) else v for v in (minimum, maximum))
            dates["min"], dates["max"] = minimum, maximum
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
        "invalid_utf8": r["invalid_utf8"],
        "nul_bytes": r["nul_bytes"],
        "distinct_count": int(r["distinct"]),
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


def _dates(groups: list[dict[str, Any]], present: int, orders: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Formats, day/month evidence and decisions, parse counts and range of one column's date-like
    values. Each day/month/year shape is read in the order decide_orders gave it. Evidence counts
    only values that are valid dates in that order: 13/02/2025 is day-first evidence, 31/02/2025 is
    no evidence at all (it is unparseable either way)."""
    for g in groups:
        o = orders.get(order_shape_key(g["shape"])) if g["kind"] == "dmy" else None
        g["_df"] = o["day_first"] if o else True  # only day/month/year values have two readings
        suffix = "df" if g["_df"] else "mf"
        g["_ok"], g["_min"], g["_max"] = g[f"ok_{suffix}"], g[f"min_{suffix}"], g[f"max_{suffix}"]
    first = sum(g["first_over_12"] for g in groups)
    second = sum(g["second_over_12"] for g in groups)
    ambiguous = sum(g["ambiguous"] for g in groups)
    if first and second:
        verdict: str | None = "conflicting"
    elif first:
        verdict = "day-first"
    elif second:
        verdict = "month-first"
    elif ambiguous:
        verdict = "ambiguous"
    else:
        verdict = None  # no day/month/year values: ISO dates, month names or Excel serials only
    used = {o["day_first"] for o in orders.values()}
    parsed = sum(g["_ok"] for g in groups)
    mins = [g["_min"] for g in groups if g["_min"] is not None]
    maxs = [g["_max"] for g in groups if g["_max"] is not None]
    formats = build_formats(groups)
    bad = [e for e in dict.fromkeys(g["bad_ex"] for g in groups) if e is not None]
    return {
        "is_date_column": True,
        "formats": [{k: f[k] for k in ("format", "strptime", "count", "examples", "has_time")} for f in formats],
        "order_evidence": {"first_over_12": first, "second_over_12": second, "ambiguous": ambiguous},
        "verdict": verdict,
        "parsed_as": "mixed" if len(used) > 1 else _order(used.pop()) if used else None,
        "orders": [
            {
                k: o[k]
                for k in (
                    "shape",
                    "label",
                    "day_first",
                    "decided_by",
                    "reason",
                    "evidence",
                    "examples",
                    "values",
                    "warn",
                )
            }
            for _, o in sorted(orders.items(), key=lambda kv: -kv[1]["values"])
        ],  # fmt: skip
        "date_like": sum(g["n"] for g in groups),
        "parsed": parsed,
        "unparseable": present - parsed,
        "unparseable_share": _share(present - parsed, present),
        "unparseable_examples": bad[:3],
        "has_time": any(f["has_time"] for f in formats),
        "min": _iso(min(mins)) if mins else None,
        "max": _iso(max(maxs)) if maxs else None,
    }


def _utf8(expr: str) -> str:
    """Text that is not valid UTF-8 (a latin-1 export, a BLOB) would break DuckDB's string functions:
    such a value becomes '0x' and its bytes in hex."""
    return f"coalesce(try(decode(encode({expr}))), '0x' || hex({expr}))"


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None  # an aggregate without GROUP BY always returns a row
    return row


def _not_missing(expr: str, sentinels: list[str]) -> str:
    lowered = _list(sorted({x.lower() for x in sentinels}))
    return f"{expr} IS NOT NULL AND {expr} <> '' AND NOT list_contains({lowered}, lower({expr}))"


def _key_check(con: duckdb.DuckDBPyConnection, t: TableInfo, sentinels: list[str]) -> dict[str, Any] | None:
    if not t.key:
        return None
    k = f"trim({_utf8(q(t.key))}, {lit(WHITESPACE)})"
    row = _one(
        con,
        f"SELECT count(*), coalesce(sum(n), 0), min(k), max(k) FROM ("
        f"SELECT {k} AS k, count(*) AS n FROM src.{q(t.name)} WHERE {_not_missing(k, sentinels)} "
        f"GROUP BY 1 HAVING count(*) > 1)",
    )
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
    c = f"trim({_utf8(q(col))}, {lit(WHITESPACE)})"
    p = f"trim({_utf8(q(pcol))}, {lit(WHITESPACE)})"
    row = _one(
        con,
        f"SELECT count(*), count(*) FILTER (p.k IS NULL), min(c.r) FILTER (p.k IS NULL), "
        f"max(c.r) FILTER (p.k IS NULL) "
        f"FROM (SELECT {c} AS r FROM src.{q(t.name)} WHERE {_not_missing(c, sentinels)}) c "
        f"LEFT JOIN (SELECT DISTINCT {p} AS k FROM src.{q(parent)}) p ON c.r = p.k",
    )
    return {
        "column": col,
        "references": {"table": parent, "column": pcol},
        "from": origin,
        "rows_with_reference": int(row[0]),
        "orphan_rows": int(row[1]),
        "examples": [e for e in dict.fromkeys((row[2], row[3])) if e is not None],
    }


# --- score ------------------------------------------------------------------------------------------

FORMULAS = {
    "completeness": "present cells / all cells",
    "validity": "present values that fit their column's detected type / present values",
    "uniqueness": "(rows of keyed tables - surplus duplicate rows) / rows of keyed tables",
    "consistency": "values in their column's main format / parsed values of date and real columns",
    "integrity": "references that resolve / rows holding a reference",
}


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
                # among the values that parse: unparseable ones already count against validity
                formats = c["dates"]["formats"]
                typed += c["dates"]["parsed"]
                consistent += max((f["count"] for f in formats), default=0)
            elif kind == "real" and c["numeric"]:
                n = c["numeric"]
                typed += n["integers"] + n["decimal_point"] + n["decimal_comma"]
                consistent += n["integers"] + max(n["decimal_point"], n["decimal_comma"])
        if t.get("key"):
            keyed_rows += t["row_count"]
            surplus += t["key"]["surplus_rows"]
        for r in t.get("references", []):
            refs += r["rows_with_reference"]
            orphans += r["orphan_rows"]
    parts = {
        "completeness": (present, cells),
        "validity": (valid, present),
        "uniqueness": (keyed_rows - surplus, keyed_rows),
        "consistency": (consistent, typed),
        "integrity": (refs - orphans, refs),
    }
    dims: dict[str, dict[str, Any]] = {}
    for name, (good, total) in parts.items():
        formula = FORMULAS[name]
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


def evaluate_breaker(profile: dict[str, Any], thresholds: Thresholds) -> list[Trip]:
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
            is_date = {c["detected_type"], c["declared_family"]} & {"date", "timestamp"}
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
                for o in d["orders"]:
                    if o["decided_by"] == "conflict":
                        ev = o["evidence"]
                        trips.append(Trip(
                            "order_conflict",
                            f"{where}: dates shaped {o['label']} hold values that can only be day-first and values "
                            f"that can only be month-first ({o['reason']}): no single reading fits; correct the "
                            f"export or write the two kinds in different forms",
                            t["name"], c["name"], min(ev["first_over_12"], ev["second_over_12"]), 0,
                        ))  # fmt: skip
    share = len(mismatched) / n_columns if n_columns else 0.0
    if share > thresholds.max_type_mismatch_share:
        more = f" and {len(mismatched) - 5} more" if len(mismatched) > 5 else ""
        shown = ", ".join(mismatched[:5]) + more
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


def breaker_trips(profile: dict[str, Any], thresholds: Thresholds) -> list[str]:
    """One line per tripped rule, naming table.column and the figure; empty when the run may go on."""
    return [t.message for t in evaluate_breaker(profile, thresholds)]


def apply_breaker(profile: dict[str, Any], thresholds: Thresholds, *, day_first: bool) -> list[str]:
    """Evaluate the breaker and record thresholds, trips and the configured order in `profile["breaker"]`
    (the order decides only shapes the export gives no evidence for: profile.decide_orders)."""
    trips = evaluate_breaker(profile, thresholds)
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
    from orchestrator.profile.html import render_html

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_html(profile), encoding="utf-8")
    tmp.replace(path)


def run_gate(
    source: Path, out_dir: Path, thresholds: Thresholds | None = None, *, day_first: bool | None = None
) -> dict[str, Any]:
    """Gate 1: profile the source, write out_dir/profile.json and out_dir/profile.html, and raise
    GateHalted (exit 3) with one reason per tripped rule when the breaker trips. `day_first` defaults
    to the dbt project's `vars.day_first` (pass the run's override when there is one)."""
    thresholds = thresholds or Thresholds.from_env()
    profile = profile_source(source, day_first=day_first, thresholds=thresholds)
    write_json(profile, Path(out_dir) / "profile.json")
    write_html(profile, Path(out_dir) / "profile.html")
    trips = [t["message"] for t in profile["breaker"]["trips"]]
    if trips:
        raise GateHalted(f"Gate 1 (profile) halted the run: {len(trips)} rule(s) tripped", reasons=trips, itemize=True)
    return profile


def iter_columns(profile: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    for t in profile["tables"]:
        for c in t["columns"]:
            yield t, c


def _n(value: int) -> str:
    return f"{value:,}" if value else "·"


def print_summary(profile: dict[str, Any], file: Any = None) -> None:
    """A readable summary for a terminal: the score, then one rich table per source table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=file, highlight=False)
    if not console.is_terminal:
        console.width = 160
    s, sc = profile["summary"], profile["score"]
    order = "day-first" if profile["settings"]["day_first"] else "month-first"
    console.print(
        f"[bold]{profile['source']['path']}[/bold]: {s['tables']} tables, {s['columns']} columns, "
        f"{s['rows']:,} rows; {s['values']:,} values read in {profile.get('elapsed_seconds', 0):.2f} s; "
        f"configured order {order}"
    )
    dims = ", ".join(
        f"{k} {v['score']:.1f}" if v["score"] is not None else f"{k} n/a" for k, v in sc["dimensions"].items()
    )
    console.print(f"Quality score [bold]{sc['overall']:.1f}[/bold] of 100 ({dims})")
    for t in profile["tables"]:
        facts = [f"{t['row_count']:,} rows"]
        if t.get("key"):
            k = t["key"]
            facts.append(f"key {k['column']}: {k['duplicate_keys']:,} duplicated ({k['surplus_rows']:,} surplus rows)")
        for r in t.get("references", []):
            facts.append(f"{r['column']} → {r['references']['table']}: {r['orphan_rows']:,} orphans")
        table = Table(title=f"[bold]{t['name']}[/bold] — {'; '.join(facts)}", title_justify="left", box=None)
        for h, justify in (("column", "left"), ("declared", "left"), ("storage", "left"), ("detected", "left"),
                           ("fit", "right"), ("null", "right"), ("empty", "right"), ("blank", "right"),
                           ("sentinel", "right"), ("distinct", "right"), ("date formats · order", "left"),
                           ("min … max", "left")):  # fmt: skip
            table.add_column(h, justify=justify)  # type: ignore[arg-type]
        for c in t["columns"]:
            d = c["dates"]
            fmts = ""
            if d and d["formats"]:
                fmts = "; ".join(f"{f['format']} {f['count']:,}" for f in d["formats"][:3])
                if len(d["formats"]) > 3:
                    fmts += f"; +{len(d['formats']) - 3} more"
                if d["unparseable"]:
                    fmts += f"; [red]unparseable {d['unparseable']:,}[/red]"
                if d["verdict"]:
                    fmts += f" · {d['verdict']}"
            storage = ", ".join(c["storage_classes"])
            detected = c["detected_type"] + (" [red]mismatch[/red]" if c["type_mismatch"] else "")
            span = "" if c["min"] is None else f"{c['min']} … {c['max']}"
            table.add_row(
                c["name"], c["declared_type"] or "-", storage, detected, f"{c['confidence']:.1%}",
                _n(c["null"]), _n(c["empty"]), _n(c["whitespace_only"]), _n(c["sentinel"]),
                f"{c['distinct_count']:,}", fmts, span,
            )  # fmt: skip
        console.print(table)
        for c in t["columns"]:
            for o in (c["dates"] or {}).get("orders", []):
                style = "yellow" if o["warn"] else "red" if o["decided_by"] == "conflict" else "dim"
                text = escape(f"{c['name']} [{o['shape']}] read {o['reason']}")
                console.print(f"  [{style}]{text}[/{style}]")
    b = profile.get("breaker")
    if b and b["halted"]:
        console.print(f"[bold red]Circuit breaker: {len(b['trips'])} rule(s) tripped, nothing may be loaded[/]")
    elif b:
        console.print("[green]Circuit breaker: no rule tripped[/green]")
