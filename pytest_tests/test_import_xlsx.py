"""`sdrun import` and `sdrun full --source FOLDER`: XLSX exports into a SQLite source, on real files."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import Workbook, load_workbook

from orchestrator.source.contract import expected_tables

from .helpers import last_report, sdrun

MARTS = ["tickets", "comments", "timesheets", "quarantine", "audit_changes", "daily_summary"]


def write_workbook(path: Path, rows: list[list[Any]], *, sheet: str = "Sheet1", formats: dict[str, str] | None = None):
    """A workbook with `rows` from A1; `formats` gives number formats by cell (e.g. {"B4": "yyyy-mm-dd"})."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    for ref, fmt in (formats or {}).items():
        ws[ref].number_format = fmt
    wb.save(path)
    return path


def columns(table: str) -> list[str]:
    return next(s.columns for s in expected_tables() if s.name == table)


def minimal_folder(folder: Path, *, tickets_header: list[str] | None = None) -> Path:
    """Three small workbooks; tickets has a title row, a blank row, an extra column and mixed cells."""
    folder.mkdir(parents=True, exist_ok=True)
    header = tickets_header or [f"  {c.lower()} " if c == "TKT-Ticket ID" else c for c in columns("tickets")]
    t = [
        "T1", " Printer jams ", "Closed", "p3", "Hardware", "Service Desk", "Ann",
        dt.datetime(2025, 5, 20, 8, 42, 13), "20/05/2025 8:50", dt.datetime(2025, 5, 20, 10, 0, 0),
        dt.date(2025, 5, 21), "Yes",
    ]  # fmt: skip
    t2 = [10452, "", "Open", "P2", "N/A", "Service Desk", None, "2025-05-22 09:00:00", None, None, None, True]
    write_workbook(
        folder / "Tickets_Q2.xlsx",
        [["Service desk export", None], [], [*header, "Remarks"], [*t, "x"], [*t2, None], []],
        sheet="Export",
        formats={"H4": "yyyy-mm-dd hh:mm:ss", "J4": "dd/mm/yyyy hh:mm", "K4": "yyyy-mm-dd"},
    )
    write_workbook(
        folder / "comments.xlsx",
        [columns("comments"), ["C1", "T1", dt.datetime(2025, 5, 20, 9, 0), "ann", "Looking", 1]],
        formats={"C2": "yyyy-mm-dd hh:mm"},
    )
    write_workbook(
        folder / "TIMESHEETS.xlsx",
        [
            columns("timesheets"),
            ["Fix", 1.5, dt.date(2025, 5, 20), "ann", "T1", "Fix"],
            ["Call", "1,5", "x", "a", 2, "C"],
        ],
        formats={"C2": "d/m/yyyy"},
    )
    return folder


def read_table(db: Path, table: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(f'select rowid, * from "{table}" order by rowid').fetchall()
    finally:
        con.close()


def test_import_lands_text_with_reference_names(tmp_path: Path) -> None:
    folder = minimal_folder(tmp_path / "xlsx")
    out = tmp_path / "source.db"
    res = sdrun("import", "--from", str(folder), "--out", str(out), home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "header on row 3" in res.stdout and "'Remarks'" in res.stdout
    con = sqlite3.connect(out)
    assert [r[1] for r in con.execute("pragma table_info(tickets)")] == columns("tickets")
    assert {r[2] for r in con.execute("pragma table_info(tickets)")} == {"TEXT"}
    con.close()
    tickets = read_table(out, "tickets")
    assert tickets == [
        (1, "T1", " Printer jams ", "Closed", "p3", "Hardware", "Service Desk", "Ann", "2025-05-20 08:42:13",
         "20/05/2025 8:50", "2025-05-20 10:00:00", "2025-05-21", "Yes"),
        (2, "10452", "", "Open", "P2", "N/A", "Service Desk", None, "2025-05-22 09:00:00", None, None, None, "TRUE"),
    ]  # fmt: skip
    assert read_table(out, "comments") == [(1, "C1", "T1", "2025-05-20 09:00:00", "ann", "Looking", "1")]
    assert read_table(out, "timesheets") == [
        (1, "Fix", "1.5", "2025-05-20", "ann", "T1", "Fix"),
        (2, "Call", "1,5", "x", "a", "2", "C"),
    ]


def test_single_files_override_the_folder(tmp_path: Path) -> None:
    folder = minimal_folder(tmp_path / "xlsx")
    other = write_workbook(tmp_path / "c.xlsx", [columns("comments"), ["C9", "T1", "2025-05-20", "bo", "Hi", "0"]])
    out = tmp_path / "source.db"
    res = sdrun("import", "--from", str(folder), "--comments", str(other), "--out", str(out), home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert read_table(out, "comments") == [(1, "C9", "T1", "2025-05-20", "bo", "Hi", "0")]


def test_missing_and_renamed_columns_are_named(tmp_path: Path) -> None:
    header = [("Status" if c == "TKT-Status" else c) for c in columns("tickets") if c != "TKT-Closed Time"]
    folder = minimal_folder(tmp_path / "xlsx", tickets_header=header)
    out = tmp_path / "source.db"
    res = sdrun("import", "--from", str(folder), "--out", str(out), home=tmp_path)
    assert res.returncode == 1
    err = res.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("Error: ")
    assert "Tickets_Q2.xlsx" in err and "'TKT-Status'" in err and "'TKT-Closed Time'" in err and "'Status'" in err
    assert not out.exists() and not list(tmp_path.glob(".source.db.*"))


def test_existing_output_needs_force(tmp_path: Path) -> None:
    folder = minimal_folder(tmp_path / "xlsx")
    out = tmp_path / "source.db"
    out.write_bytes(b"keep me")
    res = sdrun("import", "--from", str(folder), "--out", str(out), home=tmp_path)
    assert res.returncode == 2 and "--force" in res.stderr
    assert out.read_bytes() == b"keep me"
    res = sdrun("import", "--from", str(folder), "--out", str(out), "--force", home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(read_table(out, "tickets")) == 2


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda f: (f / "comments.xlsx").unlink(), "no file matching comments*.xlsx"),
        (lambda f: (f / "comments_old.xlsx").write_bytes((f / "comments.xlsx").read_bytes()), "2 files match"),
        (lambda f: (f / "comments.xlsx").write_text("not a zip"), "not an XLSX workbook"),
    ],
    ids=["missing", "ambiguous", "not-xlsx"],
)
def test_bad_folders_fail_with_one_line(tmp_path: Path, setup: Any, message: str) -> None:
    folder = minimal_folder(tmp_path / "xlsx")
    setup(folder)
    res = sdrun("import", "--from", str(folder), "--out", str(tmp_path / "s.db"), home=tmp_path)
    assert res.returncode == 1
    assert message in res.stderr and res.stderr.strip().count("\n") == 0
    assert not (tmp_path / "s.db").exists()


def test_no_header_row_is_reported(tmp_path: Path) -> None:
    folder = minimal_folder(tmp_path / "xlsx")
    write_workbook(folder / "comments.xlsx", [["just a note"], ["a", "b"]])
    res = sdrun("import", "--from", str(folder), "--out", str(tmp_path / "s.db"), home=tmp_path)
    assert res.returncode == 1 and "no header row" in res.stderr and "'CT-COMMENT-ID'" in res.stderr


def marts(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {m: con.execute(f"select * from servicedesk.servicedesk.{m} order by all").fetchall() for m in MARTS}
    finally:
        con.close()


def test_xlsx_set_builds_the_same_marts_as_the_sqlite_source(tmp_path: Path) -> None:
    """Demo source → XLSX (title rows, an extra column, real date cells and text dates) → `sdrun full`
    on the folder; the cleaned marts equal those built from the SQLite source, row for row."""
    from orchestrator.demo.generator import generate
    from orchestrator.demo.xlsx import export_xlsx

    db = tmp_path / "demo.db"
    generate(db, scale=0.02, seed=11)
    folder = tmp_path / "xlsx"
    files = export_xlsx(db, folder, title=True, extra_column="Internal note")

    # the set really mixes date cells with dates typed as text, below a title row
    ws = load_workbook(files["tickets"], read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0].startswith("Service desk export") and rows[2][-1] == "Internal note"
    created = [r[columns("tickets").index("TKT-Created Time")] for r in rows[3:]]
    assert sum(isinstance(v, dt.datetime) for v in created) > 0.5 * len(created)
    assert sum(isinstance(v, str) for v in created) >= 5

    home_db, home_x = tmp_path / "run_db", tmp_path / "run_xlsx"
    res = sdrun("full", "--source", str(db), "-q", home=home_db)
    assert res.returncode == 0, res.stdout + res.stderr
    res = sdrun("full", "--source", str(folder), "-q", home=home_x)
    assert res.returncode == 0, res.stdout + res.stderr
    report = last_report(home_x)
    assert report["steps"]["import"]["status"] == "ok"
    assert report["source"]["unchanged"] is True
    assert report["steps"]["import"]["sheets"]["tickets"]["extra_columns"] == ["Internal note"]

    expected = marts(home_db / "warehouse" / "servicedesk.duckdb")
    got = marts(home_x / "warehouse" / "servicedesk.duckdb")
    # openpyxl, which wrote this XLSX set, keeps 16 significant digits of a float (Excel keeps 17): the
    # hours in the set are the source's written so, and the import keeps exactly what the cells hold
    con = duckdb.connect(str(home_db / "warehouse" / "servicedesk.duckdb"), read_only=True)
    hours = [c[0] for c in con.execute("describe servicedesk.servicedesk.timesheets").fetchall()].index("hours")
    con.close()
    expected["timesheets"] = sorted(
        tuple(float(f"{v:.16g}") if i == hours and v is not None else v for i, v in enumerate(r))
        for r in expected["timesheets"]
    )
    for m in MARTS:
        assert len(got[m]) == len(expected[m]), m
        assert got[m] == expected[m], m
    assert len(expected["tickets"]) > 100 and expected["audit_changes"] and expected["quarantine"]


def test_prod_takes_an_imported_file_not_a_folder(tmp_path: Path) -> None:
    folder = minimal_folder(tmp_path / "xlsx")
    res = sdrun("full", "--source", str(folder), "--target", "prod", home=tmp_path)
    assert res.returncode == 2 and "sdrun import --from" in res.stderr
