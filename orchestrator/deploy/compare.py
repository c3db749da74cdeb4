"""Quarter over quarter: a prod run's new build (`servicedesk_next`) against the live version
(`servicedesk`), after verify and before the backup and the swap; and the shrink gate.

A history only grows: each quarter's file holds every earlier quarter too, so a new build that lost
rows of the live version is most likely the wrong file. The comparison (report.json `comparison`,
and the run summary) gives, each in one SQL statement per table on PostgreSQL:

- rows per mart table, live → new;
- tickets per month of `created_at`, live → new;
- the quality score (Gate 1) of this run against the score of the run that built the live version
  (the ledger, `sdrun_meta.runs.counts.score`);
- quarantine rows per reason, live → new;
- rows of the live version missing from the new build, per history table (the source tables:
  tickets, comments, timesheets), by the table's key (`meta.key` of the sources file, as the mart
  names it through the column map) or, for a table without a key of its own (timesheets), by its
  whole content (every mart column the column map fills), counted as a multiset (EXCEPT ALL);
  with the count and a few example keys.

The gate halts the run (GateHalted, exit 3; nothing is published) when, in a history table, more
than SDRUN_MAX_ROWS_DROP_SHARE (default 0) of the live rows are missing from the new build or the
row count fell by more than that share. `--allow-shrink` lets a deliberate replacement through
(the comparison is still reported, gate `overridden`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import psycopg2
import yaml
from psycopg2 import sql

from orchestrator.core.errors import GateHalted, StepFailed, UsageError
from orchestrator.core.settings import PROJECT_DIR
from orchestrator.deploy import pgbackup
from orchestrator.source.contract import expected_tables
from orchestrator.targets.postgres import SESSION_WORK_MEM, connection, ident
from orchestrator.targets.schemas import SchemaSet

MARTS_DIR = PROJECT_DIR / "models" / "marts"
SHARE_ENV = "SDRUN_MAX_ROWS_DROP_SHARE"
TICKETS = "tickets"  # the mart whose created_at gives the tickets per month
QUARANTINE = "quarantine"
OTHER_LOCK_TIMEOUT_S = 2  # a live table outside the history, locked by somebody: reported as not compared
EXAMPLES = 3  # example keys per table
EXAMPLE_CHARS = 160


def max_drop_share_from_env() -> float:
    """SDRUN_MAX_ROWS_DROP_SHARE: the share (0 to 1) of a history table's live rows that may be
    missing from the new build; default 0, none."""
    raw = os.environ.get(SHARE_ENV, "0").strip()
    try:
        share = float(raw)
    except ValueError:
        share = math.nan
    if not 0 <= share <= 1:  # NaN too
        raise UsageError(f"{SHARE_ENV}={raw!r}: expected a share from 0 to 1, e.g. 0.01 for 1% "
                         "(default 0: no row of the live version may be lost)")
    return share


@dataclass(frozen=True)
class HistoryTable:
    name: str  # the mart, named as the source table
    columns: tuple[str, ...]  # what identifies a row: the key, or the whole content
    keyed: bool


def mart_models() -> dict[str, list[str]]:
    """The marts and their columns, in their contract's order (models/marts/*.yml)."""
    out: dict[str, list[str]] = {}
    for path in sorted(MARTS_DIR.glob("*.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for model in doc.get("models") or []:
            out[model["name"]] = [c["name"] for c in model.get("columns") or []]
    return out


def history_tables(marts: dict[str, list[str]] | None = None) -> list[HistoryTable]:
    """The source tables' marts with what identifies a row: the `meta.key` column's clean name, or,
    for a table with no key of its own, every mart column the column map fills (not the derived id
    or source_row, which are places in one file, not facts of the history)."""
    marts = mart_models() if marts is None else marts
    out = []
    for spec in expected_tables():
        cols = marts.get(spec.name)
        if cols is None:
            raise StepFailed(f"compare: source table {spec.name} has no mart in {MARTS_DIR}")
        if spec.key:
            key: tuple[str, ...] = (spec.clean[spec.key],)
        else:
            filled = set(spec.clean.values())
            key = tuple(c for c in cols if c in filled)
        if not key or any(c not in cols for c in key):
            raise StepFailed(f"compare: mart {spec.name} lacks its key column(s) {', '.join(key) or '(none)'}")
        out.append(HistoryTable(spec.name, key, bool(spec.key)))
    return out


class _Locked(Exception):
    def __init__(self, holders: str) -> None:
        super().__init__(holders)
        self.holders = holders


def compare(new: SchemaSet, *, live_version: str | None, live_score: float | None,
            new_score: float | None) -> dict[str, Any]:
    """The new build in `new` against the live marts; see the module's docstring."""
    t0 = time.perf_counter()
    live = SchemaSet.live()
    marts = mart_models()
    history = history_tables(marts)
    gated = {h.name for h in history}
    wait = pgbackup.lock_timeout_seconds()
    with connection(autocommit=True) as con, con.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null",
                    (sql.SQL("{}.{}").format(ident(live.marts), ident(TICKETS)).as_string(cur),))
        if not cur.fetchone()[0]:
            return {"live_version": None, "first_deploy": True, "seconds": round(time.perf_counter() - t0, 3)}
        cur.execute("select set_config('work_mem', %s, false) where pg_size_bytes(current_setting('work_mem')) "
                    "< pg_size_bytes(%s)", (SESSION_WORK_MEM, SESSION_WORK_MEM))

        def run(table: str, statement: sql.Composable) -> list[tuple[Any, ...]]:
            """One statement reading live `table`: a lock somebody holds on it is waited for boundedly."""
            cur.execute(f"set lock_timeout = '{wait if table in gated else OTHER_LOCK_TIMEOUT_S}s'")
            try:
                cur.execute(statement)
            except psycopg2.errors.LockNotAvailable:
                holders = pgbackup.lock_holders(live.marts)
                if table in gated:
                    raise StepFailed(f"compare with the live version: waited {wait}s for a lock on "
                                     f"{live.marts}.{table} ({holders}); nothing was published, the live "
                                     "data stays") from None
                raise _Locked(holders) from None
            return list(cur.fetchall())

        def present(schema: str, table: str) -> bool:
            cur.execute("select to_regclass(%s) is not null",
                        (sql.SQL("{}.{}").format(ident(schema), ident(table)).as_string(cur),))
            return bool(cur.fetchone()[0])

        def columns(schema: str, table: str) -> set[str]:
            cur.execute("select column_name from information_schema.columns where table_schema = %s "
                        "and table_name = %s", (schema, table))
            return {r[0] for r in cur.fetchall()}

        def by_group(table: str, expr: sql.Composable) -> list[tuple[Any, int, int]]:
            """(group, live rows, new rows) per value of `expr` in `table`, in one statement."""
            q = sql.SQL("select g, sum(l)::bigint, sum(n)::bigint from ("
                        "select {e} as g, count(*) as l, 0 as n from {l}.{t} group by 1 union all "
                        "select {e}, 0, count(*) from {n}.{t} group by 1) x "
                        "group by g order by g nulls last").format(
                e=expr, l=ident(live.marts), n=ident(new.marts), t=ident(table))
            return [(g, int(a), int(b)) for g, a, b in run(table, q)]

        tables: dict[str, dict[str, Any]] = {}
        for table in marts:
            if not present(new.marts, table):
                continue
            if not present(live.marts, table):
                (n,), = run(table, sql.SQL("select count(*) from {}.{}").format(ident(new.marts), ident(table)))
                tables[table] = {"live": None, "new": n, "diff": None}
                continue
            try:
                (a, b), = run(table, sql.SQL("select (select count(*) from {l}.{t}), (select count(*) from {n}.{t})")
                              .format(l=ident(live.marts), n=ident(new.marts), t=ident(table)))
            except _Locked as exc:
                tables[table] = {"live": None, "new": None, "diff": None, "not_compared": f"locked: {exc.holders}"}
                continue
            tables[table] = {"live": a, "new": b, "diff": b - a}

        disappeared: dict[str, dict[str, Any]] = {}
        for h in history:
            if tables.get(h.name, {}).get("live") is None:
                disappeared[h.name] = {"columns": list(h.columns), "not_compared": "no such table in the live version"}
                continue
            lacking = [c for c in h.columns if c not in columns(live.marts, h.name) & columns(new.marts, h.name)]
            if lacking:
                disappeared[h.name] = {"columns": list(h.columns),
                                       "not_compared": f"column(s) {', '.join(lacking)} missing on one side"}
                continue
            rows = run(h.name, missing_rows_sql(h, live.marts, new.marts))
            disappeared[h.name] = {
                "columns": list(h.columns), "by": "key" if h.keyed else "content",
                "count": int(rows[0][0]) if rows else 0,
                "examples": [_example(h, r[1:]) for r in rows],
            }

        months = [{"month": g.strftime("%Y-%m") if g is not None else None, "live": a, "new": b, "diff": b - a}
                  for g, a, b in by_group(TICKETS, sql.SQL("date_trunc('month', created_at)"))]
        quarantine: dict[str, Any]
        if present(live.marts, QUARANTINE) and present(new.marts, QUARANTINE):
            try:
                quarantine = {str(g): {"live": a, "new": b, "diff": b - a}
                              for g, a, b in by_group(QUARANTINE, sql.Identifier("reason"))}
            except _Locked as exc:
                quarantine = {"not_compared": f"locked: {exc.holders}"}
        else:
            quarantine = {"not_compared": "no quarantine table on one side"}

    score = {"live": live_score, "new": new_score,
             "diff": round(new_score - live_score, 2) if live_score is not None and new_score is not None else None}
    return {
        "live_version": live_version,
        "tables": tables,
        "disappeared": disappeared,
        "tickets_per_month": months,
        "score": score,
        "quarantine_by_reason": quarantine,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def missing_rows_sql(h: HistoryTable, live: str, new: str) -> sql.Composable:
    """The rows of `live`'s table h missing from `new`'s: (their count, then h's columns) for the first
    EXAMPLES of them; no row when none is missing.

    The missing rows are computed whole, as a materialized CTE, before the count and the examples:
    with `LIMIT` on the outside, PostgreSQL would otherwise cost the anti-join by its first rows and,
    on a just-built table without statistics, pick a nested loop over both tables (486 s for 108 K
    comments at scale 1, where the hash anti-join takes 0.05 s)."""
    cols = sql.SQL(", ").join(ident(c) for c in h.columns)
    if h.keyed:  # one unique, not-null key column (the marts' tests): a hash anti-join
        assert len(h.columns) == 1
        gone = "select {c} from {l}.{t} x where not exists (select from {n}.{t} y where y.{c} = x.{c})"
    else:  # the whole content, as a multiset: a row twice in live and once in the new build is missing once
        gone = "select {c} from {l}.{t} except all select {c} from {n}.{t}"
    return sql.SQL("with gone as materialized (" + gone + ") "
                   "select (select count(*) from gone), {c} from gone order by {c} limit {k}").format(
        c=cols, l=ident(live), n=ident(new), t=ident(h.name), k=sql.Literal(EXAMPLES))


def _example(h: HistoryTable, values: tuple[Any, ...]) -> str:
    if h.keyed:
        return str(values[0])
    text = ", ".join(f"{c} {'NULL' if v is None else repr(v) if isinstance(v, str) else str(v)}"
                     for c, v in zip(h.columns, values, strict=True))
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def gate(comparison: dict[str, Any], *, share: float, allow_shrink: bool) -> dict[str, Any]:
    """The shrink gate, on a comparison: halts (GateHalted) when a history table lost more than `share`
    of its live rows (missing from the new build, or fewer rows), unless `allow_shrink`.
    Records comparison["gate"] either way (report.json), and returns it."""
    problems, reasons = [], []
    for table, d in (comparison.get("disappeared") or {}).items():
        counts = comparison["tables"].get(table) or {}
        live, new = counts.get("live"), counts.get("new")
        if "count" not in d or not live:
            continue
        gone, fewer = d["count"], max(live - new, 0)
        if gone <= share * live and fewer <= share * live:
            continue
        what = f"{d['columns'][0]} {d['examples'][0]!r}" if d["by"] == "key" and d["examples"] else \
            f"({d['examples'][0]})" if d["examples"] else ""
        problems.append(f"{table} {live:,} → {new:,} rows ({new - live:+,}), {gone:,} live row(s) missing from "
                        f"the new build" + (f", e.g. {what}" if what else ""))
        reasons.append(f"history_shrinks:{table}")
    status = "passed" if not problems else "overridden" if allow_shrink else "halted"
    result = {"status": status, "max_rows_drop_share": share, "allow_shrink": allow_shrink,
              "tables": [r.split(":", 1)[1] for r in reasons], "problems": problems}
    comparison["gate"] = result
    if status == "halted":
        limit = f" by more than {share:.1%} of a table" if share else ""
        raise GateHalted(
            f"the history would shrink{limit}: {'; '.join(problems)}. Nothing was published, the live version "
            f"stays. If this file deliberately replaces the live data, run again with --allow-shrink"
            f" (or allow a share of lost rows with {SHARE_ENV}, now {share:g})", reasons)
    return result


def summary_lines(c: dict[str, Any]) -> list[str]:
    """The run summary's lines for report["comparison"]."""
    if c.get("skipped"):
        return [f"  compare     skipped: {c['skipped']}"]
    if c.get("first_deploy"):
        return ["  compare     no live version yet (first deploy): nothing to compare"]
    out = [f"  compare     new build against live version {c.get('live_version') or '(not built by sdrun)'} "
           f"in {c.get('seconds', 0):.1f}s"]
    for table, t in c["tables"].items():
        if t.get("not_compared"):
            out.append(f"  compare     {table:<13} not compared ({t['not_compared'][:200]})")
            continue
        if t["live"] is None:
            out.append(f"  compare     {table:<13} new table, {t['new']:,} rows")
            continue
        line = f"  compare     {table:<13} {t['live']:>9,} → {t['new']:>9,}  {_signed(t['diff'])}"
        d = (c.get("disappeared") or {}).get(table)
        if d is not None:
            if "count" in d:
                line += f"  missing from the new build: {d['count']:,}"
                if d["examples"]:
                    line += f" (e.g. {d['examples'][0]})"
            else:
                line += f"  missing rows not compared: {d['not_compared']}"
        out.append(line)
    changed = [m for m in c["tickets_per_month"] if m["diff"]]
    for m in changed:
        out.append(f"  compare     tickets created {m['month'] or 'no date'}: {m['live']:,} → {m['new']:,} "
                   f"({_signed(m['diff'])})")
    if not changed:
        out.append(f"  compare     tickets per month unchanged ({len(c['tickets_per_month'])} month(s))")
    s = c["score"]
    out.append("  compare     quality score "
               + (f"{s['live']:.1f}" if s["live"] is not None else "unknown (not in the ledger)")
               + " → " + (f"{s['new']:.1f}" if s["new"] is not None else "unknown")
               + (f" ({s['diff']:+.1f})" if s["diff"] is not None else ""))
    q = c["quarantine_by_reason"]
    if "not_compared" in q:
        out.append(f"  compare     quarantine not compared ({q['not_compared'][:200]})")
    elif q:
        out.append("  compare     quarantined by reason " + ", ".join(
            f"{r} {v['live']:,} → {v['new']:,}" + (f" ({_signed(v['diff'])})" if v["diff"] else "")
            for r, v in q.items()))
    g = c.get("gate")
    if g:
        if g["status"] == "passed":
            share = f"more than {g['max_rows_drop_share']:.1%} of " if g["max_rows_drop_share"] else ""
            out.append(f"  compare     shrink gate passed: no history table lost {share}its live rows")
        elif g["status"] == "overridden":
            out.append(f"  compare     shrink gate OVERRIDDEN by --allow-shrink: {', '.join(g['tables'])} "
                       "lost live rows")
        else:
            out.append(f"  compare     shrink gate HALTED the deploy: {', '.join(g['tables'])} lost live rows "
                       "(the error line; --allow-shrink deploys a deliberate replacement)")
    return out


def _signed(n: int | None) -> str:
    return "-" if n is None else f"{n:+,}" if n else "0"
