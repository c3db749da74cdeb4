"""`sdrun import --into HISTORY.db`: merge one export into a history that grows quarter after quarter.

A service desk exports a quarter (or a month) at a time; the history holds them all, and is a
normal SQLite source in the reference layout for every other command (profile, `full`, backups).

The merge rules, per table (the keys come from the column map, models/staging/servicedesk/
_servicedesk__sources.yml, `meta.key`):

- **Keyed tables** (tickets by ticket id, comments by comment id): an export row whose key is not
  in the history is added; a row whose key is there replaces it field by field: every column the
  export has takes the export's value (a value the newer export emptied is emptied), a column the
  export does not have keeps the history's. Equal rows are left alone (`unchanged`).
  A key that appears twice in one export keeps both rows (the staging models quarantine them as
  `duplicate_key`, as for a single export). Rows with an empty key cannot be matched by key: they
  are matched by their full content, as timesheets are.
- **Timesheets** carry no id: they merge by their full content. A row the history already holds
  as many times as the export does is `unchanged`; otherwise the missing copies are added.
- **Nothing is ever deleted**: a row a later export no longer lists stays.
- **Extra columns** (not in the reference layout) are kept: the history's table gets the column.

The history is written as a new file and swapped in atomically (core/atomic.py); the previous one
is first backed up (source/backups.py, SHA-256 manifest). An import that changes no row writes
nothing. A killed import leaves the previous history as it was. Each import that changes the
history adds a row to its `imports` table: the export's name, SHA-256, when, and the counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.core.atomic import atomic_output
from orchestrator.core.errors import SourceError, UsageError
from orchestrator.source.backups import backup_source
from orchestrator.source.contract import (
    HISTORY_LEDGER,
    SQLITE_MAGIC,
    TableSpec,
    check_source,
    expected_tables,
    quote_ident,
    sha256_file,
)

IMPORTS_TABLE = HISTORY_LEDGER  # the history's own ledger of imports (a known table, not an extra one)
IMPORTS_DDL = f"""create table if not exists {IMPORTS_TABLE} (
    imported_at text not null,
    export      text not null,
    sha256      text not null,
    counts      text not null
)"""


@dataclass
class TableMerge:
    export_rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    columns_added: list[str] = field(default_factory=list)


@dataclass
class MergeResult:
    history: Path
    export: str
    sha256: str
    created: bool
    written: bool
    tables: dict[str, TableMerge]
    export_dates: dict[str, Any]
    history_dates: dict[str, Any]
    overlap_tickets: int
    backup: str | None
    seconds: float
    already_imported: str | None = None  # when this export's SHA-256 was imported before

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = str(self.history)
        return out

    def describe(self) -> list[str]:
        if not self.tables:
            return [f"{self.export}: already imported into {self.history} on {self.already_imported}; nothing "
                    "changed (--force merges it again)"]
        verb = "created" if self.created else ("merged into" if self.written else "nothing changed in")
        lines = [f"{self.export}: {verb} {self.history} in {self.seconds:.1f}s"]
        for name, t in self.tables.items():
            extra = f", column(s) added: {', '.join(t.columns_added)}" if t.columns_added else ""
            lines.append(f"  {name:<11} {t.export_rows:>9,} rows in the export: {t.new:,} new, {t.changed:,} changed, "
                         f"{t.unchanged:,} unchanged{extra}")
        ed, hd = self.export_dates, self.history_dates
        lines.append(f"  dates       export {_range(ed)}; history before {_range(hd)}")
        if self.overlap_tickets:
            lines.append(f"  overlap     {self.overlap_tickets:,} ticket(s) of the export were already in the history")
        if self.already_imported:
            lines.append(f"  note        this export (same SHA-256) was already imported on {self.already_imported}")
        if self.backup:
            lines.append(f"  backup      previous history kept as {self.backup}")
        return lines


def _range(d: dict[str, Any]) -> str:
    if not d.get("rows"):
        return "no tickets"
    text = f"tickets created {d['min']} .. {d['max']}" if d.get("min") else "no ISO creation dates"
    if d.get("not_iso"):
        text += f" ({d['not_iso']:,} creation value(s) not in ISO form, not in the range)"
    return text


@contextlib.contextmanager
def _exclusive(history: Path) -> Iterator[None]:
    """One import into a history at a time (a lock file beside it, released when the process dies)."""
    lock_path = history.with_name(f".{history.name}.import-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{history}: another import into it is running; wait for it to finish") from None
        yield


def _columns(con: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in con.execute(f"pragma {schema}.table_info({quote_ident(table)})")]


def _create_empty(con: sqlite3.Connection, specs: list[TableSpec]) -> None:
    """The history's tables: columns without a declared type, so that every value keeps the type and
    the exact bytes the export gave it (a TEXT column would turn REAL 0.21666666666666667 into text,
    rounded to 15 digits)."""
    for spec in specs:
        cols = ", ".join(quote_ident(c) for c in spec.columns)
        con.execute(f"create table {quote_ident(spec.name)} ({cols})")


def _created_column(spec: TableSpec) -> str | None:
    return next((raw for raw, clean in spec.clean.items() if clean == "created_at"), None)


def _dates(con: sqlite3.Connection, schema: str, spec: TableSpec) -> dict[str, Any]:
    """The tickets' creation dates, as far as they are ISO text (what an XLSX date cell lands as)."""
    col = _created_column(spec)
    t = f"{schema}.{quote_ident(spec.name)}"
    rows = con.execute(f"select count(*) from {t}").fetchone()[0]
    if col is None or rows == 0:
        return {"rows": rows}
    c = quote_ident(col)
    lo, hi, iso = con.execute(
        f"select min(substr({c}, 1, 10)), max(substr({c}, 1, 10)), count(*) from {t} "
        f"where {c} glob '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*'"
    ).fetchone()
    filled = con.execute(f"select count(*) from {t} where nullif(trim({c}), '') is not null").fetchone()[0]
    return {"rows": rows, "min": lo, "max": hi, "not_iso": filled - iso}


def _merge_table(con: sqlite3.Connection, spec: TableSpec) -> TableMerge:
    out = TableMerge()
    name = quote_ident(spec.name)
    export_cols = _columns(con, "x", spec.name)
    have = _columns(con, "main", spec.name)
    for col in export_cols:
        if col not in have:
            con.execute(f"alter table main.{name} add column {quote_ident(col)}")
            out.columns_added.append(col)
    cols = [quote_ident(c) for c in export_cols]
    col_list = ", ".join(cols)
    out.export_rows = con.execute(f"select count(*) from x.{name}").fetchone()[0]
    # the export in its row order, numbered, as a temporary table that can be indexed
    con.execute(f"create temp table e (_n integer primary key, {col_list})")  # _n: the rowid, for joins
    con.execute(f"insert into e select rowid, {col_list} from x.{name} order by rowid")
    key = quote_ident(spec.key) if spec.key and spec.key in export_cols else None
    keyless = "1"
    if key:
        keyed = f"nullif(trim({key}), '') is not null"
        keyless = f"not ({keyed})"
        con.execute(f"create index if not exists main.{quote_ident('sdrun_history_' + spec.name + '_key')} "
                    f"on {name} ({key})")
        # per key of the export, its last row: what the history's row(s) of that key become
        con.execute(f"""create temp table latest as select e.* from e join
                        (select {key} as k, max(_n) as n from e where {keyed} group by {key}) m on m.n = e._n""")
        con.execute(f"create index temp.latest_key on latest ({key})")
        differs = " or ".join(f"{name}.{c} is not l.{c}" for c in cols)
        out.new = con.execute(f"select count(*) from e where {keyed} and not exists "
                              f"(select 1 from main.{name} h where h.{key} = e.{key})").fetchone()[0]
        matched = con.execute(f"select count(*) from latest l where exists "
                              f"(select 1 from main.{name} h where h.{key} = l.{key})").fetchone()[0]
        out.changed = con.execute(f"""select count(*) from latest l where exists (select 1 from main.{name}
                                      where {name}.{key} = l.{key} and ({differs}))""").fetchone()[0]
        out.unchanged = matched - out.changed
        if out.changed:
            con.execute(f"""update main.{name} set ({col_list}) =
                            (select {', '.join('l.' + c for c in cols)} from latest l where l.{key} = {name}.{key})
                            where exists (select 1 from latest l where l.{key} = {name}.{key} and ({differs}))""")
        con.execute(f"insert into main.{name} ({col_list}) select {col_list} from e where {keyed} and not exists "
                    f"(select 1 from main.{name} h where h.{key} = e.{key}) order by _n")
        con.execute("drop table temp.latest")
    n_new, n_same = _merge_by_content(con, name, cols, keyless)
    out.new += n_new
    out.unchanged += n_same
    con.execute("drop table temp.e")
    return out


def _merge_by_content(con: sqlite3.Connection, name: str, cols: list[str], where: str) -> tuple[int, int]:
    """Rows matched by their full content (NULLs equal, as GROUP BY has them): of the export's rows
    of one content, those beyond the number the history already holds are added, in the export's
    order. Returns (added, unchanged)."""
    total = con.execute(f"select count(*) from e where {where}").fetchone()[0]
    if total == 0:
        return 0, 0
    col_list = ", ".join(cols)
    partition = ", ".join(f"e.{c}" for c in cols)
    con.execute(f"create temp table have as select {col_list}, count(*) as n from main.{name} group by {col_list}")
    con.execute(f"create index temp.have_content on have ({col_list})")  # SQLite's IS can use it
    same = " and ".join(f"h.{c} is o.{c}" for c in cols)
    con.execute(f"""create temp table adding as
                    select o.* from (select e.*,
                                            row_number() over (partition by {partition} order by e._n) as occurrence
                                     from e where {where}) o
                    left join have h on {same}
                    where o.occurrence > coalesce(h.n, 0)""")
    n_add = con.execute("select count(*) from adding").fetchone()[0]
    if n_add:
        con.execute(f"insert into main.{name} ({col_list}) select {col_list} from adding order by _n")
    con.execute("drop table temp.adding")
    con.execute("drop table temp.have")
    return int(n_add), int(total) - int(n_add)


class _Unchanged(Exception):
    """No row of the history would change: nothing is written."""


def merge_into(export_db: Path, history: Path, *, export_name: str, backups_dir: Path,
               export_sha: str | None = None) -> MergeResult:
    """Merge the reference-layout SQLite `export_db` into `history` (created when missing)."""
    t0 = time.perf_counter()
    export_db, history = Path(export_db), Path(history)
    check_source(export_db)
    export_sha = export_sha or sha256_file(export_db)
    specs = expected_tables()
    with _exclusive(history):
        created = not history.exists()
        if not created:
            if history.resolve() == export_db.resolve():
                raise UsageError(f"{history}: the export and the history are the same file")
            check_source(history)
        backup_name: str | None = None
        written = True
        try:
            with atomic_output(history) as tmp:
                merged, dates, already = _merge_copy(export_db, history if not created else None, tmp, specs,
                                                     export_name, export_sha)
                if not created and not any(t.new or t.changed or t.columns_added for t in merged.values()):
                    raise _Unchanged()
                check_source(tmp)
                if not created:  # the previous history, checksummed, before it is replaced
                    backup, _ = backup_source(history, backups_dir, reuse=True)
                    backup_name = str(backup.folder)
        except _Unchanged:
            written = False
    return MergeResult(history=history, export=export_name, sha256=export_sha, created=created, written=written,
                       tables=merged, export_dates=dates["export"], history_dates=dates["history"],
                       overlap_tickets=dates["overlap"], backup=backup_name, seconds=time.perf_counter() - t0,
                       already_imported=already)


def _merge_copy(export_db: Path, history: Path | None, tmp: Path, specs: list[TableSpec], export_name: str,
                export_sha: str) -> tuple[dict[str, TableMerge], dict[str, Any], str | None]:
    """Write into `tmp` a copy of `history` (or an empty history) with the export merged in."""
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        if history is None:
            _create_empty(con, specs)
        else:
            src = sqlite3.connect(f"file:{history}?mode=ro", uri=True)
            try:
                src.backup(con)
            finally:
                src.close()
        con.execute(IMPORTS_DDL)
        con.execute("attach database ? as x", (f"file:{export_db}?mode=ro",))
        tickets = next(s for s in specs if s.name == "tickets")
        dates: dict[str, Any] = {"history": _dates(con, "main", tickets), "export": _dates(con, "x", tickets),
                                 "overlap": 0}
        if tickets.key:
            k = quote_ident(tickets.key)
            dates["overlap"] = con.execute(f"select count(distinct e.{k}) from x.tickets e where exists "
                                           f"(select 1 from main.tickets h where h.{k} = e.{k})").fetchone()[0]
        row = con.execute(f"select min(imported_at) from {IMPORTS_TABLE} where sha256 = ?", (export_sha,)).fetchone()
        already = row[0] if row else None
        con.execute("begin")
        merged = {spec.name: _merge_table(con, spec) for spec in specs}
        counts = {n: asdict(t) for n, t in merged.items()}
        con.execute(f"insert into {IMPORTS_TABLE} values (?, ?, ?, ?)",
                    (datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), export_name, export_sha,
                     json.dumps(counts, sort_keys=True)))
        con.execute("commit")
        con.execute("detach database x")
        problems = [r[0] for r in con.execute("pragma quick_check")]
        if problems != ["ok"]:
            raise SourceError(f"the merged history fails SQLite's quick_check: {problems[:3]}")
    finally:
        con.close()
    return merged, dates, already


def _export_sha(files: list[Path]) -> str:
    """An export's identity: its files' SHA-256, with their names (one file: the file's own SHA-256)."""
    if len(files) == 1:
        return sha256_file(files[0])
    doc = "\n".join(f"{p.name}\t{sha256_file(p)}" for p in sorted(files, key=lambda p: p.name))
    return hashlib.sha256(doc.encode()).hexdigest()


def is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def import_into(path: Path | None, history: Path, *, backups_dir: Path,
                files: dict[str, Path | None] | None = None, force: bool = False,
                mapping: str | Path | None = None, landed: list[str] | None = None) -> MergeResult:
    """`sdrun import --from PATH --into HISTORY.db`: PATH a SQLite export in the reference layout, or
    XLSX workbooks (a folder, a workbook, or a file per table), or CSV files (a folder, or a .csv
    file); with `mapping`, workbooks or CSV files with another tool's column names
    (csv_export.load_mapping); landed first as a reference-layout SQLite file beside the history
    (source/xlsx.py, source/csv_export.py), then merged. The landing's lines (files, encodings,
    delimiters, header rows, extra columns) are appended to `landed` when given. An export
    whose SHA-256 the history's `imports` already lists is not merged again unless `force`."""
    from orchestrator.source import csv_export
    from orchestrator.source.xlsx import history_inputs, import_xlsx

    history = Path(history)
    if history.exists() and history.is_dir():
        raise UsageError(f"{history}: is a directory")
    found: dict[str, Path]
    the_mapping = csv_export.load_mapping(mapping) if mapping is not None else None
    as_csv = csv_export.is_csv_input(Path(path) if path is not None else None, files)
    if path is not None and Path(path).is_file() and is_sqlite(Path(path)):
        if the_mapping is not None:
            raise UsageError(f"{path}: a SQLite export is in the reference layout already; --mapping applies to "
                             "CSV files and XLSX workbooks")
        inputs, name = [Path(path)], Path(path).name
    else:
        if as_csv:
            found = csv_export.csv_files(Path(path) if path is not None else None, files, the_mapping)
        else:
            found = history_inputs(Path(path) if path is not None else None, files, the_mapping)
        inputs, name = list(found.values()), (Path(path).name if path is not None else
                                              ", ".join(p.name for p in found.values()))
    export_sha = _export_sha(inputs)
    if history.exists() and not force:
        previous = _imported_on(history, export_sha)
        if previous:
            return MergeResult(history=history, export=name, sha256=export_sha, created=False, written=False,
                               tables={}, export_dates={}, history_dates={}, overlap_tickets=0, backup=None,
                               seconds=0.0, already_imported=previous)
    if len(inputs) == 1 and is_sqlite(inputs[0]):
        return merge_into(inputs[0], history, export_name=name, backups_dir=backups_dir, export_sha=export_sha)
    landing = history.with_name(f".{history.name}.landing.{os.getpid()}.tmp")
    try:
        if as_csv:
            result = csv_export.import_csv(found, landing, mapping=the_mapping, force=True)
            if landed is not None:
                landed.extend(result.describe(landing=True))
        else:
            landed_xlsx = import_xlsx(found, landing, force=True, missing_empty=True, mapping=the_mapping)
            if landed is not None:
                landed.extend(landed_xlsx.describe(landing=True))
        return merge_into(landing, history, export_name=name, backups_dir=backups_dir, export_sha=export_sha)
    finally:
        with contextlib.suppress(OSError):
            landing.unlink()


def _imported_on(history: Path, sha: str) -> str | None:
    try:
        con = sqlite3.connect(f"file:{history}?mode=ro", uri=True)
        try:
            row = con.execute(f"select min(imported_at) from {IMPORTS_TABLE} where sha256 = ?", (sha,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None  # no imports table (a plain source used as a history): check_source says the rest
    return row[0] if row else None
