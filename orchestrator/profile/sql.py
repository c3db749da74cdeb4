"""Reading the source for the profile: the tables and declared types (sqlite3, read-only), SQLite's
storage classes, and the one DuckDB query per table that classifies every distinct value."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.profile.config import (
    BOOLEAN_WORDS,
    EXCEL_SERIAL_MAX,
    EXCEL_SERIAL_MIN,
    WHITESPACE,
)
from orchestrator.profile.forms import (
    _RE_MONTH,
    ISO_SHAPES,
    K_BOOL,
    K_DATE,
    K_EMPTY,
    K_INT,
    K_NULL,
    K_REAL_COMMA,
    K_REAL_DOT,
    K_SENTINEL,
    K_TEXT,
    K_WS,
    RE_DATE,
    RE_INTEGER,
    RE_ISO,
    RE_NAMED1_PARTS,
    RE_NAMED2_PARTS,
    RE_NUM_DATE_PARTS,
    RE_REAL_COMMA,
    RE_REAL_DOT,
    RE_TIME_PARTS,
    RE_WEEKDAY_PREFIX,
)
from orchestrator.source.contract import connect_readonly, expected_tables, quote_ident, references

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


q = quote_ident  # every name from the source goes into SQL quoted


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
    for (child, col), (parent, pcol) in references().items():  # the servicedesk tables' (column map)
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
    """SQLite's own storage class of every value, counted by SQLite itself.

    Most values of an export are text, so one scan per table counts per column its non-NULL values
    and one sum that costs a single comparison for a text value: integers count 1, reals and blobs
    2**32 (NULLs 0). Only the columns that hold reals or blobs are scanned again, to tell those two
    apart. The three tables at scale 10: 3.2 s with two CASEs per value, 1.5 s this way."""
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
                parts.append(f"count({q(c.name)})")
                parts.append(f"sum(iif({ty} = 'text', 0, iif({ty} = 'integer', 1, iif({ty} = 'null', 0, {high}))))")
            row = con.execute(f"select count(*), {', '.join(parts)} from {q(t.name)}").fetchone()
            rows = row[0]
            counts: dict[str, dict[str, int]] = {}
            for i, c in enumerate(t.columns):
                present, packed = row[1 + 2 * i], row[2 + 2 * i] or 0
                integer, real_or_blob = packed % high, packed // high
                counts[c.name] = {"integer": integer, "real": real_or_blob, "text": present - integer - real_or_blob,
                                  "blob": 0, "null": rows - present}  # fmt: skip
            mixed = [c.name for c in t.columns if counts[c.name]["real"]]
            if mixed:
                sums = ", ".join(f"sum(typeof({q(n)}) = 'blob')" for n in mixed)
                blobs = con.execute(f"select {sums} from {q(t.name)}").fetchone()
                for n, b in zip(mixed, blobs, strict=True):
                    counts[n]["blob"], counts[n]["real"] = b or 0, counts[n]["real"] - (b or 0)
            for c in t.columns:
                out[t.name][c.name] = {k: v for k, v in counts[c.name].items() if v}
    finally:
        con.close()
    return out


# --- SQL builders -----------------------------------------------------------------------------------


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


def _num(expr: str) -> str:
    return f"TRY_CAST(nullif({expr}, '') AS INTEGER)"


def _year(e: str) -> str:
    n = _num(e)
    return f"CASE WHEN length({e}) = 2 THEN {n} + CASE WHEN {n} < 70 THEN 2000 ELSE 1900 END ELSE {n} END"


def iso_shape(t: str) -> str:
    """The shape (digits as 9) of a value `t` whose shape is one of ISO_SHAPES, else NULL.

    The common ISO forms ('2025-04-01 09:30:00'), most of an export's dates, are told before the other
    classes' regexes (RE_DATE matches every ISO shape) by one regex after two cheap tests, and their
    shape follows from their length and separator: translate() of every digit costs more than the
    regex (the scan of the comments' created times at scale 10, one thread: 2.4 s -> 1.7 s)."""
    return (f"CASE WHEN length({t}) BETWEEN 10 AND {max(map(len, ISO_SHAPES))} AND substr({t}, 5, 1) = '-' "
            f"AND regexp_full_match({t}, {lit(RE_ISO)}) THEN '9999-99-99' || CASE WHEN length({t}) > 10 "
            f"THEN substr({t}, 11, 1) || left('99:99:99.999999', length({t}) - 11) ELSE '' END END")


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
i AS (SELECT col, v, n, bad, t, {iso_shape('t')} AS iso FROM t),
k AS (SELECT col, v, n, bad, t, iso, CASE WHEN iso IS NOT NULL THEN {K_DATE} ELSE {cls} END AS k FROM i),
x AS (SELECT col, v, n, bad, t, iso, k,
        CASE WHEN k IN ({K_INT}, {K_REAL_DOT}, {K_REAL_COMMA})
             THEN TRY_CAST(replace(t, ',', '.') AS DOUBLE) END AS x
      FROM k),
s AS (SELECT col, v, n, bad, t, k, x, coalesce(iso, {shape}) AS shape FROM x),
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
        CASE WHEN shape IS NOT NULL AND kind <> 'iso' AND upper(right(t, 2)) IN ('AM', 'PM')
             THEN upper(left(right(t, 2), 1)) END AS ap
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


