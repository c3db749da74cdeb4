"""`sdrun import`: land the XLSX exports (tickets, comments, timesheets) in a new SQLite source.

What lands, and how:

- One workbook per table. In a folder the files are matched by name, case-insensitively:
  `tickets*.xlsx`, `comments*.xlsx`, `timesheets*.xlsx` (Excel's `~$` lock files are ignored);
  exactly one file must match each pattern. The sheet read is the one named like the table
  (case-insensitive), else the workbook's first sheet.
- The header row is the row, among the first `HEADER_SCAN_ROWS`, holding the most reference column
  names (models/staging/servicedesk/_servicedesk__sources.yml), so title rows above it are skipped.
  Names match after trimming and collapsing whitespace, case-insensitively; the SQLite columns get
  the reference spelling. A missing (or renamed) column is an error naming it; extra columns are
  reported and not landed.
- Values: an Excel date cell becomes ISO text, `YYYY-MM-DD HH:MM:SS` (`.fff` when it has
  milliseconds), or `YYYY-MM-DD` when its number format shows no time; a number becomes its text
  (`2`, `1.5`); TRUE/FALSE cells become `TRUE`/`FALSE`; text cells are kept exactly as they are,
  spaces, sentinels and text dates included (cleaning is dbt's job); empty cells are NULL, a text
  cell holding the empty string is ''. Rows with no value in any reference column (blank rows) are
  skipped. Every column is declared TEXT, and a row's SQLite rowid is its position among the landed
  rows (1, 2, ...), in sheet order.

Streaming: each sheet's XML is parsed with expat as it is read from the archive, 1 MiB at a time,
and rows are inserted in batches, so memory does not grow with the number of rows (the workbook's
shared-strings table is held in memory, as every XLSX reader must). openpyxl reads the workbook's
metadata (sheets, shared strings, number formats, 1900/1904 calendar); its own read-only sheets
were 3-4 times slower and scan a whole sheet on opening when it lacks a <dimension>. DuckDB's excel
extension (`read_xlsx`) is faster still, but reading all columns as text it returns date cells as
serial numbers that cannot be told from numbers typed in, and typed, one text date in a date column
fails the whole read.

The output is written to a temporary file next to it and renamed into place only once complete
and checked, so a failed or killed import never leaves a half-written source.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.atomic import atomic_output, check_writable
from orchestrator.core.errors import SourceError, UsageError
from orchestrator.source.contract import TableSpec, check_source, expected_tables, sha256_file

HEADER_SCAN_ROWS = 30
BATCH = 5000
TEXT_TYPES = frozenset({"s", "inlineStr", "str"})
PATTERNS = {"tickets": "tickets*.xlsx", "comments": "comments*.xlsx", "timesheets": "timesheets*.xlsx"}


@dataclass
class SheetResult:
    table: str
    file: Path
    sheet: str
    header_row: int
    rows: int = 0
    date_cells: int = 0
    blank_rows_skipped: int = 0
    extra_columns: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    out: Path
    sheets: dict[str, SheetResult]
    seconds: float

    def describe(self) -> list[str]:
        lines = [f"Imported {len(self.sheets)} sheet(s) into {self.out} in {self.seconds:.1f}s"]
        for r in self.sheets.values():
            line = (
                f"  {r.table:<11} {r.rows:>9,} rows  from {r.file.name} [{r.sheet}], header on row {r.header_row}, "
                f"{r.date_cells:,} date cells"
            )
            if r.blank_rows_skipped:
                line += f", {r.blank_rows_skipped:,} blank rows skipped"
            if r.extra_columns:
                line += f"; extra columns not landed: {', '.join(repr(c) for c in r.extra_columns)}"
            lines.append(line)
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "seconds": round(self.seconds, 3),
            "sheets": {
                t: {
                    "file": str(r.file),
                    "sheet": r.sheet,
                    "header_row": r.header_row,
                    "rows": r.rows,
                    "date_cells": r.date_cells,
                    "blank_rows_skipped": r.blank_rows_skipped,
                    "extra_columns": r.extra_columns,
                }
                for t, r in self.sheets.items()
            },
        }


# ---------------------------------------------------------------------------------------------
# Finding the files
# ---------------------------------------------------------------------------------------------


def find_files(folder: Path) -> dict[str, Path]:
    """The workbook for each table in `folder`, matched by name (see the module docstring)."""
    return input_files(Path(folder))


def input_files(folder: Path | None = None, files: dict[str, Path | None] | None = None) -> dict[str, Path]:
    """Resolve `--from FOLDER` and/or `--tickets/--comments/--timesheets FILE` to one file per table;
    a file given explicitly wins over the folder's match."""
    given = {t: Path(p) for t, p in (files or {}).items() if p is not None}
    missing = [t for t in PATTERNS if t not in given]
    if folder is None and missing:
        flags = ", ".join(f"--{t}" for t in missing)
        raise UsageError(f"give --from FOLDER, or a file for each table: missing {flags}")
    if folder is not None and missing:
        if not Path(folder).is_dir():
            raise SourceError(f"{folder}: not a folder")
        problems = []
        for table in missing:
            try:
                given[table] = _match_one(Path(folder), PATTERNS[table])
            except SourceError as exc:
                problems.append(str(exc))
        if problems:
            raise SourceError(f"{folder}: " + "; ".join(problems))
    return {t: given[t] for t in PATTERNS}


def _match_one(folder: Path, pattern: str) -> Path:
    prefix = pattern.split("*")[0]
    hits = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.lower().startswith(prefix) and p.name.lower().endswith(".xlsx")
    )
    if not hits:
        raise SourceError(f"no file matching {pattern}")
    if len(hits) > 1:
        raise SourceError(f"{len(hits)} files match {pattern} ({', '.join(p.name for p in hits)}): keep one")
    return hits[0]


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


@dataclass
class _Workbook:
    """What reading a sheet needs from a workbook: its sheets, shared strings, date styles, epoch."""

    archive: zipfile.ZipFile
    sheets: list[tuple[str, str]]  # (title, part name in the archive), in workbook order
    shared_strings: Sequence[str]
    date_styles: set[int]  # style ids whose number format is a date/time
    date_only_styles: set[int]  # ... showing a date and no time
    timedelta_styles: set[int]
    epoch: dt.datetime

    def close(self) -> None:
        self.archive.close()


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _open_workbook(path: Path) -> _Workbook:
    """Read a workbook's metadata with openpyxl (manifest, shared strings, styles), not its sheets:
    openpyxl's own read-only sheets scan a whole sheet on opening when it lacks a <dimension>."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE, is_datetime

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
    try:
        reader = ExcelReader(str(path), read_only=True, data_only=True)
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        from openpyxl.styles.stylesheet import apply_stylesheet

        apply_stylesheet(reader.archive, reader.wb)
        wb = reader.wb
        sheets = [
            (sheet.name, rel.target)
            for sheet, rel in reader.parser.find_sheets()
            if rel.target in reader.valid_files and "chartsheet" not in rel.Type
        ]
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{path}: not an XLSX workbook ({exc})") from exc
    except Exception as exc:  # openpyxl raises many kinds on a damaged package
        raise SourceError(f"{path}: unreadable XLSX workbook ({type(exc).__name__}: {exc})") from exc

    def fmt(sid: int) -> str:
        fmt_id = wb._cell_styles[sid].numFmtId
        if fmt_id < BUILTIN_FORMATS_MAX_SIZE:
            return str(BUILTIN_FORMATS.get(fmt_id, "General"))
        return str(wb._number_formats[fmt_id - BUILTIN_FORMATS_MAX_SIZE])

    dates = set(wb._date_formats)
    return _Workbook(
        archive=reader.archive,
        sheets=sheets,
        shared_strings=reader.shared_strings,
        date_styles=dates,
        date_only_styles={sid for sid in dates if is_datetime(fmt(sid)) == "date"},
        timedelta_styles=set(wb._timedelta_formats),
        epoch=wb.epoch,
    )


def _column_index(ref: str) -> int:
    """'C12' → 3 (1-based)."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n


def _number(text: str) -> int | float:
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


class _SheetParser:
    """A streaming (expat) parser of one worksheet part: rows of cell texts, the date cells counted.

    Cells: `t="s"` shared string, `t="inlineStr"` inline string (phonetic runs ignored), `t="str"`
    formula text, `t="b"` boolean, `t="e"` error text (e.g. '#N/A'), `t="d"` ISO date, else a number,
    a date when its style's number format is a date format. Formulas count by their cached value."""

    def __init__(self, wb: _Workbook) -> None:
        import xml.parsers.expat

        self.wb = wb
        self.rows: list[tuple[int, list[str | None]]] = []
        self.date_cells = 0
        self._row: list[str | None] = []
        self._row_num = 0
        self._col = 0
        self._type = "n"
        self._style = 0
        self._text: list[str] = []
        self._collect = False
        self._in_is = False
        self._in_rph = 0
        self._has_value = False
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
        if tag == "c":
            ref = attrs.get("r")
            self._col = _column_index(ref) if ref else self._col + 1
            self._type = attrs.get("t", "n")
            self._style = int(attrs.get("s", 0) or 0)
            self._text = []
            self._has_value = False
        elif tag == "v":
            self._collect, self._has_value = True, True
            self._text = []
        elif tag == "is":
            self._in_is, self._has_value = True, True
        elif tag == "t" and self._in_is and not self._in_rph:
            self._collect = True
        elif tag == "rPh":
            self._in_rph += 1
        elif tag == "row":
            r = attrs.get("r")
            self._row_num = int(r) if r else self._row_num + 1
            self._row = []
            self._col = 0

    def _chars(self, data: str) -> None:
        if self._collect:
            self._text.append(data)

    def _end(self, tag: str) -> None:
        tag = tag.rpartition(":")[2]
        if tag in ("v", "t"):
            self._collect = False
        elif tag == "rPh":
            self._in_rph -= 1
        elif tag == "is":
            self._in_is = False
        elif tag == "c":
            value = self._value()
            if value is not None:
                row = self._row
                if len(row) < self._col:
                    row.extend([None] * (self._col - len(row)))
                row[self._col - 1] = value
        elif tag == "row":
            self.rows.append((self._row_num, self._row))

    def _value(self) -> str | None:
        t = self._type
        text = "".join(self._text)
        if t == "inlineStr":
            return text  # a text cell, even an empty one
        if not self._has_value:
            return "" if t in ("s", "str") else None
        if t == "s":
            return str(self.wb.shared_strings[int(text)])
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


def _sheet_rows(wb: _Workbook, part: str, parser: _SheetParser) -> Iterator[list[str | None]]:
    """Every row of the sheet in order (missing rows as empty lists), streamed in 1 MiB chunks."""
    expected = 1
    with wb.archive.open(part) as src:
        while True:
            chunk = src.read(1 << 20)
            parser.feed(chunk, final=not chunk)
            for num, row in parser.rows:
                while expected < num:
                    expected += 1
                    yield []
                expected = num + 1
                yield row
            parser.rows.clear()
            if not chunk:
                break


def _find_header(
    rows: Sequence[Sequence[str | None]], spec: TableSpec, path: Path, sheet: str
) -> tuple[int, dict[str, int], list[str]]:
    """(index of the header row in `rows`, reference column → position, extra column names)."""
    wanted = {_norm(c): c for c in spec.columns}
    best, best_score = -1, 0
    for i, row in enumerate(rows):
        score = len({_norm(v) for v in row} & wanted.keys())
        if score > best_score:
            best, best_score = i, score
            if score == len(wanted):
                break
    if best < 0:
        raise SourceError(
            f"{path}: sheet {sheet!r}: no header row in the first {HEADER_SCAN_ROWS} rows "
            f"(expected columns {', '.join(repr(c) for c in spec.columns)})"
        )
    positions: dict[str, int] = {}
    extra: list[str] = []
    for pos, value in enumerate(rows[best]):
        if value is None or str(value).strip() == "":
            continue
        name = wanted.get(_norm(value))
        if name is None:
            extra.append(str(value))
        elif name not in positions:
            positions[name] = pos
    missing = [c for c in spec.columns if c not in positions]
    if missing:
        msg = f"{path}: sheet {sheet!r} (header on row {best + 1}) lacks column(s) " + ", ".join(
            repr(c) for c in missing
        )
        if extra:
            msg += "; it has unexpected column(s) " + ", ".join(repr(c) for c in extra)
        raise SourceError(msg)
    return best, positions, extra


def read_sheet(path: Path, spec: TableSpec, result_holder: list[SheetResult]) -> Iterator[tuple[str | None, ...]]:
    """Yield the data rows of one workbook as tuples of text in the order of `spec.columns`.
    The SheetResult (header row, counts, extras) is appended to `result_holder` once the header is known."""
    import xml.parsers.expat

    path = Path(path)
    wb = _open_workbook(path)
    try:
        title, part = _pick_sheet(wb, spec.name, path)
        parser = _SheetParser(wb)
        it = _sheet_rows(wb, part, parser)
        head: list[list[str | None]] = []
        for row in it:
            head.append(row)
            if len(head) >= HEADER_SCAN_ROWS:
                break
        header_idx, positions, extra = _find_header(head, spec, path, title)
        res = SheetResult(table=spec.name, file=path, sheet=title, header_row=header_idx + 1, extra_columns=extra)
        result_holder.append(res)
        order = [positions[c] for c in spec.columns]
        for row in itertools.chain(head[header_idx + 1 :], it):
            width = len(row)
            out = tuple(row[pos] if pos < width else None for pos in order)
            if all(v is None or v == "" for v in out):
                res.blank_rows_skipped += 1
                continue
            res.rows += 1
            yield out
        res.date_cells = parser.date_cells
    except xml.parsers.expat.ExpatError as exc:
        raise SourceError(f"{path}: damaged worksheet XML ({exc})") from exc
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError) as exc:
        raise SourceError(f"{path}: unreadable XLSX workbook ({type(exc).__name__}: {exc})") from exc
    finally:
        wb.close()


# ---------------------------------------------------------------------------------------------
# Writing the SQLite source
# ---------------------------------------------------------------------------------------------


def import_xlsx(files: dict[str, Path], out: Path, *, force: bool = False) -> ImportResult:
    """Land one workbook per table in a new SQLite source `out` (atomically). See the module docstring."""
    out = Path(out)
    check_writable(out, force)
    specs = expected_tables()
    for spec in specs:
        if spec.name not in files:
            raise UsageError(f"no workbook given for table {spec.name}")
    t0 = time.perf_counter()
    sheets: dict[str, SheetResult] = {}
    with atomic_output(out) as tmp:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            for spec in specs:
                cols = ", ".join('"{}" TEXT'.format(c.replace('"', '""')) for c in spec.columns)
                con.execute(f'CREATE TABLE "{spec.name}" ({cols})')
                sql = f'INSERT INTO "{spec.name}" VALUES ({", ".join("?" * len(spec.columns))})'
                holder: list[SheetResult] = []
                batch: list[tuple[str | None, ...]] = []
                for row in read_sheet(Path(files[spec.name]), spec, holder):
                    batch.append(row)
                    if len(batch) >= BATCH:
                        con.executemany(sql, batch)
                        batch.clear()
                if batch:
                    con.executemany(sql, batch)
                sheets[spec.name] = holder[0]
            con.execute("COMMIT")
        finally:
            con.close()
        check_source(tmp)
    return ImportResult(out=out, sheets=sheets, seconds=time.perf_counter() - t0)


def import_folder(folder: Path, out: Path, *, force: bool = False) -> ImportResult:
    return import_xlsx(find_files(folder), out, force=force)
