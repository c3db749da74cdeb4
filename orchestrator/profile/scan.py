"""Gate 1, profile: read every value of every column of a SQLite file, report what it really holds,
score its quality and decide whether the run may go on (the circuit breaker).

How it reads (docs/profile.md has the details and every formula):

* DuckDB attaches the file read-only with every column as text (`orchestrator.source.read.attach_source`).
  Per table, ONE query reads every value: it unpivots the table to (column, value), groups equal
  values (exact distinct counts come with it), classifies each distinct value once (NULL, empty,
  whitespace-only, sentinel, integer, real, boolean word, date-like, text), and for date-like values
  computes the shape (digits as 9), the day/month evidence and the value parsed day-first and
  month-first. Its result is one small row per (column, class, shape) group. Duplicate keys and
  orphans take one query each where a key or a reference is known. Tables are read one after the
  other, each query on every core.
* SQLite itself counts each value's storage class (`typeof`), in a thread beside DuckDB: DuckDB's
  typed scan refuses mixed columns, which is exactly what must be counted here.
* Only aggregates are kept and DuckDB runs under a memory limit (spilling to a temporary directory),
  so memory does not grow with the rows.

The declared type of a column is reported and compared, never trusted. This module knows nothing of
the command line: `sdrun profile` (orchestrator.cli) and `sdrun full` (run_gate) call it.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from orchestrator.core.errors import SourceError
from orchestrator.profile.config import (
    DEFAULT_MEMORY_LIMIT,
    DETECT_MIN_SHARE,
    SCHEMA_VERSION,
    WHITESPACE,
    Thresholds,
    iter_columns,
    project_settings,
)
from orchestrator.profile.forms import (
    COMPATIBLE,
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
    build_formats,
    declared_family,
    order_shape_key,
)
from orchestrator.profile.orders import _order, date_orders, decide_orders
from orchestrator.profile.score import _summary, apply_breaker, quality_score
from orchestrator.profile.sql import (
    ColumnInfo,
    TableInfo,
    _list,
    inspect_tables,
    lit,
    q,
    storage_classes,
    table_scan_sql,
)
from orchestrator.source.contract import check_sqlite_file, connect_readonly

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
    with tempfile.TemporaryDirectory(prefix="sdrun-profile-") as tmp, ThreadPoolExecutor(1) as pool:
        # SQLite counts storage classes in a thread while DuckDB reads the values, one table after the
        # other: each query already keeps every core busy, and tables read side by side only made them
        # wait on each other (scale 10: 5.2-5.4 s and 8.2-10.7 CPU-seconds side by side, 4.3 s and
        # 8.3 CPU-seconds in turn; scale 40: 19.5-20.7 s against 16.0-16.4 s).
        storage_future = pool.submit(storage_classes, path, tables)
        con = _duckdb(limit, tmp)
        try:
            attach_source(con, path)
            table_profiles = [
                {
                    "name": t.name,
                    "row_count": counts[t.name],
                    "key": _key_check(con, t, sents),
                    "references": [_reference_check(con, t, r, sents) for r in t.references],
                    "scans": _profile_table(con, t, counts[t.name], sents),
                }
                for t in tables
            ]
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
    # one unparseable value per shape, in their sort order: the groups come in no particular order, and
    # the same export must show the same examples
    bad = sorted({g["bad_ex"] for g in groups if g["bad_ex"] is not None})
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
    # Grouped first, and the missing keys dropped per group, in a HAVING on the count: a filter on the
    # cleaned key alone would be pushed down to every row and clean each value once per test in it
    # (comments at scale 10: 1.2 s that way). A key is missing or not whatever row holds it.
    k = f"trim({_utf8(q(t.key))}, {lit(WHITESPACE)})"
    row = _one(
        con,
        f"SELECT count(*), coalesce(sum(n), 0), min(k), max(k) FROM ("
        f"SELECT {k} AS k, count(*) AS n FROM src.{q(t.name)} GROUP BY 1 "
        f"HAVING CASE WHEN {_not_missing(k, sentinels)} THEN count(*) ELSE 0 END > 1)",
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
    # the child's values grouped first and the missing ones dropped per group, as in _key_check
    row = _one(
        con,
        f"SELECT coalesce(sum(c.n), 0), coalesce(sum(c.n) FILTER (p.k IS NULL), 0), min(c.r) FILTER (p.k IS NULL), "
        f"max(c.r) FILTER (p.k IS NULL) "
        f"FROM (SELECT {c} AS r, count(*) AS n FROM src.{q(t.name)} GROUP BY 1 "
        f"HAVING CASE WHEN {_not_missing(c, sentinels)} THEN count(*) ELSE 0 END > 0) c "
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


