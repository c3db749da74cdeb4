"""A realistic demo source: one quarter of a service desk's export, with the defects real exports bring.

`generate()` writes a SQLite file shaped like the reference export (tables `tickets`, `comments`,
`timesheets`, the export's own column names and declared types) and returns a `DemoSummary` that
records, exactly, every defect and every foreign form it injected: per table, per column, per kind.
Tests and the profiler compare their own counts with these.

Defect kinds (keys of `DemoSummary.injected[table][column]`):

- ``dd_mm_yyyy``     a date written 'DD/MM/YYYY H:MM' (day first, hour not zero-padded)
- ``empty``          an empty string '' where a value belongs
- ``sentinel``       one of 'N/A', '-', 'NULL', 'n/a' standing in for "no value"
- ``unparseable``    a date that is no date ('not a date', '31/02/2025 10:00', '2025-13-45', ...)
- ``whitespace``     leading/trailing spaces or a tab around an otherwise valid text value
- ``case_variant``   status/priority in another case ('RESOLVED', ' closed', 'p3')
- ``decimal_comma``  hours stored as TEXT with a decimal comma ('1,5')
- ``non_numeric``    a ticket id that is not a number ('TEST-12'): valid, but not integer-like
- ``unknown_status`` a status of the desk's own that no seed knows ('Parked by vendor'); under 1 %

Forms other tools and spreadsheets write, valid values all, counted the same way:

- ``real_hours``        TS-Hours as a REAL logged in minutes, more than 6 decimals (13/60 =
                        0.21666666666666667); the other REAL hours are quarter hours or minutes that
                        divide evenly (0.25, 0.05)
- ``priority_spelling`` a priority as ServiceNow ('1 - Critical' .. '4 - Low') or Zendesk ('Urgent',
                        'High', 'Normal', 'Low') write it; every spelling is in seeds/priority_map.csv
- ``us_12h``            'MM/DD/YYYY hh:mm:ss AM' ('05/20/2025 08:42:13 PM') in TKT-Actual Resolution
                        Date; random days, so most carry their own month-first evidence (day > 12)
- ``month_name``        '20-May-2025 08:42' or 'May 20, 2025 8:42 PM' in CT-CREATED-TIME
- ``iso_offset``        '2025-05-20T10:42:13+02:00' in TKT-Actual Response Date: the same instant as
                        the UTC time it replaces (the demo's naive times are UTC)

Statuses come from the seeds, the one place they are defined: seeds/status_map.csv (raw_value ->
status_group) and seeds/status_groups.csv (is_backlog). The demo writes a seeded raw value
title-cased ('awaiting customer' -> 'Awaiting Customer') and only where its group agrees with the
ticket's dates: a backlog group (open, in progress, waiting) has no resolution or closed date, a
resolved ticket a resolution date, a closed or cancelled one both. About 2.5 % are Cancelled and
1.2 % Reopened. Categories are the user's own taxonomy ('Access Request', 'E-mail'), written one
way each: nothing maps them.

Table-level kinds live under the column key ``_table``: ``orphan_ticket`` (a comment or timesheet
whose ticket id matches no ticket) and ``duplicate_key`` (an extra ticket row repeating an id).
Genuine NULLs (open tickets have no resolution or closed date, unassigned tickets no agent) are no
defect; they are counted separately in `DemoSummary.nulls`.

Same seed and scale give a byte-identical file: one `random.Random(seed)` seeds every stream, no
wall clock, no global random state. The file is written to a temporary file next to `out` and
renamed into place, so a killed run never leaves a half-written `out`.
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.atomic import atomic_output, check_writable
from orchestrator.core.errors import UsageError
from orchestrator.demo.catalog import BASE_ROWS, BATCH, TABLES, TEST_IDS_AT_SCALE_1, _vocabulary
from orchestrator.demo.streams import (
    _build_tickets,
    _comments,
    _count,
    _inject_tickets,
    _Ledger,
    _ticket_rows,
    _timesheets,
)

# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    """What `generate` wrote: rows per table and, exactly, every defect it injected."""

    path: Path
    seed: int
    scale: float
    rows: dict[str, int] = field(default_factory=dict)
    # table -> column (or "_table") -> kind -> count; only kinds actually injected (count > 0)
    injected: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # table -> column -> count of genuine NULLs (no defect: e.g. open tickets' closed time)
    nulls: dict[str, dict[str, int]] = field(default_factory=dict)

    def defect_totals(self) -> dict[str, dict[str, int]]:
        """table -> kind -> count, summed over columns."""
        out: dict[str, dict[str, int]] = {}
        for table, cols in self.injected.items():
            kinds: dict[str, int] = {}
            for per_kind in cols.values():
                for kind, n in per_kind.items():
                    kinds[kind] = kinds.get(kind, 0) + n
            out[table] = dict(sorted(kinds.items()))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def write_manifest(self, path: Path) -> None:
        """Write `to_json()` to `path` (atomically: a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def describe(self) -> str:
        rows = ", ".join(f"{n:,} {t}" for t, n in self.rows.items())
        totals = self.defect_totals()
        per_table = {t: sum(k.values()) for t, k in totals.items()}
        lines = [
            f"Wrote {self.path}: {rows} (seed {self.seed}, scale {self.scale:g}).",
            f"Injected defects and foreign forms: {sum(per_table.values()):,} in all ("
            + ", ".join(f"{n:,} in {t}" for t, n in per_table.items())
            + ").",
        ]
        for table, kinds in totals.items():
            if kinds:
                lines.append(f"  {table}: " + ", ".join(f"{k} {n:,}" for k, n in kinds.items()))
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _create_sql(table: str) -> str:
    cols = ", ".join(f'"{name}" {decl}' for name, decl in TABLES[table])
    return f'CREATE TABLE "{table}" ({cols})'


def _insert(
    con: sqlite3.Connection, table: str, rows: Any, nulls: dict[str, dict[str, int]], on_rows: Any = None
) -> int:
    names = [c for c, _ in TABLES[table]]
    sql = f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(names))})'
    null_counts = [0] * len(names)
    written = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            n = _flush(con, sql, batch, null_counts)
            written += n
            if on_rows is not None:
                on_rows(n)
    n = _flush(con, sql, batch, null_counts)
    written += n
    if on_rows is not None and n:
        on_rows(n)
    nulls[table] = {names[i]: k for i, k in enumerate(null_counts) if k}
    return written


def _flush(con: sqlite3.Connection, sql: str, batch: list[tuple[Any, ...]], null_counts: list[int]) -> int:
    for row in batch:
        if None in row:
            for i, v in enumerate(row):
                if v is None:
                    null_counts[i] += 1
    con.executemany(sql, batch)
    n = len(batch)
    batch.clear()
    return n


def generate(out: Path, scale: float = 1.0, seed: int = 42, force: bool = False, progress: Any = None) -> DemoSummary:
    """Write the demo SQLite source to `out` and return what it holds (see the module docstring).

    `progress(rows_written, rows_total)`, when given, is called after each batch of rows."""
    out = Path(out)
    if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"--scale must be a positive number, got {scale}")
    check_writable(out, force)

    n_rows = {t: max(1, round(n * scale)) for t, n in BASE_ROWS.items()}
    n_dup = max(1 if scale >= 0.05 else 0, round(scale))
    n_test = _count(TEST_IDS_AT_SCALE_1, scale)

    master = random.Random(seed)
    rng_t, rng_c, rng_s, rng_d = (random.Random(master.getrandbits(64)) for _ in range(4))
    ledger = _Ledger()

    vocab = _vocabulary()
    tickets, order, gaps = _build_tickets(rng_t, n_rows["tickets"], n_dup, n_test, vocab)
    n_non_numeric = sum(1 for i in order if not tickets[i].id.isdigit())
    ledger.add("tickets", "TKT-Ticket ID", "non_numeric", n_non_numeric)
    ledger.add("tickets", "_table", "duplicate_key", len(order) - len(tickets))
    base_rows = [tickets[i].row() for i in order]
    overrides = _inject_tickets(rng_d, base_rows, scale, ledger, vocab)
    ticket_rows = _ticket_rows(base_rows, overrides)
    orphan_ids = gaps

    nulls: dict[str, dict[str, int]] = {}
    rows: dict[str, int] = {}
    done = [0]

    def on_rows(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], sum(n_rows.values()))

    with atomic_output(out) as tmp:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            for table in TABLES:
                con.execute(_create_sql(table))
            rows["tickets"] = _insert(con, "tickets", ticket_rows, nulls, on_rows)
            comments = _comments(rng_c, tickets, n_rows["comments"], orphan_ids, scale, ledger)
            rows["comments"] = _insert(con, "comments", comments, nulls, on_rows)
            timesheets = _timesheets(rng_s, tickets, n_rows["timesheets"], orphan_ids, scale, ledger)
            rows["timesheets"] = _insert(con, "timesheets", timesheets, nulls, on_rows)
            con.execute("COMMIT")
        finally:
            con.close()
    assert rows == n_rows, (rows, n_rows)
    return DemoSummary(path=out, seed=seed, scale=scale, rows=rows, injected=ledger.result(), nulls=nulls)

