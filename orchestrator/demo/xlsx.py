"""Write a SQLite source (the demo's, usually) as the XLSX exports a service desk hands over.

`export_xlsx()` writes `tickets.xlsx`, `comments.xlsx` and `timesheets.xlsx` into a folder, one
sheet each, streaming (openpyxl's write-only mode), rows in rowid order so that importing them back
gives the same `source_row`s. It mimics what real exports look like:

- a title row and a blank row above the header (`title=True`);
- ISO date texts in the date columns (declared TIMESTAMP in the SQLite source) become real Excel
  date cells (format `yyyy-mm-dd hh:mm:ss`, or `yyyy-mm-dd` for date-only values), except every
  `text_date_every`-th row, where they stay typed as text; anything else in a date column (day-first
  dates, sentinels, garbage) stays text;
- ids made of digits become number cells, as Excel makes them; hours and flags stay numbers;
- optional extra columns after the reference ones (`extra_column`).

Every file is written to a temporary name in the folder and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from orchestrator.core.errors import UsageError
from orchestrator.source.contract import check_source, connect_readonly, expected_tables

ISO_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
ID_COLUMNS = {"TKT-Ticket ID", "CT-COMMENT-ID", "CT-TKT-ID", "TS-Crm ID"}
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"


def _date_columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f'pragma table_info("{table}")') if "TIME" in (r[2] or "").upper()}


def check_free(folder: Path, *, force: bool = False) -> dict[str, Path]:
    """The files `export_xlsx` writes into `folder`; UsageError if one exists and not `force`."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    targets = {spec.name: folder / f"{spec.name}.xlsx" for spec in expected_tables()}
    existing = [p.name for p in targets.values() if p.exists()]
    if existing and not force:
        raise UsageError(f"{folder}: {', '.join(existing)} already exist(s) (use --force to overwrite)")
    return targets


def export_xlsx(
    source: Path,
    folder: Path,
    *,
    force: bool = False,
    title: bool = True,
    text_date_every: int = 10,
    extra_column: str | None = None,
) -> dict[str, Path]:
    """Write one workbook per table of `source` into `folder`; returns table → file."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    source, folder = Path(source), Path(folder)
    check_source(source)
    targets = check_free(folder, force=force)
    folder.mkdir(parents=True, exist_ok=True)
    con = connect_readonly(source)
    written: dict[str, Path] = {}
    try:
        for spec in expected_tables():
            dates = _date_columns(con, spec.name)
            wb = Workbook(write_only=True)
            ws = wb.create_sheet(spec.name)
            header: list[Any] = list(spec.columns) + ([extra_column] if extra_column else [])
            if title:
                ws.append([f"Service desk export: {spec.name}"])
                ws.append([])
            ws.append(header)
            kinds = ["date" if c in dates else "id" if c in ID_COLUMNS else "" for c in spec.columns]
            cols = ", ".join('"{}"'.format(c.replace('"', '""')) for c in spec.columns)
            cur = con.execute(f'select {cols} from "{spec.name}" order by rowid')
            for n, row in enumerate(cur, start=1):
                out: list[Any] = []
                for kind, value in zip(kinds, row, strict=True):
                    out.append(_cell(ws, WriteOnlyCell, kind, value, keep_text=n % text_date_every == 0))
                if extra_column:
                    out.append(f"note {n}" if n % 3 else None)
                ws.append(out)
            tmp = folder / f".{spec.name}.xlsx.{os.getpid()}.tmp"
            try:
                wb.save(tmp)
                os.replace(tmp, targets[spec.name])
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            written[spec.name] = targets[spec.name]
    finally:
        con.close()
    return written


def _cell(ws: Any, cell_cls: Any, kind: str, value: Any, keep_text: bool) -> Any:
    if isinstance(value, str):
        if kind == "date" and not keep_text:
            m = ISO_DATETIME.match(value) or ISO_DATE.match(value)
            if m:
                parts = list(map(int, m.groups()))
                try:  # '2025-06-31 09:00:00' has the shape but is no date: it stays text
                    when: dt.date = (
                        dt.datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
                        if len(parts) == 6
                        else dt.date(parts[0], parts[1], parts[2])
                    )
                except ValueError:
                    return value
                c = cell_cls(ws, value=when)
                c.number_format = DATETIME_FORMAT if len(parts) == 6 else DATE_FORMAT
                return c
        if kind == "id" and value.isdigit() and not value.startswith("0") and len(value) < 15:
            return int(value)
        if value.startswith("=") or value.startswith("#"):
            c = cell_cls(ws, value=value)  # text, never a formula or an error cell
            c.data_type = "s"
            return c
    return value
