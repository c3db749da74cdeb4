"""`sdrun import`: land the XLSX exports (tickets, comments, timesheets) in a new SQLite source.

What lands, and how:

- One workbook per table. In a folder the files are matched by name, case-insensitively:
  `tickets*.xlsx`, `comments*.xlsx`, `timesheets*.xlsx` (Excel's `~$` lock files are ignored);
  exactly one file must match each pattern (with a mapping, each table it maps; a table it does not
  map lands empty when no file matches). A single workbook (with a mapping, or merged into a
  history) is the table its name says, else the one table the mapping maps. The sheet read is the
  one named like the table (case-insensitive), else the workbook's first sheet.
- The header row is the row, among the first `HEADER_SCAN_ROWS`, holding the most wanted column
  names: the reference names (models/staging/servicedesk/_servicedesk__sources.yml), or, for a
  table the mapping maps (`--mapping`, csv_export.load_mapping, mappings/README.md), the mapping's
  export column names; so title rows above it are skipped. Names match after trimming and
  collapsing whitespace, case-insensitively; the SQLite columns get the reference spelling, and a
  reference column mapped to `null` lands NULL. A missing (or renamed) column is an error naming it
  (through a mapping, the reference and the export column).
- Extra columns (header cells neither reference nor mapped) are landed too, as for CSV
  (csv_export.extra_columns, one rule for both): after the reference columns, under their own header
  text. A header cell left empty is not landed, nor what is under it (one holding an empty or
  blank text is reported as an unnamed column); a second column of a name already landed
  (case-insensitively), or one named like a reserved column (`rowid`, `source_row`), is not landed
  either, and is reported. The "landed
  columns" below are the header's reference columns read and its extra columns landed; the
  "reference cells" of a row are its cells in the reference columns read.
- Values: an Excel date cell becomes ISO text, `YYYY-MM-DD HH:MM:SS` (`.fff` when it has
  milliseconds), or `YYYY-MM-DD` when its number format shows no time; a number becomes its text
  (`2`, `1.5`); TRUE/FALSE cells become `TRUE`/`FALSE`; text cells are kept exactly as they are,
  spaces, sentinels and text dates included (cleaning is dbt's job); empty cells are NULL, a text
  cell holding the empty string is ''. Rows with no value in any reference cell (blank rows) are
  skipped, even with a value in an extra column (a footer note is no ticket); those are counted
  apart in the output. Every column is declared TEXT, and a row's SQLite rowid is its position among the landed
  rows (1, 2, ...), in sheet order.
- A formula cell lands its cached value, the result Excel or LibreOffice stored when saving it
  (shared and array formulas alike); `t="str"` with an empty cached value is the empty string ''.
  An error value (`#N/A`, `#REF!`, ...; `t="e"`, typed or computed) lands as its text: it is what
  the cell shows, not a guess, and Excel stores a typed `#N/A` the same way; dbt's cleaning then
  treats it as any text (`#N/A` and `#N/B` are sentinels, nulled and recorded in audit_changes; in a
  date or number column any other error text is quarantined).

Refused, with one SourceError (exit 1) naming the file, the sheet and the cells, rows or ranges,
and nothing written (the checks that need the whole sheet run to its end, then the import fails):

- a formula cell in a landed column below the header with no cached value (openpyxl and other
  libraries write formulas so: `<f>` with no or an empty `<v>`): the value exists only once a
  spreadsheet program computes it, and landing NULL would be a guess;
- a merged range (`<mergeCells>`) reaching below the header row in a landed column: only its first
  cell holds the value, the other rows would land NULL. Merges above the header (title rows), in
  the header row, or in columns not landed are fine (an extra column is landed: a merge there is
  refused as in a reference column, and so is a formula without a cached value);
- a repeated header: a row other than the header row in which at least half (rounded up) of the
  reference cells hold a wanted column name (reference or mapped), normalised as header matching
  does. It catches a header repeated by two exports pasted one under the other, also with columns
  moved, and a data row cannot hold that many column names;
- two header cells naming the same wanted column (the second would be dropped); a repeated extra
  column is not landed (see above), so it is no error.

Bounds (a small zip can expand to gigabytes; each is an error naming the file, the bound and its
variable, or the fixed limit):

- a cell's text (a shared string, an inline string, a `<v>`) of more than 32,767 characters,
  Excel's limit per cell (an `_xHHHH_` escape counts as one character): Excel does not write it;
- the shared-strings table, read here as it streams (expat) and packed as UTF-8 with an 8-byte
  offset per string: at most `SDRUN_XLSX_MAX_MB` (default 512) MB of memory;
- a sheet or the shared-strings part: at most `SDRUN_XLSX_MAX_XML_MB` (default 4096) MB of XML,
  checked against the size the zip declares and counted while streaming (the zip may lie; Python's
  zipfile also stops at the declared size, and its CRC check fails on a lie);
- the parts openpyxl reads whole (content types, relationships, workbook, styles): 64 MB each, a
  fixed bound (Excel writes them in a few MB at most); external links are not read;
- a cell reference beyond column XFD (16,384), Excel's last. Below the header a row keeps only its
  cells up to the last landed column, so a value in column XFD costs nothing (the header is found
  while the sheet is parsed, before any later row is kept).

Streaming: each sheet's XML is parsed with expat as it is read from the archive, 1 MiB at a time,
and rows are inserted in batches, so memory does not grow with the number of rows; the one table
held is the workbook's shared strings (bounded as above). openpyxl reads the workbook's metadata
(sheets, number formats, 1900/1904 calendar); its own read-only sheets were 3-4 times slower and
scan a whole sheet on opening when it lacks a <dimension>, and its shared-strings reader holds one
Python string per entry (a 266 KB workbook of 5 million short strings took 826 MB). DuckDB's excel
extension (`read_xlsx`) is faster still, but reading all columns as text it returns date cells as
serial numbers that cannot be told from numbers typed in, and typed, one text date in a date column
fails the whole read.

The output is written to a temporary file next to it and renamed into place only once complete
and checked, so a failed or killed import never leaves a half-written source.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import re
import sqlite3
import time
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.atomic import atomic_output, check_writable
from orchestrator.core.errors import SourceError, UsageError
from orchestrator.source.contract import TableSpec, check_source, expected_tables, sha256_file
from orchestrator.source.csv_export import Mapping, extra_columns, write_table

HEADER_SCAN_ROWS = 30
BATCH = 5000
TEXT_TYPES = frozenset({"s", "inlineStr", "str"})
PATTERNS = {"tickets": "tickets*.xlsx", "comments": "comments*.xlsx", "timesheets": "timesheets*.xlsx"}

MB = 1 << 20
CHUNK = 1 << 20  # bytes of XML read from the archive and fed to expat at a time
MAX_CELL_CHARS = 32_767  # Excel's limit on the characters of one cell
_MAX_RAW_CELL_CHARS = 7 * MAX_CELL_CHARS  # the same as XML text: each character an `_xHHHH_` escape at most
_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")
_WHITESPACE_RUN = re.compile(r"\s\s")  # \s is what str.split() splits on
MAX_COLUMN = 16_384  # XFD
MAX_MB_VAR, DEFAULT_MAX_MB = "SDRUN_XLSX_MAX_MB", 512.0
MAX_XML_MB_VAR, DEFAULT_MAX_XML_MB = "SDRUN_XLSX_MAX_XML_MB", 4096.0
METADATA_MAX_MB = 64  # a part openpyxl reads whole (fixed: Excel writes them in a few MB at most)
EXAMPLES = 5  # the cells, rows or ranges a refusal names before "... N in all"


@dataclass
class SheetResult:
    table: str
    file: Path
    sheet: str
    header_row: int
    rows: int = 0
    date_cells: int = 0
    blank_rows_skipped: int = 0
    blank_rows_with_extras: int = 0  # of the blank rows skipped, those with a value in an extra column
    extra_columns: list[str] = field(default_factory=list)  # landed, after the reference columns
    not_landed: list[str] = field(default_factory=list)  # header cells not landed, one note each
    columns: list[str] = field(default_factory=list)  # the landed columns, in order


@dataclass
class ImportResult:
    out: Path
    sheets: dict[str, SheetResult]
    seconds: float
    mapping: str | None = None
    empty_tables: list[str] = field(default_factory=list)  # tables without a workbook: landed empty

    def describe(self, *, landing: bool = False) -> list[str]:
        """The import's lines; `landing`: `out` is the temporary file a history merge reads (not named)."""
        via = f" through mapping {self.mapping}" if self.mapping else ""
        where = "" if landing else f" into {self.out}"
        lines = [f"{'Read' if landing else 'Imported'} {len(self.sheets)} sheet(s){via}{where} in {self.seconds:.1f}s"]
        for r in self.sheets.values():
            line = (
                f"  {r.table:<11} {r.rows:>9,} rows  from {r.file.name} [{r.sheet}], header on row {r.header_row}, "
                f"{r.date_cells:,} date cells"
            )
            if r.blank_rows_skipped:
                line += f", {r.blank_rows_skipped:,} blank rows skipped"
                if r.blank_rows_with_extras:
                    line += f" ({r.blank_rows_with_extras:,} with values in extra columns only)"
            if r.extra_columns:
                line += f"; extra columns landed: {', '.join(repr(c) for c in r.extra_columns)}"
            if r.not_landed:
                line += f"; not landed: {', '.join(r.not_landed)}"
            lines.append(line)
        lines += [f"  {t:<11} no workbook: lands empty" for t in self.empty_tables]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "mapping": self.mapping,
            "seconds": round(self.seconds, 3),
            "sheets": {
                t: {
                    "file": str(r.file),
                    "sheet": r.sheet,
                    "header_row": r.header_row,
                    "rows": r.rows,
                    "date_cells": r.date_cells,
                    "blank_rows_skipped": r.blank_rows_skipped,
                    "blank_rows_with_extras": r.blank_rows_with_extras,
                    "extra_columns": r.extra_columns,
                    "not_landed": r.not_landed,
                }
                for t, r in self.sheets.items()
            },
            "empty_tables": self.empty_tables,
        }


# ---------------------------------------------------------------------------------------------
# Finding the files
# ---------------------------------------------------------------------------------------------


def find_files(folder: Path) -> dict[str, Path]:
    """The workbook for each table in `folder`, matched by name (see the module docstring)."""
    return input_files(Path(folder))


def input_files(folder: Path | None = None, files: dict[str, Path | None] | None = None,
                mapping: Mapping | None = None) -> dict[str, Path]:
    """Resolve `--from FOLDER` and/or `--tickets/--comments/--timesheets FILE` to one file per table;
    a file given explicitly wins over the folder's match. With `mapping`, only the tables it maps
    need a workbook (the others are matched if the folder has one, else they land empty), and
    `folder` may be a single workbook (`workbook_table`)."""
    given = {t: Path(p) for t, p in (files or {}).items() if p is not None}
    if mapping is not None and folder is not None and Path(folder).is_file():
        given.setdefault(workbook_table(Path(folder), mapping), Path(folder))
        folder = None
    required = list(mapping.tables) if mapping is not None else list(PATTERNS)
    missing = [t for t in required if t not in given]
    pending = [t for t in PATTERNS if t not in given]
    if folder is None and missing:
        flags = ", ".join(f"--{t}" for t in missing)
        raise UsageError(f"give --from FOLDER, or a file for each table: missing {flags}")
    if folder is not None and pending:
        if not Path(folder).is_dir():
            raise SourceError(f"{folder}: not a folder")
        problems = []
        for table in pending:
            try:
                hit = _match_one(Path(folder), PATTERNS[table], required=table in required)
            except SourceError as exc:
                problems.append(str(exc))
                continue
            if hit is not None:
                given[table] = hit
        if problems:
            raise SourceError(f"{folder}: " + "; ".join(problems))
    return {t: given[t] for t in PATTERNS if t in given}


def workbook_table(path: Path, mapping: Mapping | None = None) -> str:
    """The table of a single workbook: the one its name says (`tickets*.xlsx`, ...), else the one
    table `mapping` maps (a ServiceNow export holds only incidents, whatever its file is called)."""
    name = Path(path).name.lower()
    table = next((t for t, pattern in PATTERNS.items() if name.startswith(pattern.split("*")[0])), None)
    if table is None and mapping is not None and len(mapping.tables) == 1:
        table = next(iter(mapping.tables))
    if table is None or not name.endswith(".xlsx"):
        raise SourceError(f"{path}: a single workbook must be named like its table "
                          f"({', '.join(PATTERNS.values())}), or be read through a --mapping that maps one table")
    return table


def _match_one(folder: Path, pattern: str, *, required: bool = True) -> Path | None:
    """The one workbook of `folder` matching `pattern`; None when there is none and it is not `required`."""
    prefix = pattern.split("*")[0]
    hits = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.lower().startswith(prefix) and p.name.lower().endswith(".xlsx")
    )
    if not hits:
        if not required:
            return None
        raise SourceError(f"no file matching {pattern}")
    if len(hits) > 1:
        raise SourceError(f"{len(hits)} files match {pattern} ({', '.join(p.name for p in hits)}): keep one")
    return hits[0]


def history_inputs(path: Path | None, files: dict[str, Path | None] | None = None,
                   mapping: Mapping | None = None) -> dict[str, Path]:
    """The workbooks of an export merged into a history, which may hold only some of the tables: a
    single workbook (its table from its name, `tickets*.xlsx`..., else the one table `mapping`
    maps: `workbook_table`), a folder (at most one workbook per table, at least one in all), and/or
    a file per table."""
    given = {t: Path(p) for t, p in (files or {}).items() if p is not None}
    if path is not None and Path(path).is_file():
        given.setdefault(workbook_table(Path(path), mapping), Path(path))
    elif path is not None:
        if not Path(path).is_dir():
            raise SourceError(f"{path}: not found")
        for table, pattern in PATTERNS.items():
            if table in given:
                continue
            try:
                hit = _match_one(Path(path), pattern, required=False)
            except SourceError as exc:
                raise SourceError(f"{path}: {exc}") from None
            if hit is not None:
                given[table] = hit
    if not given:
        raise SourceError(f"{path}: no workbook matching {', '.join(PATTERNS.values())}")
    return given


def workbooks_sha256(folder: Path) -> str:
    """One SHA-256 over the workbooks a folder import reads (name and content of each), or over
    the folder's listing when the files cannot be resolved (the run then fails anyway)."""
    import hashlib

    h = hashlib.sha256()
    try:
        files = find_files(folder)
    except SourceError:
        for p in sorted(Path(folder).iterdir()):
            h.update(p.name.encode() + b"\0")
        return h.hexdigest()
    for table in PATTERNS:
        h.update(f"{table}\0{files[table].name}\0{sha256_file(files[table])}\n".encode())
    return h.hexdigest()


def source_sha256(source: Path) -> str | None:
    """The checksum `sdrun full` compares before and after a run: the SQLite file's SHA-256, or for an
    XLSX folder one SHA-256 over its workbooks (`workbooks_sha256`); None when there is nothing to hash."""
    source = Path(source)
    if source.is_file():
        return sha256_file(source)
    if source.is_dir():
        return workbooks_sha256(source)
    return None


# ---------------------------------------------------------------------------------------------
# Reading one sheet
# ---------------------------------------------------------------------------------------------


def _norm(name: Any) -> str:
    return " ".join(str(name).split()).casefold() if name is not None else ""


def _number_text(value: int | float) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _datetime_text(value: dt.datetime, date_only: bool) -> str:
    if date_only and not (value.hour or value.minute or value.second or value.microsecond):
        return value.strftime("%Y-%m-%d")
    ms = round(value.microsecond / 1000)
    if ms == 1000:  # openpyxl rounds to ms already; guard against 999.5
        value, ms = value.replace(microsecond=0) + dt.timedelta(seconds=1), 0
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{ms:03d}" if ms else text


def cell_text(value: Any, date_only: bool = False) -> str | None:
    """One cell's value as the text that lands in SQLite (see the module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return _datetime_text(value, date_only)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------------------------


def _env_mb(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r}: expected a number of MB") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name}={raw!r}: must be a number of MB above 0")
    return value


@dataclass(frozen=True)
class Limits:
    """How much of a workbook the import takes in (see the module docstring)."""

    strings_mb: float = DEFAULT_MAX_MB  # memory of the shared-strings table
    xml_mb: float = DEFAULT_MAX_XML_MB  # XML of a sheet or of the shared-strings part

    @classmethod
    def from_env(cls) -> Limits:
        """The bounds from SDRUN_XLSX_MAX_MB and SDRUN_XLSX_MAX_XML_MB (UsageError, exit 2, if invalid)."""
        return cls(_env_mb(MAX_MB_VAR, DEFAULT_MAX_MB), _env_mb(MAX_XML_MB_VAR, DEFAULT_MAX_XML_MB))


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / MB:,.1f} MB"


def _limit(mb: float) -> str:
    return f"{mb:,g} MB"


def _check_whole_part(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    """Refuse a part openpyxl reads whole (into memory) when the zip declares it over METADATA_MAX_MB.
    zipfile never returns more than the declared size (and fails its CRC check if there is more)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return  # openpyxl reports a missing part
    if info.file_size > METADATA_MAX_MB * MB:
        raise SourceError(
            f"{path}: {name} expands to {_mb(info.file_size)}, over the {METADATA_MAX_MB} MB a workbook's "
            "metadata part may take (a fixed bound: Excel writes these parts in a few MB at most); refused"
        )


def _stream(archive: zipfile.ZipFile, name: str, path: Path, limit_mb: float) -> Iterator[bytes]:
    """A streamed XML part, CHUNK bytes at a time, refused past `limit_mb` (SDRUN_XLSX_MAX_XML_MB) by the
    size the zip declares, and by the bytes counted as they come (in case the zip lies)."""
    info = archive.getinfo(name)
    limit = limit_mb * MB
    over = (
        f"over the {_limit(limit_mb)} bound {MAX_XML_MB_VAR} sets for one XML part; "
        f"raise {MAX_XML_MB_VAR} if the workbook is genuine"
    )
    if info.file_size > limit:
        raise SourceError(f"{path}: {name} expands to {_mb(info.file_size)} (as the zip declares), {over}")
    total = 0
    with archive.open(info) as src:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                return
            total += len(chunk)
            if total > info.file_size:
                raise SourceError(
                    f"{path}: {name} holds more than the {info.file_size:,} bytes its zip entry declares: "
                    "a damaged or forged workbook; refused"
                )
            if total > limit:  # only if the declared size was let through above
                raise SourceError(f"{path}: {name} expands past {_mb(limit)}, {over}")
            yield chunk


def _excel_chars(text: str) -> int:
    """A cell text's length as Excel counts it: an `_xHHHH_` escape (e.g. `_x000D_`) is one character."""
    return len(text) - 6 * len(_ESCAPE.findall(text))


def _too_long(where: str) -> SourceError:
    return SourceError(
        f"{where} holds more than {MAX_CELL_CHARS:,} characters, the most Excel keeps in a cell: "
        "not a workbook Excel wrote; refused"
    )


# ---------------------------------------------------------------------------------------------
# Reading the workbook's metadata and shared strings
# ---------------------------------------------------------------------------------------------


class SharedStrings:
    """A workbook's shared strings, packed: their UTF-8 bytes one after another and where each ends
    (8 bytes a string), instead of one Python object each (about 50 bytes plus the text)."""

    __slots__ = ("data", "ends")

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array("q", [0])

    def __len__(self) -> int:
        return len(self.ends) - 1

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < len(self.ends) - 1:
            raise IndexError(i)
        return self.data[self.ends[i] : self.ends[i + 1]].decode("utf-8", "surrogatepass")

    def append(self, text: str) -> None:
        self.data += text.encode("utf-8", "surrogatepass")
        self.ends.append(len(self.data))

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.ends.itemsize * len(self.ends)


class _StringsParser:
    """A streaming (expat) parser of the shared-strings part: each `<si>`'s text (its `<t>` and rich
    text runs, phonetic runs `<rPh>` left out, as openpyxl reads them) appended to a SharedStrings."""

    def __init__(self, table: SharedStrings, path: Path, part: str) -> None:
        import xml.parsers.expat

        self.table = table
        self.where = f"{path}: {part}"
        self._pieces: list[str] = []
        self._n = 0
        self._collect = False
        self._in_rph = 0
        p = xml.parsers.expat.ParserCreate()
        p.buffer_text = True
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        self.parser = p

    def feed(self, data: bytes, final: bool = False) -> None:
        self.parser.Parse(data, final)

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = tag.rpartition(":")[2]
        if tag == "t":
            self._collect = not self._in_rph
        elif tag == "si":
            self._pieces, self._n, self._collect = [], 0, False
        elif tag == "rPh":
            self._in_rph += 1

    def _chars(self, data: str) -> None:
        if self._collect:
            self._pieces.append(data)
            self._n += len(data)
            if self._n > _MAX_RAW_CELL_CHARS:
                raise self._too_long()

    def _end(self, tag: str) -> None:
        tag = tag.rpartition(":")[2]
        if tag == "t":
            self._collect = False
        elif tag == "si":
            text = "".join(self._pieces)
            if len(text) > MAX_CELL_CHARS and _excel_chars(text) > MAX_CELL_CHARS:
                raise self._too_long()
            self.table.append(text.replace("x005F_", ""))  # as openpyxl's reader has it
            self._pieces = []
        elif tag == "rPh":
            self._in_rph -= 1

    def _too_long(self) -> SourceError:
        return _too_long(f"{self.where}: shared string {len(self.table):,} (counted from 0, as cells refer to it)")


def _read_shared_strings(archive: zipfile.ZipFile, part: str, path: Path, limits: Limits) -> SharedStrings:
    """The shared-strings part, streamed; refused once the table takes more than SDRUN_XLSX_MAX_MB."""
    table = SharedStrings()
    parser = _StringsParser(table, path, part)
    budget = limits.strings_mb * MB

    def check() -> None:
        if table.nbytes > budget:
            raise SourceError(
                f"{path}: its shared strings take more than {_limit(limits.strings_mb)} of memory "
                f"({len(table):,} strings read so far), the bound {MAX_MB_VAR} sets; raise {MAX_MB_VAR} "
                "if the workbook is genuine (the import then takes about that much memory)"
            )

    for chunk in _stream(archive, part, path, limits.xml_mb):
        parser.feed(chunk)
        check()
    parser.feed(b"", True)
    check()
    return table


@dataclass
class _Workbook:
    """What reading a sheet needs from a workbook: its sheets, shared strings, date styles, epoch."""

    archive: zipfile.ZipFile
    sheets: list[tuple[str, str]]  # (title, part name in the archive), in workbook order
    shared_strings: SharedStrings
    date_styles: set[int]  # style ids whose number format is a date/time
    date_only_styles: set[int]  # ... showing a date and no time
    timedelta_styles: set[int]
    epoch: dt.datetime

    def close(self) -> None:
        self.archive.close()


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _open_workbook(path: Path, limits: Limits | None = None) -> _Workbook:
    """Read a workbook's metadata with openpyxl (manifest, workbook, styles), not its sheets: openpyxl's
    own read-only sheets scan a whole sheet on opening when it lacks a <dimension>. The shared strings
    are read here, streamed and bounded (`_read_shared_strings`)."""
    import xml.parsers.expat

    from openpyxl.reader.excel import ExcelReader, _find_workbook_part
    from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE, is_datetime
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.xml.constants import ARC_CONTENT_TYPES, ARC_STYLE, SHARED_STRINGS

    limits = limits or Limits.from_env()
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: empty file, not an XLSX workbook")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == OLE2_MAGIC:  # an encrypted XLSX (Excel wraps it in an OLE2 container), or a legacy .xls
        raise SourceError(f"{path}: a password-protected workbook or an old .xls file, not an XLSX workbook; "
                          "save it from Excel without a password, as .xlsx")
    archive: zipfile.ZipFile | None = None
    try:
        # keep_links=False: external links hold cached copies of other workbooks, not needed here
        reader = ExcelReader(str(path), read_only=True, data_only=True, keep_links=False)
        archive = reader.archive
        for name in [ARC_CONTENT_TYPES, ARC_STYLE, *(n for n in archive.namelist() if n.endswith(".rels"))]:
            _check_whole_part(archive, name, path)
        reader.read_manifest()
        _check_whole_part(archive, _find_workbook_part(reader.package).PartName[1:], path)
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
        wb = reader.wb
        sheets = [
            (sheet.name, rel.target)
            for sheet, rel in reader.parser.find_sheets()
            if rel.target in reader.valid_files and "chartsheet" not in rel.Type
        ]
        strings_ct = reader.package.find(SHARED_STRINGS)
        strings_part = strings_ct.PartName[1:] if strings_ct is not None else None
    except SourceError:
        if archive is not None:
            archive.close()
        raise
    except zipfile.BadZipFile as exc:
        if archive is not None:
            archive.close()
        raise SourceError(f"{path}: not an XLSX workbook ({exc})") from exc
    except Exception as exc:  # openpyxl raises many kinds on a damaged package
        if archive is not None:
            archive.close()
        raise SourceError(f"{path}: unreadable XLSX workbook ({type(exc).__name__}: {exc})") from exc

    assert archive is not None
    try:
        strings = _read_shared_strings(archive, strings_part, path, limits) if strings_part else SharedStrings()
    except xml.parsers.expat.ExpatError as exc:
        archive.close()
        raise SourceError(f"{path}: damaged shared-strings XML in {strings_part} ({exc})") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError) as exc:
        archive.close()
        raise SourceError(f"{path}: damaged workbook, {strings_part} unreadable ({type(exc).__name__}: {exc})") from exc
    except BaseException:
        archive.close()
        raise

    def fmt(sid: int) -> str:
        fmt_id = wb._cell_styles[sid].numFmtId
        if fmt_id < BUILTIN_FORMATS_MAX_SIZE:
            return str(BUILTIN_FORMATS.get(fmt_id, "General"))
        return str(wb._number_formats[fmt_id - BUILTIN_FORMATS_MAX_SIZE])

    dates = set(wb._date_formats)
    return _Workbook(
        archive=archive,
        sheets=sheets,
        shared_strings=strings,
        date_styles=dates,
        date_only_styles={sid for sid in dates if is_datetime(fmt(sid)) == "date"},
        timedelta_styles=set(wb._timedelta_formats),
        epoch=wb.epoch,
    )


# ---------------------------------------------------------------------------------------------
# Reading one sheet
# ---------------------------------------------------------------------------------------------


def _column_index(ref: str) -> int:
    """'C12' → 3 (1-based)."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n


def _column_letter(col: int) -> str:
    """3 → 'C' (1-based)."""
    letters = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


_CELL_REF = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]{1,7})")


def _parse_range(ref: str) -> tuple[int, int, int, int] | None:
    """'B10:B14' → (first row, first column, last row, last column), 1-based; None if not a range."""
    corners = []
    for part in ref.strip().split(":"):
        m = _CELL_REF.fullmatch(part)
        if m is None:
            return None
        corners.append((int(m.group(2)), _column_index(m.group(1))))
    if not 1 <= len(corners) <= 2:
        return None
    (r1, c1), (r2, c2) = corners[0], corners[-1]
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def _range_text(rng: tuple[int, int, int, int]) -> str:
    r1, c1, r2, c2 = rng
    return f"{_column_letter(c1)}{r1}:{_column_letter(c2)}{r2}"


def _number(text: str) -> int | float:
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


_Range = tuple[int, int, int, int]
_Row = tuple[int, list[str | None], list[int] | None]  # (row number, cell texts by column, uncached formula columns)


class _SheetParser:
    """A streaming (expat) parser of one worksheet part: rows of cell texts, the date cells counted.

    Cells: `t="s"` shared string, `t="inlineStr"` inline string (phonetic runs ignored), `t="str"`
    formula text, `t="b"` boolean, `t="e"` error text (e.g. '#N/A'), `t="d"` ISO date, else a number,
    a date when its style's number format is a date format. A formula cell counts by its cached
    value; one without (`<f>` and no `<v>`, or an empty `<v>` unless `t="str"`) is listed with its
    row.

    The header is found while parsing: `on_head` gets the rows numbered up to HEADER_SCAN_ROWS as soon
    as the sheet goes past them (or its `<sheetData>` ends), and returns the last column to keep; cells
    to the right of it are not kept in later rows, so a row's size is bounded by the landed columns.
    Merged ranges (`<mergeCells>`, after `<sheetData>`) then go through `merge_filter`."""

    MAX_EARLY_MERGES = 10_000  # ranges before the header is known (only in a sheet with them first)

    def __init__(self, wb: _Workbook, label: str, on_head: Callable[[list[_Row]], int]) -> None:
        import xml.parsers.expat

        self.wb = wb
        self.label = label
        self.on_head = on_head
        self.head: list[_Row] | None = []  # the rows the header is looked for in, None once it is found
        self.width = MAX_COLUMN  # the last column kept in a row
        self.rows: list[_Row] = []
        self.date_cells = 0
        self.merges: list[_Range] = []  # every range until merge_filter is set, then the first kept ones
        self.merge_count = 0  # ranges kept by merge_filter
        self.merge_filter: Callable[[_Range], bool] | None = None
        strings = wb.shared_strings
        self._strings_data, self._strings_ends, self._strings_n = strings.data, strings.ends, len(strings)
        self._row: list[str | None] = []
        self._uncached: list[int] | None = None
        self._row_num = 0
        self._col = 0
        self._type = "n"
        self._style = 0
        self._text: list[str] = []
        self._more = 0  # characters collected beyond the first piece of a cell's text
        self._collect = False
        self._in_is = False
        self._in_rph = 0
        self._has_value = False
        self._formula = False
        p = xml.parsers.expat.ParserCreate()
        p.buffer_text = True
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        self.parser = p

    def feed(self, data: bytes, final: bool = False) -> None:
        self.parser.Parse(data, final)

    def set_merge_filter(self, keep: Callable[[_Range], bool]) -> None:
        """From now on keep only the ranges `keep` accepts (counted, the first EXAMPLES listed)."""
        pending, self.merges = self.merges, []
        self.merge_filter = keep
        for rng in pending:
            self._add_merge(rng)

    def found_head(self) -> None:
        """Hand the rows read so far to `on_head` (the header is among them); once only."""
        if self.head is not None:
            head, self.head = self.head, None
            self.width = self.on_head(head)

    def _add_merge(self, rng: _Range) -> None:
        if self.merge_filter is None:  # <mergeCells> before <sheetData>: out of order, but kept (bounded)
            if len(self.merges) >= self.MAX_EARLY_MERGES:
                raise SourceError(f"{self.label}: over {self.MAX_EARLY_MERGES:,} merged ranges before the sheet's data")
            self.merges.append(rng)
        elif self.merge_filter(rng):
            self.merge_count += 1
            if len(self.merges) < EXAMPLES:
                self.merges.append(rng)

    def _ref(self) -> str:
        return f"{_column_letter(self._col)}{self._row_num}"

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = tag.rpartition(":")[2]
        if tag == "c":
            ref = attrs.get("r")
            if ref:
                col = _column_index(ref)
                if not 0 < col <= MAX_COLUMN:
                    raise SourceError(f"{self.label}: cell reference {ref!r} is not an Excel cell (columns A to XFD)")
                self._col = col
            else:
                self._col += 1
            self._type = attrs.get("t", "n")
            self._style = int(attrs.get("s", 0) or 0)
            self._text = []
            self._more = 0
            self._has_value = False
            self._formula = False
        elif tag == "v":
            self._collect, self._has_value = True, True
            self._text = []
        elif tag == "f":
            self._formula = True
        elif tag == "is":
            self._in_is, self._has_value = True, True
        elif tag == "t" and self._in_is and not self._in_rph:
            self._collect = True
        elif tag == "rPh":
            self._in_rph += 1
        elif tag == "row":
            r = attrs.get("r")
            self._row_num = int(r) if r else self._row_num + 1
            if self.head is not None and (self._row_num > HEADER_SCAN_ROWS or len(self.head) >= HEADER_SCAN_ROWS):
                self.found_head()
            self._row = []
            self._uncached = None
            self._col = 0
        elif tag == "mergeCell":
            ref = attrs.get("ref", "")
            rng = _parse_range(ref)
            if rng is None:
                raise SourceError(f"{self.label}: merged range {ref!r} is not a cell range")
            self._add_merge(rng)

    def _chars(self, data: str) -> None:
        if self._collect:
            text = self._text
            text.append(data)
            if len(text) > 1:  # a long text comes in pieces (the first at most one CHUNK): bound the rest
                self._more += len(data)
                if self._more > _MAX_RAW_CELL_CHARS:
                    raise _too_long(f"{self.label}: cell {self._ref()}")

    def _end(self, tag: str) -> None:
        tag = tag.rpartition(":")[2]
        if tag in ("v", "t"):
            self._collect = False
        elif tag == "rPh":
            self._in_rph -= 1
        elif tag == "is":
            self._in_is = False
        elif tag == "c":
            col = self._col
            cached = self._has_value and (self._type == "str" or any(self._text))
            if self._formula and not cached and col <= self.width:
                if self._uncached is None:
                    self._uncached = []
                self._uncached.append(col)
            value = self._value()  # also for a cell not kept: its checks, and the date cells counted
            if value is not None and col <= self.width:
                row = self._row
                if len(row) < col:
                    row.extend([None] * (col - len(row)))
                row[col - 1] = value
        elif tag == "row":
            item = (self._row_num, self._row, self._uncached)
            self.rows.append(item)
            if self.head is not None:
                self.head.append(item)
        elif tag == "sheetData":
            self.found_head()

    def _value(self) -> str | None:
        t = self._type
        text = "".join(self._text)
        if len(text) > MAX_CELL_CHARS and _excel_chars(text) > MAX_CELL_CHARS:
            raise _too_long(f"{self.label}: cell {self._ref()}")
        if t == "inlineStr":
            return text  # a text cell, even an empty one
        if not self._has_value:
            return "" if t in ("s", "str") else None
        if t == "s":
            i = int(text)
            if not 0 <= i < self._strings_n:
                raise SourceError(
                    f"{self.label}: cell {self._ref()} refers to shared string {i}, "
                    f"but the workbook has {self._strings_n:,}: a damaged workbook"
                )
            ends = self._strings_ends
            return self._strings_data[ends[i] : ends[i + 1]].decode("utf-8", "surrogatepass")
        if t in ("str", "e"):
            return text
        if t == "b":
            return "TRUE" if text.strip() in ("1", "true") else "FALSE"
        if t == "d":
            self.date_cells += 1
            return text.replace("T", " ").removesuffix("Z")
        if text == "":
            return None
        number = _number(text)
        if self._style in self.wb.date_styles:
            from openpyxl.utils.datetime import from_excel

            try:
                when = from_excel(number, self.wb.epoch, timedelta=self._style in self.wb.timedelta_styles)
            except (OverflowError, ValueError):
                return text  # marked as a date but outside the calendar: keep the number
            self.date_cells += 1
            return cell_text(when, self._style in self.wb.date_only_styles)
        return _number_text(number)


def _pick_sheet(wb: _Workbook, table: str, path: Path) -> tuple[str, str]:
    if not wb.sheets:
        raise SourceError(f"{path}: the workbook has no worksheet")
    for title, part in wb.sheets:
        if title.strip().casefold() == table:
            return title, part
    return wb.sheets[0]


def _sheet_rows(wb: _Workbook, part: str, parser: _SheetParser, path: Path, limits: Limits) -> Iterator[_Row]:
    """The rows the sheet holds, in order, streamed in 1 MiB chunks (rows it leaves out are not yielded)."""
    for chunk in _stream(wb.archive, part, path, limits.xml_mb):
        parser.feed(chunk)
        rows, parser.rows = parser.rows, []
        yield from rows
    parser.feed(b"", final=True)
    yield from parser.rows


@dataclass
class _Header:
    """What the header row says about a sheet's columns."""

    row: int  # its row number
    positions: dict[str, int]  # reference column read → position (0-based); one mapped to null is absent
    extras: list[tuple[str, int]]  # the extra columns landed: (name, position)
    not_landed: list[str]  # the header cells not landed, one note each
    names: set[str]  # the header names looked for (reference or mapped), normalised


def _find_header(
    rows: Sequence[_Row], spec: TableSpec, path: Path, sheet: str, mapped: dict[str, str | None] | None = None
) -> _Header:
    """The header row among `rows` and its columns: the reference column names, or, for a table the
    mapping maps (`mapped`: reference column → export column, None for one landing NULL), the export
    column names; the other named cells are extra columns (csv_export.extra_columns)."""
    source_of = dict(mapped) if mapped is not None else {c: c for c in spec.columns}
    wanted: dict[str, list[str]] = {}  # normalised header name → the reference column(s) it gives
    for ref, src in source_of.items():
        if src is not None:
            wanted.setdefault(_norm(src), []).append(ref)
    best, best_score = -1, 0
    best_row: list[str | None] = []
    for num, row, _ in rows:
        score = len({_norm(v) for v in row} & wanted.keys())
        if score > best_score:
            best, best_score, best_row = num, score, row
            if score == len(wanted):
                break
    if best < 0:
        names = [src for src in source_of.values() if src is not None]
        raise SourceError(
            f"{path}: sheet {sheet!r}: no header row in the first {HEADER_SCAN_ROWS} rows "
            f"(expected{' mapped' if mapped is not None else ''} columns {', '.join(repr(c) for c in names)})"
        )
    seen: dict[str, int] = {}  # normalised header name → its position
    doubled: dict[str, list[int]] = {}
    unexpected: list[str] = []
    for pos, value in enumerate(best_row):
        if value is None or str(value).strip() == "":
            continue
        n = _norm(value)
        if n not in wanted:
            unexpected.append(str(value))
        elif n not in seen:
            seen[n] = pos
        else:
            doubled.setdefault(n, [seen[n]]).append(pos)
    same = []
    for n, where in doubled.items():
        letters = [_column_letter(p + 1) for p in where]
        cols = ", ".join(letters[:-1]) + " and " + letters[-1]
        name = source_of[wanted[n][0]]
        same.append(f"columns {cols} are {'both' if len(letters) == 2 else 'all'} headed {name!r}")
    twice = "; ".join(same) + ": only one of them could be landed; keep one, or rename the others"
    missing = [
        f"{ref!r} (export column {src!r})" if mapped is not None else repr(ref)
        for ref, src in source_of.items()
        if src is not None and _norm(src) not in seen
    ]
    if missing:
        msg = (f"{path}: sheet {sheet!r} (header on row {best}) lacks{' mapped' if mapped is not None else ''} "
               f"column(s) " + ", ".join(missing))
        if unexpected:
            msg += "; it has unexpected column(s) " + ", ".join(repr(c) for c in unexpected)
        if same:
            msg += "; " + twice
        raise SourceError(msg)
    if same:
        raise SourceError(f"{path} [{sheet}] (header on row {best}): {twice}")
    positions = {c: seen[_norm(src)] for c in spec.columns if (src := source_of[c]) is not None}
    extras, not_landed = extra_columns(best_row, set(seen.values()), spec.columns,
                                       lambda i: f"column {_column_letter(i + 1)}")
    return _Header(best, positions, extras, not_landed, set(wanted))


def _some(items: Sequence[str], count: int) -> str:
    """'C5' / 'C5, C6' / 'C5, C6, C7, C8, C9, ... 12 in all'."""
    text = ", ".join(items)
    return f"{text}, ... {count:,} in all" if count > len(items) else text


class _SheetChecks:
    """The refusals found while reading the data rows of one sheet (see the module docstring), raised
    together as one SourceError once the sheet has been read to its end."""

    def __init__(self, label: str, head: _Header) -> None:
        self.label = label
        self.header = head.row
        self.names = head.names  # the header names (reference or mapped), normalised
        self.longest = max(len(n) for n in self.names)
        firsts = {n[0] for n in self.names}
        # the ASCII characters a text normalising to a name cannot start with (ASCII casefolds as lower())
        self.cannot_start = frozenset(c for c in map(chr, range(128)) if not c.isspace() and c.lower() not in firsts)
        self.quorum = max(1, (len(head.positions) + 1) // 2)  # at least half the reference cells read, rounded up
        # 1-based column → the name it lands as: the reference columns read, then the extra ones
        self.landed = {pos + 1: name for name, pos in [*head.positions.items(), *head.extras]}
        self.repeated: list[int] = []
        self.repeated_count = 0
        self.repeated_hits = 0
        self.uncached: list[str] = []
        self.uncached_count = 0

    @property
    def failed(self) -> bool:
        return bool(self.repeated_count or self.uncached_count)

    def repeats_header(self, out: tuple[str | None, ...]) -> int:
        """How many reference cells (`out`) hold a header name, or 0 if under the quorum (stops early)."""
        names, quorum, longest, cannot_start = self.names, self.quorum, self.longest, self.cannot_start
        hits, misses_left = 0, len(out) - quorum
        for v in out:
            # Cheaper exact tests first (this runs on every row): the first character, and a text longer
            # than every name, which normalises to one only if trimming it or collapsing a run of
            # whitespace shortens it (case folding never does).
            if (
                v
                and v[0] not in cannot_start
                and (len(v) <= longest or len(s := v.strip()) <= longest or _WHITESPACE_RUN.search(s))
                and " ".join(v.split()).casefold() in names
            ):
                hits += 1
            else:
                misses_left -= 1
                if misses_left < 0:
                    return 0
        return hits if hits >= quorum else 0

    def repeated_header(self, num: int, hits: int) -> None:
        self.repeated_count += 1
        if len(self.repeated) < EXAMPLES:
            self.repeated.append(num)
            self.repeated_hits = max(self.repeated_hits, hits)

    def uncached_formulas(self, num: int, cols: list[int]) -> None:
        for col in cols:
            if col in self.landed:
                self.uncached_count += 1
                if len(self.uncached) < EXAMPLES:
                    self.uncached.append(f"{_column_letter(col)}{num}")

    def merge_in_data(self, rng: _Range) -> bool:
        r1, c1, r2, c2 = rng
        return r2 > self.header and any(c1 <= col <= c2 for col in self.landed)

    def raise_if_refused(self, parser: _SheetParser) -> None:
        parts = []
        if self.repeated_count:
            rows = [f"{n:,}" for n in self.repeated]
            one = self.repeated_count == 1
            parts.append(
                f"{'row' if one else 'rows'} {_some(rows, self.repeated_count)} {'repeats' if one else 'repeat'} "
                f"the header row (row {self.header}): {'its' if one else 'their'} cells in the reference columns hold "
                f"{'' if one else 'up to '}{self.repeated_hits} of the {len(self.names)} column names, as two exports "
                f"pasted one under the other do; remove {'it' if one else 'them'}"
            )
        if self.uncached_count:
            one = self.uncached_count == 1
            parts.append(
                f"{'a formula cell' if one else 'formula cells'} without a cached value "
                f"({_some(self.uncached, self.uncached_count)}): open and save the workbook in Excel or "
                "LibreOffice so the values are stored, or paste values"
            )
        if parser.merge_count:
            one = parser.merge_count == 1
            cols = sorted({col for r in parser.merges for col in self.landed if r[1] <= col <= r[3]})
            named = ", ".join(f"{_column_letter(c)} {self.landed[c]!r}" for c in cols)
            ranges = _some([_range_text(r) for r in parser.merges], parser.merge_count)
            parts.append(
                f"merged cells {ranges} in the data (column{'' if len(cols) == 1 else 's'} {named}): a merged "
                f"range holds its value in its first cell only, so the other rows would land empty; unmerge "
                f"{'it' if one else 'them'} and fill in the values"
            )
        if parts:
            raise SourceError(f"{self.label}: " + "; ".join(parts))


def read_sheet(
    path: Path, spec: TableSpec, result_holder: list[SheetResult], limits: Limits | None = None,
    mapped: dict[str, str | None] | None = None,
) -> Iterator[tuple[str | None, ...]]:
    """Yield the data rows of one workbook as tuples of text in the order of the SheetResult's
    `columns`: the reference columns (`spec.columns`; NULL for one `mapped` to None), then the extra
    ones. `mapped`: the mapping of this table (reference column → export column), else None.
    The SheetResult (header row, columns, counts, extras) is appended to `result_holder` once the
    header is known. A refusal (see the module docstring) is raised once the sheet is read; no row is
    yielded after the first problem."""
    import xml.parsers.expat

    path = Path(path)
    limits = limits or Limits.from_env()
    wb = _open_workbook(path, limits)
    try:
        title, part = _pick_sheet(wb, spec.name, path)
        label = f"{path} [{title}]"
        res: SheetResult | None = None
        checks: _SheetChecks | None = None
        order: list[int] = []  # the positions read: the reference columns (in spec order, but those mapped
        n_ref = 0  # to None), then the extra ones; the first n_ref of them are the reference cells
        layout: list[int | None] | None = None  # when a column lands NULL: each landed column's index in a row read

        def on_head(head: list[_Row]) -> int:
            nonlocal res, checks, order, n_ref, layout
            found = _find_header([r for r in head if r[0] <= HEADER_SCAN_ROWS], spec, path, title, mapped)
            extras = [name for name, _ in found.extras]
            res = SheetResult(table=spec.name, file=path, sheet=title, header_row=found.row, extra_columns=extras,
                              not_landed=found.not_landed, columns=[*spec.columns, *extras])
            result_holder.append(res)
            checks = _SheetChecks(label, found)
            parser.set_merge_filter(checks.merge_in_data)
            order = [*found.positions.values(), *(pos for _, pos in found.extras)]
            n_ref = len(found.positions)
            if n_ref < len(spec.columns):
                index = {c: i for i, c in enumerate(found.positions)}
                layout = [index.get(c) for c in spec.columns] + list(range(n_ref, len(order)))
            return max(order) + 1

        parser = _SheetParser(wb, label, on_head)
        rows = _sheet_rows(wb, part, parser, path, limits)
        early: list[_Row] = []  # rows read before the header is known (at most HEADER_SCAN_ROWS)
        for item in rows:
            early.append(item)
            if parser.head is None:
                break
        parser.found_head()  # a sheet that ends early
        assert res is not None and checks is not None
        header = res.header_row
        with_extras = len(order) > n_ref
        expected = header + 1  # the next row number below the header: rows left out of the sheet are blank
        for num, row, uncached in itertools.chain(early, rows):
            width = len(row)
            out = tuple(row[pos] if pos < width else None for pos in order)
            ref = out[:n_ref] if with_extras else out
            if num <= header:
                if num < header and (hits := checks.repeats_header(ref)):
                    checks.repeated_header(num, hits)
                continue
            if num >= expected:
                res.blank_rows_skipped += num - expected
                expected = num + 1
            if uncached:
                checks.uncached_formulas(num, uncached)
            if all(v is None or v == "" for v in ref):
                res.blank_rows_skipped += 1
                if with_extras and any(v is not None and v != "" for v in out[n_ref:]):
                    res.blank_rows_with_extras += 1
                continue
            hits = checks.repeats_header(ref)
            if hits:
                checks.repeated_header(num, hits)
                continue
            if checks.failed:
                continue  # refused: read on to name every problem, land nothing more
            res.rows += 1
            yield out if layout is None else tuple(None if i is None else out[i] for i in layout)
        res.date_cells = parser.date_cells
        checks.raise_if_refused(parser)
    except xml.parsers.expat.ExpatError as exc:
        raise SourceError(f"{path}: damaged worksheet XML ({exc})") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, OSError, IndexError) as exc:
        raise SourceError(f"{path}: unreadable XLSX workbook ({type(exc).__name__}: {exc})") from exc
    finally:
        wb.close()


# ---------------------------------------------------------------------------------------------
# Writing the SQLite source
# ---------------------------------------------------------------------------------------------


def import_xlsx(files: dict[str, Path], out: Path, *, force: bool = False,
                missing_empty: bool = False, mapping: Mapping | None = None) -> ImportResult:
    """Land one workbook per table in a new SQLite source `out` (atomically). See the module docstring.
    Each table gets the reference columns, then the sheet's extra columns, all TEXT. `mapping`:
    another tool's column names (csv_export.load_mapping) for the tables it maps; only those need a
    workbook, the others land empty without one. `missing_empty`: any table without a workbook lands
    empty (an export merged into a history may hold only some of the tables)."""
    out = Path(out)
    check_writable(out, force)
    limits = Limits.from_env()
    specs = expected_tables()
    required = [] if missing_empty else list(mapping.tables) if mapping is not None else [s.name for s in specs]
    for table in required:
        if table not in files:
            raise UsageError(f"no workbook given for table {table}")
    t0 = time.perf_counter()
    sheets: dict[str, SheetResult] = {}
    empty: list[str] = []
    with atomic_output(out) as tmp:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            for spec in specs:
                holder: list[SheetResult] = []
                rows: Iterator[tuple[str | None, ...]] = iter(())
                if spec.name in files:
                    mapped = mapping.tables.get(spec.name) if mapping is not None else None
                    rows = read_sheet(Path(files[spec.name]), spec, holder, limits, mapped)
                else:
                    empty.append(spec.name)
                first = next(rows, None)  # the header is read: the columns are known
                write_table(con, spec.name, holder[0].columns if holder else list(spec.columns), first, rows)
                if holder:
                    sheets[spec.name] = holder[0]
            con.execute("COMMIT")
        finally:
            con.close()
        check_source(tmp)
    return ImportResult(out=out, sheets=sheets, seconds=time.perf_counter() - t0,
                        mapping=mapping.name if mapping is not None else None, empty_tables=empty)


def import_folder(folder: Path, out: Path, *, force: bool = False) -> ImportResult:
    return import_xlsx(find_files(folder), out, force=force)
