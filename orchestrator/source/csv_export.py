"""`sdrun import`: land CSV exports (tickets, comments, timesheets) in a reference-layout SQLite file.

What lands, and how:

- One CSV file per table. In a folder the files are matched by name, case-insensitively:
  `tickets*.csv`, `comments*.csv`, `timesheets*.csv`; at most one file may match each pattern. A
  single file is the table its name matches, else the one table its mapping maps. A table the export
  does not have lands empty (its reference columns, no row): merged into a history it is "nothing new".
- Encoding: a UTF-8 BOM means UTF-8; else a file that decodes as UTF-8 throughout is UTF-8; else one
  that decodes as cp1252 (bytes 0x80-0x9F as Windows punctuation: € ‚ „ … – —) is cp1252; else
  latin-1 (every byte is a character). The whole file is read to decide, as it streams, and the
  encoding is named in the import's output.
- Dialect: the delimiter is the one of `,` `;` tab `|` whose header row (below) names the most
  wanted columns, then the one giving that row the most fields; quoting is `"` with `""` for a
  quote (RFC 4180, what Excel, ServiceNow and Jira write). CRLF, LF and quoted multi-line cells are
  read by Python's csv module.
- The header row is the row, among the first `HEADER_SCAN_ROWS`, holding the most wanted column
  names: the reference names (models/staging/servicedesk/_servicedesk__sources.yml), or, for a
  table the mapping maps, the mapping's export column names. Names match after trimming and
  collapsing whitespace, case-insensitively. Title rows above it are skipped.
- Values land as text exactly as written: no trimming, no type guessing (cleaning is dbt's job). An
  empty field is NULL, as an empty XLSX cell is. A quoted empty field (`""`) is NULL too: Python's
  csv reader (3.11) and DuckDB's do not tell it from an empty one, and exporters write `""` for an
  empty cell (Excel's "CSV UTF-8" quotes every field of some columns), so it is no value either.
  Blank lines are skipped. A row with more fields than the header is accepted when the extra fields
  are empty (trailing delimiters); a row of any other width is refused (ragged rows).
- Extra columns (neither reference nor mapped) are landed too, with their own names (a history
  keeps extra columns). A header cell left empty is not landed (most exports end their header with
  empty cells); its values, if any, are reported. A second column of a name already landed is not
  landed either, and reported.
- A mapping (mappings/*.yml, format in mappings/README.md) renames the export's columns to the
  reference ones; a reference column mapped to `null` lands NULL.

Refused, with one SourceError naming the file and the problem: a binary file (a NUL byte), no
header row found, a reference column (or a mapped export column) the header lacks, two header cells
naming the same wanted column, ragged rows (the first five row numbers are named), a field longer
than `MAX_FIELD_CHARS`.

Streaming: rows are read by Python's csv module and inserted in batches of `BATCH`; memory does not
grow with the number of rows (2.6 million rows are a few minutes and a few MB).
"""

from __future__ import annotations

import codecs
import csv
import sqlite3
import time
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.core.atomic import atomic_output, check_writable
from orchestrator.core.errors import SourceError, UsageError
from orchestrator.source.contract import RESERVED_COLUMNS, TableSpec, check_source, expected_tables, quote_ident

HEADER_SCAN_ROWS = 30
BATCH = 5000
DELIMITERS = (",", ";", "\t", "|")
PATTERNS = {"tickets": "tickets*.csv", "comments": "comments*.csv", "timesheets": "timesheets*.csv"}
MAX_FIELD_CHARS = 16 * (1 << 20)  # one field of at most 16 M characters (csv's own limit is 128 K)
MAPPINGS_DIR = Path(__file__).parent / "mappings"
EXAMPLES = 5
_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# Mappings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    name: str
    description: str
    tables: dict[str, dict[str, str | None]]  # table -> reference column -> export column (None: lands NULL)
    path: Path


def shipped_mappings() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yml"))


def load_mapping(name_or_file: str | Path) -> Mapping:
    """`--mapping NAME` (a shipped mapping, mappings/NAME.yml) or `--mapping FILE.yml`; validated
    against the reference tables: every problem of the file is named in one UsageError."""
    text = str(name_or_file)
    path = Path(text)
    if not (text.endswith((".yml", ".yaml")) or "/" in text):
        path = MAPPINGS_DIR / f"{text}.yml"
        if not path.is_file():
            raise UsageError(f"--mapping {text}: no such shipped mapping (shipped: {', '.join(shipped_mappings())}); "
                             "or give a file path ending in .yml")
    if not path.is_file():
        raise UsageError(f"--mapping {text}: file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable YAML mapping ({exc})") from exc
    specs = {s.name: s for s in expected_tables()}
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: a mapping is a YAML mapping with keys name, description, tables")
    for key in doc:
        if key not in ("name", "description", "tables"):
            problems.append(f"unknown key {key!r} (known: name, description, tables)")
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not name:
        problems.append("'name' must be a non-empty text")
    description = doc.get("description", "")
    if not isinstance(description, str):
        problems.append("'description' must be text")
    tables_doc = doc.get("tables")
    tables: dict[str, dict[str, str | None]] = {}
    if not isinstance(tables_doc, dict) or not tables_doc:
        problems.append("'tables' must map at least one table (tickets, comments, timesheets) to its columns")
        tables_doc = {}
    for table, cols in tables_doc.items():
        if table not in specs:
            problems.append(f"unknown table {table!r} (reference tables: {', '.join(specs)})")
            continue
        if not isinstance(cols, dict):
            problems.append(f"tables.{table} must map each reference column to an export column or null")
            continue
        spec = specs[table]
        unknown = [c for c in cols if c not in spec.columns]
        if unknown:
            problems.append(f"tables.{table}: {', '.join(repr(str(c)) for c in unknown)} not reference column(s) "
                            f"of {table} ({', '.join(spec.columns)})")
        missing = [c for c in spec.columns if c not in cols]
        if missing:
            problems.append(f"tables.{table} does not name reference column(s) {', '.join(repr(c) for c in missing)}: "
                            "map each to an export column, or to null when the tool has no such field")
        bad = [c for c, v in cols.items() if v is not None and (not isinstance(v, str) or not v.strip())]
        if bad:
            problems.append(f"tables.{table}: {', '.join(repr(str(c)) for c in bad)} must map to an export column "
                            "name (text) or null")
        tables[table] = {str(c): (v if isinstance(v, str) else None) for c, v in cols.items()}
    if problems:
        raise UsageError(f"{path}: invalid mapping: " + "; ".join(problems))
    return Mapping(name=str(name), description=str(description), tables=tables, path=path)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def is_csv_input(path: Path | None, files: dict[str, Path | None] | None = None) -> bool:
    """A .csv file (or a --tickets/... file ending .csv), or a folder holding CSV and no XLSX files."""
    given = [Path(p) for p in (files or {}).values() if p is not None]
    if any(p.suffix.lower() == ".csv" for p in given):
        return True
    if path is None:
        return False
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in (".csv", ".txt", ".tsv")
    if path.is_dir():
        names = [p.name.lower() for p in path.iterdir() if p.is_file()]
        return any(n.endswith(".csv") for n in names) and not any(n.endswith(".xlsx") for n in names)
    return False


def csv_files(path: Path | None, files: dict[str, Path | None] | None = None,
              mapping: Mapping | None = None) -> dict[str, Path]:
    """The CSV file of each table the export has (tables it lacks are left out: they land empty)."""
    found: dict[str, Path] = {t: Path(p) for t, p in (files or {}).items() if p is not None}
    if path is None:
        if not found:
            raise UsageError("give --from FILE.csv|FOLDER, or --tickets/--comments/--timesheets FILE.csv")
        return found
    path = Path(path)
    if path.is_file():
        table = _table_of(path.name)
        if table is None and mapping is not None and len(mapping.tables) == 1:
            table = next(iter(mapping.tables))
        if table is None:
            raise UsageError(f"{path}: which table is it? Name it tickets*.csv, comments*.csv or timesheets*.csv, "
                             "or give a --mapping that maps one table")
        found.setdefault(table, path)
        return found
    if not path.is_dir():
        raise SourceError(f"{path}: no such file or folder")
    problems = []
    for table, pattern in PATTERNS.items():
        if table in found:
            continue
        hits = sorted(p for p in path.iterdir() if p.is_file() and _table_of(p.name) == table)
        if len(hits) > 1:
            problems.append(f"{len(hits)} files match {pattern} ({', '.join(p.name for p in hits)}): keep one")
        elif hits:
            found[table] = hits[0]
    if problems:
        raise SourceError(f"{path}: " + "; ".join(problems))
    if not found:
        raise SourceError(f"{path}: no file matching {', '.join(PATTERNS.values())}")
    return found


def _table_of(name: str) -> str | None:
    low = name.lower()
    if not low.endswith(".csv"):
        return None
    return next((t for t in PATTERNS if low.startswith(t)), None)


# ---------------------------------------------------------------------------------------------
# Reading one file
# ---------------------------------------------------------------------------------------------


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' (BOM), 'utf-8', 'cp1252' or 'latin-1' (see the module docstring); SourceError for a
    binary file (a NUL byte)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceError(f"{path}: UTF-16 text; save the export as UTF-8 (or Windows-1252) CSV")
    else:
        candidates = ["utf-8", "cp1252"]
    for enc in candidates:
        dec = codecs.getincrementaldecoder(enc)()
        try:
            with open(path, "rb") as f:
                while block := f.read(_CHUNK):
                    if b"\0" in block:
                        raise SourceError(f"{path}: not a CSV text file (binary content: a NUL byte)")
                    dec.decode(block)
                dec.decode(b"", final=True)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def _norm(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


@dataclass
class CsvResult:
    table: str
    file: Path | None
    encoding: str = ""
    delimiter: str = ""
    header_row: int = 0
    rows: int = 0
    extra_columns: list[str] = field(default_factory=list)
    not_landed: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the landed columns, in order

    def describe(self) -> str:
        if self.file is None:
            return f"  {self.table:<11} no file: lands empty"
        delim = {"\t": "tab"}.get(self.delimiter, repr(self.delimiter))
        line = (f"  {self.table:<11} {self.rows:>9,} rows  from {self.file.name}: {self.encoding}, delimiter {delim}, "
                f"header on line {self.header_row}")
        if self.extra_columns:
            line += f"; extra columns landed: {', '.join(repr(c) for c in self.extra_columns)}"
        if self.not_landed:
            line += f"; not landed: {', '.join(self.not_landed)}"
        return line


@dataclass
class CsvImport:
    out: Path
    tables: dict[str, CsvResult]
    mapping: str | None
    seconds: float

    def describe(self, *, landing: bool = False) -> list[str]:
        """The import's lines; `landing`: `out` is the temporary file a history merge reads (not named)."""
        via = f" through mapping {self.mapping}" if self.mapping else ""
        where = "" if landing else f" in {self.out}"
        lines = [f"{'Read' if landing else 'Landed'} CSV export{via}{where} in {self.seconds:.1f}s"]
        lines += [r.describe() for r in self.tables.values()]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "mapping": self.mapping, "seconds": round(self.seconds, 3),
                "tables": {t: {"file": str(r.file) if r.file else None, "encoding": r.encoding,
                               "delimiter": r.delimiter, "header_row": r.header_row, "rows": r.rows,
                               "extra_columns": r.extra_columns} for t, r in self.tables.items()}}


class _Lines:
    """Counts the physical lines read, so that a row is named by the line it starts on."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.line = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text: str = next(self.f)
        self.line += 1
        return text


def _reader(path: Path, encoding: str, delimiter: str) -> tuple[Any, _Lines, Any]:
    f = open(path, encoding=encoding, newline="")  # noqa: SIM115 (closed by the caller)
    lines = _Lines(f)
    return csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False), lines, f


def extra_columns(header: Sequence[str | None], used: Container[int], landed: Iterable[str],
                  column: Callable[[int], str]) -> tuple[list[tuple[str, int]], list[str]]:
    """The extra columns of a header row (CSV and XLSX alike), landed after the `landed` reference
    columns under their own header text: (name, position) of each, in header order, and a note for
    each header cell not landed, `column(position)` naming its place: a cell left empty or blank
    ('unnamed column 12'), a name already landed (compared case-insensitively, as SQLite compares
    column names) or reserved (contract.RESERVED_COLUMNS). `used`: the positions read as reference
    (or mapped) columns. A None cell (XLSX: no cell at all in the header row) is passed over."""
    taken = {c.casefold() for c in landed}
    extras: list[tuple[str, int]] = []
    not_landed: list[str] = []
    for i, cell in enumerate(header):
        if i in used or cell is None:
            continue
        if cell.strip() == "":
            not_landed.append(f"unnamed {column(i)}")
        elif cell.casefold() in taken or cell.strip().lower() in RESERVED_COLUMNS:
            not_landed.append(f"{cell!r} ({column(i)}: name already landed or reserved)")
        else:
            taken.add(cell.casefold())
            extras.append((cell, i))
    return extras, not_landed


def _find_header(path: Path, encoding: str, wanted: set[str]) -> tuple[str, int, list[str]]:
    """(delimiter, header line number, header cells): the best row of the first HEADER_SCAN_ROWS."""
    best: tuple[int, int, str, int, list[str]] | None = None  # (score, width, delim, line, cells)
    for delim in DELIMITERS:
        reader, lines, f = _reader(path, encoding, delim)
        try:
            for _ in range(HEADER_SCAN_ROWS):
                start = lines.line + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    break
                score = len({_norm(c) for c in row} & wanted)
                if score and (best is None or (score, len(row)) > (best[0], best[1])):
                    best = (score, len(row), delim, start, row)
        finally:
            f.close()
    if best is None:
        raise SourceError(f"{path}: no header row found: none of the first {HEADER_SCAN_ROWS} rows names any of the "
                          f"expected columns ({', '.join(sorted(wanted)[:6])}, ...) with delimiter , ; tab or |")
    return best[2], best[3], best[4]


def read_csv(path: Path, spec: TableSpec, mapped: dict[str, str | None] | None,
             result: CsvResult) -> Iterator[tuple[str | None, ...]]:
    """Yield the data rows of one CSV file as tuples in the order of `result.columns` (filled in once
    the header is known): the reference columns, then the extra ones."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: file not found")
    csv.field_size_limit(MAX_FIELD_CHARS)
    encoding = detect_encoding(path)
    source_of: dict[str, str | None] = dict(mapped) if mapped is not None else {c: c for c in spec.columns}
    wanted = {_norm(v) for v in source_of.values() if v is not None}
    delim, header_line, header = _find_header(path, encoding, wanted)
    result.encoding, result.delimiter, result.header_row = {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8"}.get(
        encoding, encoding), delim, header_line
    where = f"{path} (header on line {header_line})"
    position: dict[str, int] = {}
    dupes: list[str] = []
    for i, cell in enumerate(header):
        n = _norm(cell)
        if n in wanted:
            if n in position:
                dupes.append(repr(cell))
            else:
                position[n] = i
    if dupes:
        raise SourceError(f"{where}: column(s) {', '.join(dupes)} appear twice in the header")
    missing = []
    for ref, src in source_of.items():
        if src is not None and _norm(src) not in position:
            missing.append(f"{ref!r} (export column {src!r})" if mapped is not None else repr(ref))
    if missing:
        via = " mapped" if mapped is not None else " reference"
        raise SourceError(f"{where}: the header lacks the{via} column(s) {', '.join(missing)}")
    order: list[int | None] = [None if source_of[c] is None else position[_norm(source_of[c])] for c in spec.columns]
    used = set(position.values())
    extras, not_landed = extra_columns(header, used, spec.columns, lambda i: f"column {i + 1}")
    result.not_landed.extend(not_landed)
    result.extra_columns = [c for c, _ in extras]
    result.columns = list(spec.columns) + result.extra_columns
    order += [i for _, i in extras]
    width = len(header)
    landed_blank = [i for i in range(width) if i not in used and i not in {j for _, j in extras}]
    ragged: list[int] = []
    n_ragged = 0
    lost = False
    reader, lines, f = _reader(path, encoding, delim)
    try:
        while lines.line < header_line:  # skip the title rows and the header
            next(reader)
        while True:
            start = lines.line + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if not row:
                continue  # a blank line
            if len(row) != width and not (len(row) > width and not any(row[width:])):
                n_ragged += 1
                if len(ragged) < EXAMPLES:
                    ragged.append(start)
                continue
            if n_ragged:
                continue
            if not lost and any(row[i] for i in landed_blank):
                lost = True
                result.not_landed.append(f"values under unnamed header cells (first on line {start})")
            result.rows += 1
            yield tuple(None if i is None or row[i] == "" else row[i] for i in order)
    except csv.Error as exc:
        raise SourceError(f"{path}: unreadable CSV near line {lines.line} ({exc})") from exc
    finally:
        f.close()
    if n_ragged:
        more = f", ... {n_ragged:,} in all" if n_ragged > len(ragged) else ""
        raise SourceError(f"{where}: ragged rows: {width} fields in the header, a different number in the row(s) "
                          f"starting on line(s) {', '.join(map(str, ragged))}{more}")


# ---------------------------------------------------------------------------------------------
# Writing the SQLite file
# ---------------------------------------------------------------------------------------------


def write_table(con: sqlite3.Connection, name: str, columns: list[str], first: tuple[str | None, ...] | None,
                rest: Iterator[tuple[str | None, ...]]) -> None:
    """Create table `name` of a landing file, every column TEXT, and insert its rows, `first` (None:
    the table is empty) then `rest`, in batches of `BATCH` (CSV and XLSX alike). The caller reads
    the first row before: reading it reads the file's header, which decides `columns`."""
    con.execute(f"CREATE TABLE {quote_ident(name)} ({', '.join(f'{quote_ident(c)} TEXT' for c in columns)})")
    if first is None:
        return
    sql = f"INSERT INTO {quote_ident(name)} VALUES ({', '.join('?' * len(columns))})"
    batch = [first]
    for row in rest:
        batch.append(row)
        if len(batch) >= BATCH:
            con.executemany(sql, batch)
            batch.clear()
    if batch:
        con.executemany(sql, batch)


def import_csv(files: dict[str, Path], out: Path, *, mapping: Mapping | None = None,
               force: bool = False) -> CsvImport:
    """Land the CSV file of each table in `files` (tables left out land empty) in a new reference-layout
    SQLite file `out` (atomically), every column TEXT."""
    out = Path(out)
    check_writable(out, force)
    specs = expected_tables()
    unknown = [t for t in files if t not in {s.name for s in specs}]
    if unknown:
        raise UsageError(f"unknown table(s) {', '.join(unknown)}")
    t0 = time.perf_counter()
    results: dict[str, CsvResult] = {}
    with atomic_output(out) as tmp:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            for spec in specs:
                res = CsvResult(table=spec.name, file=Path(files[spec.name]) if spec.name in files else None,
                                columns=list(spec.columns))
                results[spec.name] = res
                rows: Iterator[tuple[str | None, ...]] = iter(())
                if res.file is not None:
                    mapped = mapping.tables.get(spec.name) if mapping is not None else None
                    rows = read_csv(res.file, spec, mapped, res)
                first = next(rows, None)  # the header is read: res.columns is known
                write_table(con, spec.name, res.columns, first, rows)
            con.execute("COMMIT")
        finally:
            con.close()
        check_source(tmp)
    return CsvImport(out=out, tables=results, mapping=mapping.name if mapping else None,
                     seconds=time.perf_counter() - t0)
