"""The SQLite source: what it must contain, checks that it does, and its checksum.

The expected tables and columns are read from the dbt sources file
(`models/staging/servicedesk/_servicedesk__sources.yml`), the one place they are declared with
the column map (each column's clean name and kind, which the dbt models read too): each table's
`meta.key` names its key column, a column's `meta.references` the table whose key it holds.
The source is only ever opened read-only.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.core.errors import SourceError
from orchestrator.core.settings import PROJECT_DIR

SOURCES_YML = PROJECT_DIR / "models" / "staging" / "servicedesk" / "_servicedesk__sources.yml"
SQLITE_MAGIC = b"SQLite format 3\x00"
HISTORY_LEDGER = "imports"  # a history's own ledger of the exports merged into it (source/history.py)


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: list[str]  # raw names, as exported
    key: str | None
    clean: dict[str, str] = field(default_factory=dict)  # raw name -> clean name (the column map's meta.clean)
    references: dict[str, str] = field(default_factory=dict)  # raw name -> the table whose key it holds

    def raw(self, clean: str) -> str:
        """The raw name of the column whose clean name is `clean`."""
        return next(r for r, c in self.clean.items() if c == clean)


@dataclass
class SourceInfo:
    path: Path
    sha256: str
    size: int
    tables: dict[str, int] = field(default_factory=dict)  # table -> row count
    extra_tables: list[str] = field(default_factory=list)
    extra_columns: dict[str, list[str]] = field(default_factory=dict)


def expected_tables() -> list[TableSpec]:
    doc = yaml.safe_load(SOURCES_YML.read_text())
    src = next(s for s in doc["sources"] if s["name"] == "servicedesk")
    specs = []
    for t in src["tables"]:
        if (t.get("meta") or {}).get("written_by"):  # not part of the export (date_orders)
            continue
        cols = t.get("columns", [])
        meta = {c["name"]: c.get("meta") or {} for c in cols}
        specs.append(TableSpec(
            name=t["name"], columns=[c["name"] for c in cols], key=(t.get("meta") or {}).get("key"),
            clean={name: m["clean"] for name, m in meta.items() if m.get("clean")},
            references={name: m["references"] for name, m in meta.items() if m.get("references")},
        ))  # fmt: skip
    return specs


def references() -> dict[tuple[str, str], tuple[str, str]]:
    """(table, raw column) -> (parent table, its raw key column), from the columns' meta.references."""
    specs = {spec.name: spec for spec in expected_tables()}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for spec in specs.values():
        for col, parent in spec.references.items():
            key = specs[parent].key
            if key:
                out[(spec.name, col)] = (parent, key)
    return out


def quote_ident(name: str) -> str:
    """A name from the source (a table's or a column's, anything the export holds) quoted for SQLite
    and DuckDB SQL. Every name that comes from a file is put into SQL through this."""
    return '"' + name.replace('"', '""') + '"'


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# How long a read of the source waits for another program's write lock on it (SQLite's busy timeout),
# in seconds. DuckDB's sqlite scanner (source/read.py) waits as long: its own busy timeout is 5s.
SQLITE_BUSY_TIMEOUT_S = 5


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open a SQLite file read-only (no journal, no WAL files written next to it). A read waits at most
    SQLITE_BUSY_TIMEOUT_S for a writer's lock, then fails with 'database is locked' (see source_locked)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)


def is_locked(exc: BaseException) -> bool:
    """True when `exc` (or an exception it was raised from) is SQLite's 'database is locked': another
    program holds a write lock on the file past the busy timeout (sqlite3 and DuckDB's sqlite scanner)."""
    seen: BaseException | None = exc
    while seen is not None:
        if "database is locked" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def lock_holders(path: Path) -> list[str]:
    """Who holds a lock on `path`, from the kernel's lock table (Linux /proc/locks; SQLite locks with
    POSIX advisory locks): 'PID 123 (python3)', writers first, this process left out. Best effort:
    empty where the table cannot be read."""
    try:
        st = Path(path).stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return []
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    holders: dict[int, bool] = {}  # pid -> holds a write lock
    for line in table.splitlines():
        fields = line.split()
        if "->" in fields:  # a process waiting for the lock, not holding it
            continue
        try:
            kind, pid, (maj, mnr, ino) = fields[3], int(fields[4]), fields[5].split(":")
            where = (int(maj, 16), int(mnr, 16), int(ino))
        except (IndexError, ValueError):
            continue
        if where == wanted and pid > 0 and pid != os.getpid():
            holders[pid] = holders.get(pid, False) or kind == "WRITE"
    out = []
    for pid in sorted(holders, key=lambda p: (not holders[p], p)):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            name = ""
        out.append(f"PID {pid}" + (f" ({name})" if name else ""))
    return out


def source_locked(path: Path) -> SourceError:
    """The one line for a source that another program is writing: who holds it, how long sdrun waited,
    and that the source was only read (exit 1)."""
    holders = lock_holders(path)
    who = f"held by {', '.join(holders)}" if holders else "held by another program"
    return SourceError(
        f"{path}: the source is locked by a program writing it ({who}); gave up after waiting "
        f"{SQLITE_BUSY_TIMEOUT_S}s (SQLite busy timeout). sdrun only reads the source and did not change it: "
        "let the writer finish (or close it), then run again"
    )


def check_sqlite_file(path: Path) -> int:
    """File-level checks only (any SQLite file, whatever its tables): raise SourceError with one
    clear line unless `path` exists, is a regular file and has an intact SQLite header. Returns its size."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise SourceError(f"{path}: empty file, not a SQLite database")
    with open(path, "rb") as f:
        head = f.read(100)
    if not head.startswith(SQLITE_MAGIC):
        raise SourceError(f"{path}: not a SQLite database (file header does not match)")
    if len(head) < 100:
        raise SourceError(f"{path}: truncated SQLite file ({size} bytes)")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if page_size and pages and size < page_size * pages:
        raise SourceError(f"{path}: truncated SQLite file ({size} bytes, header says {page_size * pages})")
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        # Its last commits are in the -wal file, not in the file sdrun hashes and backs up: a run would
        # publish data that its checksum and its backup do not hold.
        raise SourceError(
            f"{path}: its write-ahead log {wal.name} ({wal.stat().st_size:,} bytes) holds changes not yet in the "
            f"file; close the program writing it, or checkpoint it: sqlite3 '{path}' 'PRAGMA wal_checkpoint(TRUNCATE)'"
        )
    return size


# Names sdrun gives the columns it adds: a source column of that name would stand in for the row's place
# in the file (SQLite's `rowid` is shadowed by a column named so) or collide with `source_row`.
RESERVED_COLUMNS = ("rowid", "source_row")


@dataclass
class SchemaFindings:
    """What a source holds against the contract; `problems` (one line each) make it unusable."""

    tables: dict[str, int] = field(default_factory=dict)  # expected table -> row count
    extra_tables: list[str] = field(default_factory=list)
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _folded(name: str) -> str:
    return " ".join(name.split()).casefold()


def inspect_schema(con: sqlite3.Connection) -> SchemaFindings:
    """Compare an open source with the contract: missing tables and columns (with the near-miss a
    column was probably meant to be: the same name but for case or spaces), reserved column names,
    extra tables and columns (ignored), row counts."""
    found = SchemaFindings()
    present = {r[0] for r in con.execute("select name from sqlite_master where type in ('table', 'view')")}
    specs = expected_tables()
    missing_tables = [s.name for s in specs if s.name not in present]
    for spec in specs:
        if spec.name not in present:
            continue
        cols = [r[1] for r in con.execute(f"pragma table_info({quote_ident(spec.name)})")]
        missing = [c for c in spec.columns if c not in cols]
        if missing:
            named = []
            for c in missing:
                near = [x for x in cols if _folded(x) == _folded(c)]
                named.append(repr(c) + (f" (found {near[0]!r}: the same name but for case or spaces)" if near else ""))
            found.problems.append(f"table {spec.name} lacks column(s) {', '.join(named)}")
        reserved = [c for c in cols if c.strip().lower() in RESERVED_COLUMNS]
        if reserved:
            found.problems.append(f"table {spec.name} has a column named {reserved[0]!r}, the name sdrun gives each "
                                  "row's place in the file (source_row, the SQLite rowid): rename it in the export")
        extra = [c for c in cols if c not in spec.columns and c not in reserved]
        if extra:
            found.extra_columns[spec.name] = extra
        found.tables[spec.name] = con.execute(f"select count(*) from {quote_ident(spec.name)}").fetchone()[0]
    if missing_tables:
        found.problems.insert(0, f"missing table(s) {', '.join(missing_tables)}")
    found.extra_tables = sorted(present - {s.name for s in specs} - {HISTORY_LEDGER})
    return found


def check_source(path: Path, sha256: str | None = None) -> SourceInfo:
    """Raise SourceError with one clear line unless `path` is a readable SQLite source
    holding every expected table and column. Returns what it found. `sha256`: the file's SHA-256
    when the caller has just read it (`sdrun full` hashes the source as the run starts)."""
    path = Path(path)
    size = check_sqlite_file(path)
    info = SourceInfo(path=path.resolve(), sha256=sha256 or sha256_file(path), size=size)
    try:
        con = connect_readonly(path)
        try:
            found = inspect_schema(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if is_locked(exc):
            raise source_locked(path) from exc
        raise SourceError(f"{path}: unreadable SQLite database ({exc})") from exc
    if found.problems:
        raise SourceError(f"{path}: " + "; ".join(found.problems))
    info.tables, info.extra_tables, info.extra_columns = found.tables, found.extra_tables, found.extra_columns
    return info
