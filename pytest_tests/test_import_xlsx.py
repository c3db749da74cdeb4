"""`sdrun import` and `sdrun full --source FOLDER`: XLSX exports into a SQLite source, on real files."""

from __future__ import annotations

import datetime as dt
import sqlite3
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

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
    assert "header on row 3" in res.stdout and "extra columns landed: 'Remarks'" in res.stdout
    con = sqlite3.connect(out)
    # the reference columns, then the extra one under its own header text
    assert [r[1] for r in con.execute("pragma table_info(tickets)")] == [*columns("tickets"), "Remarks"]
    assert {r[2] for r in con.execute("pragma table_info(tickets)")} == {"TEXT"}
    con.close()
    tickets = read_table(out, "tickets")
    assert tickets == [
        (1, "T1", " Printer jams ", "Closed", "p3", "Hardware", "Service Desk", "Ann", "2025-05-20 08:42:13",
         "20/05/2025 8:50", "2025-05-20 10:00:00", "2025-05-21", "Yes", "x"),
        (2, "10452", "", "Open", "P2", "N/A", "Service Desk", None, "2025-05-22 09:00:00", None, None, None, "TRUE",
         None),
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


# ------------------------------------------------------------------------------------------------
# Refused, never guessed (issue 15, cases 9 and 10): each test names what today's code did with it
# ------------------------------------------------------------------------------------------------

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml"


@dataclass(frozen=True)
class Xml:
    """A cell written as raw XML, `{r}` standing for its reference (for forms openpyxl cannot write)."""

    xml: str


def raw_xlsx(path: Path, rows: list[list[Any]], *, shared: list[str] | None = None, tail: str = "") -> Path:
    """A workbook written the way Excel writes one, part by part: text cells as shared strings when
    `shared` is given (the table starts with those strings), else inline strings; numbers as `<v>`;
    `Xml` cells verbatim; `tail` after `</sheetData>` (e.g. `<mergeCells>`)."""
    table = list(shared) if shared is not None else None
    index = {s: i for i, s in enumerate(table or [])}

    def cell(ref: str, value: Any) -> str:
        if isinstance(value, Xml):
            return value.xml.format(r=ref)
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value}</v></c>'
        if table is not None:
            if value not in index:
                index[value] = len(table)
                table.append(value)
            return f'<c r="{ref}" t="s"><v>{index[value]}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'

    from openpyxl.utils import get_column_letter

    data = "".join(
        f'<row r="{n}">'
        + "".join(cell(f"{get_column_letter(i)}{n}", v) for i, v in enumerate(row, 1) if v is not None)
        + "</row>"
        for n, row in enumerate(rows, 1)
    )
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{CT_MAIN}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{CT_MAIN}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{CT_MAIN}.styles+xml"/>'
            + (f'<Override PartName="/xl/sharedStrings.xml" ContentType="{CT_MAIN}.sharedStrings+xml"/>'
               if table is not None else "")
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>'
            '<sheet name="Tickets" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{REL_NS}/styles" Target="styles.xml"/>'
            + (f'<Relationship Id="rId3" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
               if table is not None else "")
            + "</Relationships>"
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{MAIN_NS}"><fonts count="1"><font/></fonts>'
            '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
            '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
            '<cellXfs count="1"><xf numFmtId="0" xfId="0"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
        ),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN_NS}"><sheetData>{data}</sheetData>{tail}</worksheet>',
    }  # fmt: skip
    if table is not None:
        parts["xl/sharedStrings.xml"] = (
            f'<sst xmlns="{MAIN_NS}" uniqueCount="{len(table)}">'
            + "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in table)
            + "</sst>"
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text)
    return path


def ticket_row(n: int, **over: Any) -> list[Any]:
    """The 12 reference cells of one ticket, `over` by column name."""
    row = dict(zip(columns("tickets"), [
        f"T{n}", f"Ticket {n}", "Open", "P3", "Software", "Service Desk", "Ann", "2025-05-20 08:00:00",
        None, None, None, "Yes",
    ], strict=True))  # fmt: skip
    row.update(over)
    return list(row.values())


def import_tickets(tmp_path: Path, tickets: Path, env: dict[str, str] | None = None) -> tuple[Any, Path]:
    """`sdrun import` of `tickets` with the minimal comments and timesheets workbooks."""
    folder = minimal_folder(tmp_path / "xlsx")
    out = tmp_path / "source.db"
    res = sdrun("import", "--from", str(folder), "--tickets", str(tickets), "--out", str(out), home=tmp_path, env=env)
    return res, out


def refusal(res: Any, out: Path) -> str:
    """The one `Error:` line of an import refused with exit 1 that wrote nothing, not even its temporary."""
    assert res.returncode == 1, res.stdout + res.stderr
    err = res.stderr.strip()
    assert err.startswith("Error: ") and err.count("\n") == 0, err
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*")), "the output or its temporary is left"
    return err


def landed(res: Any, out: Path, column: str = "*") -> list[tuple[Any, ...]]:
    assert res.returncode == 0, res.stdout + res.stderr
    con = sqlite3.connect(out)
    try:
        return con.execute(f"select {column} from tickets order by rowid").fetchall()
    finally:
        con.close()


def test_a_repeated_header_row_is_refused(tmp_path: Path) -> None:
    """Today: the repeated header lands as a ticket whose id is 'TKT-Ticket ID', exit 0."""
    names = columns("tickets")
    again = [f" {c.upper()}  " for c in names]  # normalised as header matching does: trimmed, any case
    moved = names[6:] + names[:6]  # a second export with its columns in another order
    older = names[:8]  # above the header: an older export's header (8 of the 12 names)
    rows = [older, [], names, ticket_row(1), ticket_row(2), again, ticket_row(3), moved, ticket_row(4)]
    res, out = import_tickets(tmp_path, write_workbook(tmp_path / "t.xlsx", rows, sheet="Tickets"))
    err = refusal(res, out)
    assert "t.xlsx [Tickets]: rows 1, 6, 8 repeat the header row (row 3)" in err, err
    assert "12 of the 12 column names" in err and "remove them" in err

    # a ticket may hold a column name or two; a row is a header only with at least half of them
    odd = ticket_row(2, **{"TKT-Title": "TKT-Status", "TKT-Category": " tkt-team ", "TKT-Team": "TKT-Title"})
    rows = [names, ticket_row(1), odd, ticket_row(3, **{"TKT-Ticket ID": "TKT-Ticket ID"})]
    res, out = import_tickets(tmp_path / "ok", write_workbook(tmp_path / "ok.xlsx", rows))
    assert landed(res, out, '"TKT-Ticket ID", "TKT-Title"') == [("T1", "Ticket 1"), ("T2", "TKT-Status"),
                                                                ("TKT-Ticket ID", "Ticket 3")]  # fmt: skip


def test_formulas_without_a_cached_value_are_refused(tmp_path: Path) -> None:
    """openpyxl writes formulas with no cached value (`<f>…</f><v/>`). Today: they land as NULL, exit 0."""
    names = columns("tickets")
    rows = [[*names, "Remarks"]]
    for n in range(1, 13):
        rows.append([*ticket_row(n, **{"TKT-SLA Met": f'=IF(H{n + 1}<>"","Yes","No")'}), f"=LEN(B{n + 1})"])
    rows.insert(5, ["=1+1"])  # a formula in a landed column of a row otherwise blank
    res, out = import_tickets(tmp_path, write_workbook(tmp_path / "f.xlsx", rows, sheet="Tickets"))
    err = refusal(res, out)
    # column M, an extra column, is landed too: its formulas would land NULL as well
    assert "f.xlsx [Tickets]: formula cells without a cached value (L2, M2, L3, M3, L4, ... 25 in all): " in err, err
    assert "open and save the workbook in Excel or LibreOffice so the values are stored, or paste values" in err

    # a column that is not landed (a second 'Remarks') may hold them
    rows = [[*names, "Remarks", "remarks"], *([*ticket_row(n), "x", f"=LEN(B{n + 1})"] for n in range(1, 4))]
    res, out = import_tickets(tmp_path / "ok", write_workbook(tmp_path / "ok.xlsx", rows, sheet="Tickets"))
    assert landed(res, out, '"Remarks"') == [("x",)] * 3


def test_formula_cells_land_their_cached_value(tmp_path: Path) -> None:
    """As Excel and LibreOffice write formulas: the cached value lands (numbers, text, '' from a formula
    giving "", booleans, error values as their text), shared formulas included. A shared formula's
    cell with no cached value is refused (today: NULL, exit 0)."""
    names = columns("tickets")
    k, l_ = names.index("TKT-Closed Time"), names.index("TKT-SLA Met")

    def row(n: int, closed: Xml, sla: Xml) -> list[Any]:
        cells = ticket_row(n)
        cells[k], cells[l_] = closed, sla
        return cells

    rows = [
        names,
        row(1, Xml('<c r="{r}"><f t="shared" ref="K2:K6" si="0">H2+1</f><v>45800.5</v></c>'),
            Xml('<c r="{r}" t="str"><f>IF(K2&gt;0,"Yes","No")</f><v>Yes</v></c>')),
        row(2, Xml('<c r="{r}"><f t="shared" si="0"/><v>45801</v></c>'),
            Xml('<c r="{r}" t="str"><f>""</f><v></v></c>')),
        row(3, Xml('<c r="{r}"><f t="shared" si="0"/><v>7</v></c>'),
            Xml('<c r="{r}" t="e"><f>VLOOKUP(A4,X:Y,2,0)</f><v>#N/A</v></c>')),
        row(4, Xml('<c r="{r}"><f t="shared" si="0"/><v>0</v></c>'),
            Xml('<c r="{r}" t="b"><f>K5=0</f><v>1</v></c>')),
        row(5, Xml('<c r="{r}" t="e"><v>#REF!</v></c>'), Xml('<c r="{r}" t="str"><f>"No"</f><v>No</v></c>')),
    ]  # fmt: skip
    res, out = import_tickets(tmp_path, raw_xlsx(tmp_path / "cached.xlsx", rows, shared=[]))
    assert landed(res, out, '"TKT-Closed Time", "TKT-SLA Met"') == [
        ("45800.5", "Yes"), ("45801", ""), ("7", "#N/A"), ("0", "TRUE"), ("#REF!", "No"),
    ]  # fmt: skip

    rows.append(row(6, Xml('<c r="{r}"><f t="shared" si="0"/></c>'), Xml('<c r="{r}" t="str"><v>No</v></c>')))
    res, out = import_tickets(tmp_path / "uncached", raw_xlsx(tmp_path / "uncached.xlsx", rows, shared=[]))
    err = refusal(res, out)
    assert "uncached.xlsx [Tickets]: a formula cell without a cached value (K7): open and save" in err, err


def test_merged_cells_in_the_data_are_refused(tmp_path: Path) -> None:
    """openpyxl's merge_cells, as a person merges cells in Excel. Today: B5 and B6 land as NULL, exit 0.
    A merge in an extra column is refused too (it is landed); a merged title above the header is fine."""

    def workbook(path: Path, merges: list[str]) -> Path:
        wb = Workbook()
        ws = wb.active
        ws.title = "Tickets"
        ws.append(["Service desk export, May 2025"])
        ws.append([*columns("tickets"), "Remarks"])
        for n in range(1, 7):
            ws.append([*ticket_row(n), "see B" if n == 1 else None])
        for rng in ["A1:F1", *merges]:
            ws.merge_cells(rng)
        wb.save(path)
        return path

    res, out = import_tickets(tmp_path, workbook(tmp_path / "m.xlsx", ["B4:B6", "C8:D8", "M3:M5"]))
    err = refusal(res, out)
    assert "m.xlsx [Tickets]: merged cells B4:B6, M3:M5, C8:D8 in the data (columns B 'TKT-Title', " in err, err
    assert "C 'TKT-Status', " in err
    assert "D 'TKT-Priority', M 'Remarks'): a merged range holds its value in its first cell only" in err, err
    assert "A1:F1" not in err

    res, out = import_tickets(tmp_path / "ok", workbook(tmp_path / "ok.xlsx", []))
    assert [r[0] for r in landed(res, out, '"TKT-Title"')] == [f"Ticket {n}" for n in range(1, 7)]


def test_a_duplicated_reference_header_is_refused(tmp_path: Path) -> None:
    """Today: the second 'TKT-Status' column (M) is dropped without a word, exit 0."""
    names = columns("tickets")
    rows = [[*names, " tkt-status", "Remarks"], [*ticket_row(1), "Closed", "x"]]
    res, out = import_tickets(tmp_path, write_workbook(tmp_path / "d.xlsx", rows, sheet="Tickets"))
    err = refusal(res, out)
    assert "d.xlsx [Tickets] (header on row 1): columns C and M are both headed 'TKT-Status': only one" in err, err

    # the first of two extra columns of one name (case-insensitively) lands, the second is named
    rows = [[*names, "Remarks", "remarks"], [*ticket_row(1), "x", "y"]]
    res, out = import_tickets(tmp_path / "ok", write_workbook(tmp_path / "ok.xlsx", rows))
    assert landed(res, out, '"TKT-Status", "Remarks"') == [("Open", "x")]
    assert ("extra columns landed: 'Remarks'; not landed: 'remarks' (column N: name already landed or reserved)"
            in res.stdout), res.stdout


def test_a_cell_text_over_excels_limit_is_refused(tmp_path: Path) -> None:
    """Excel keeps at most 32,767 characters in a cell. Today: a longer string lands (and one of 2 GB
    ends in MemoryError)."""
    names = columns("tickets")
    at_limit, escaped = "x" * 32_767, "_x000D_\n" * 4_000 + "y" * 24_767  # Excel counts an escape as one
    rows = [names, ticket_row(1, **{"TKT-Title": at_limit}), ticket_row(2, **{"TKT-Title": escaped})]
    res, out = import_tickets(tmp_path, raw_xlsx(tmp_path / "ok.xlsx", rows, shared=["pad"]))
    assert landed(res, out, 'length("TKT-Title")') == [(32_767,), (len(escaped),)]

    rows.append(ticket_row(3, **{"TKT-Title": "z" * 32_768}))
    book = raw_xlsx(tmp_path / "long_shared.xlsx", rows, shared=["pad"])
    with zipfile.ZipFile(book) as z:
        table = [si.findtext(f"{{{MAIN_NS}}}t") or "" for si in ElementTree.fromstring(z.read("xl/sharedStrings.xml"))]
    index = table.index("z" * 32_768)
    err = refusal(*import_tickets(tmp_path / "s", book))
    assert f"long_shared.xlsx: xl/sharedStrings.xml: shared string {index} (counted from 0" in err, err
    assert "holds more than 32,767 characters, the most Excel keeps in a cell" in err

    rows[-1] = ticket_row(3, **{"TKT-Title": "z" * 40_000})
    res, out = import_tickets(tmp_path / "i", raw_xlsx(tmp_path / "long_inline.xlsx", rows))
    err = refusal(res, out)
    assert "long_inline.xlsx [Tickets]: cell B4 holds more than 32,767 characters" in err, err


def test_the_shared_strings_budget(tmp_path: Path) -> None:
    """SDRUN_XLSX_MAX_MB bounds the memory of a workbook's shared strings. Today: no bound (5 million
    short strings in a 266 KB workbook took 826 MB)."""
    names = columns("tickets")
    padding = [f"unused string {i:08d}" for i in range(50_000)]  # 1.3 MB of text, 0.4 MB of offsets
    book = raw_xlsx(tmp_path / "big.xlsx", [names, ticket_row(1)], shared=padding)
    res, out = import_tickets(tmp_path / "small", book, env={"SDRUN_XLSX_MAX_MB": "1"})
    err = refusal(res, out)
    assert "big.xlsx: its shared strings take more than 1 MB of memory" in err, err
    assert "the bound SDRUN_XLSX_MAX_MB sets; raise SDRUN_XLSX_MAX_MB if the workbook is genuine" in err

    res, out = import_tickets(tmp_path / "default", book)
    assert landed(res, out, '"TKT-Title"') == [("Ticket 1",)]

    res, out = import_tickets(tmp_path / "bad", book, env={"SDRUN_XLSX_MAX_MB": "lots"})
    assert res.returncode == 2 and "SDRUN_XLSX_MAX_MB='lots'" in res.stderr


def declare_size(path: Path, member: str, size: int) -> None:
    """Make the zip declare `size` bytes uncompressed for `member` (local header and central directory)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        offset = z.getinfo(member).header_offset
    struct.pack_into("<I", data, offset + 22, size)
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + name_len] == member.encode():
            struct.pack_into("<I", data, pos + 24, size)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(data)


def test_xml_parts_are_bounded_by_their_declared_and_real_size(tmp_path: Path) -> None:
    """SDRUN_XLSX_MAX_XML_MB bounds a sheet's (and the shared strings') XML, by the size the zip
    declares. Today: no bound; a zip declaring 100 MB for a 2 KB sheet is read as if nothing were amiss."""
    rows = [columns("tickets"), ticket_row(1)]
    book = raw_xlsx(tmp_path / "declared.xlsx", rows)
    declare_size(book, "xl/worksheets/sheet1.xml", 100 * 2**20)
    res, out = import_tickets(tmp_path / "declared", book, env={"SDRUN_XLSX_MAX_XML_MB": "64"})
    err = refusal(res, out)
    assert "declared.xlsx: xl/worksheets/sheet1.xml expands to 100.0 MB (as the zip declares), over the 64 MB " in err
    assert "bound SDRUN_XLSX_MAX_XML_MB sets" in err, err

    # declaring less than it holds: zipfile stops at the declared size and its CRC check fails
    book = raw_xlsx(tmp_path / "less.xlsx", rows)
    declare_size(book, "xl/worksheets/sheet1.xml", 100)
    err = refusal(*import_tickets(tmp_path / "less", book))
    assert "less.xlsx: unreadable XLSX workbook (BadZipFile: Bad CRC-32 for file 'xl/worksheets/sheet1.xml')" in err


def test_a_stream_longer_than_declared_is_refused(tmp_path: Path) -> None:
    """Bytes are counted as they stream: a reader returning more than the zip declares is refused
    (Python's zipfile stops at the declared size; this guards the count itself)."""
    from orchestrator.core.errors import SourceError
    from orchestrator.source import xlsx

    book = raw_xlsx(tmp_path / "t.xlsx", [columns("tickets"), ticket_row(1)])
    with zipfile.ZipFile(book) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
        real = z.open  # a zip member that yields one more byte than its entry declares

        def longer(name: Any, *a: Any, **kw: Any) -> Any:
            import io

            return io.BytesIO(real(name, *a, **kw).read() + b" ")

        z.open = longer  # type: ignore[method-assign]
        with pytest.raises(SourceError, match=r"holds more than the [0-9,]+ bytes its zip entry declares"):
            list(xlsx._stream(z, info.filename, book, 64))


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (Xml('<c r="{r}" t="s"><v>-1</v></c>'), "cell B2 refers to shared string -1, but the workbook has "),
        (Xml('<c r="XFE2"><v>1</v></c>'), "cell reference 'XFE2' is not an Excel cell (columns A to XFD)"),
    ],
    ids=["negative-shared-string", "beyond-XFD"],
)
def test_damaged_cell_references_are_refused(tmp_path: Path, cell: Xml, message: str) -> None:
    """Today: a shared string -1 lands the table's last string, and a cell beyond XFD is read on."""
    rows = [columns("tickets"), ticket_row(1, **{"TKT-Title": cell})]
    res, out = import_tickets(tmp_path, raw_xlsx(tmp_path / "ref.xlsx", rows, shared=["last"]))
    assert f"ref.xlsx [Tickets]: {message}" in refusal(res, out)


# ------------------------------------------------------------------------------------------------
# Other tools' column names (--mapping) and extra columns, as for CSV (issue 16)
# ------------------------------------------------------------------------------------------------

SERVICENOW = ["number", "short_description", "caller_id", "state", "priority", "category", "assignment_group",
              "assigned_to", "opened_at", "resolved_at", "closed_at", "made_sla"]  # fmt: skip


def servicenow_workbook(path: Path, rows: list[list[Any]], header: list[str] = SERVICENOW) -> Path:
    """An incident list as ServiceNow's Export > Excel writes it: one sheet 'Page 1', the header on
    row 1 (its own field names, a field the mapping does not name among them), date cells."""
    return write_workbook(path, [header, *rows], sheet="Page 1")


def incident(n: int, **over: Any) -> list[Any]:
    row = dict(zip(SERVICENOW, [
        f"INC00{n}", f"Incident {n}", f"Caller {n}", "Closed", "3 - Moderate", "Network", "Service Desk", "Ann",
        dt.datetime(2024, 1, n, 9, 30), dt.datetime(2024, 1, n, 11, 0), None, True,
    ], strict=True))  # fmt: skip
    row.update(over)
    return list(row.values())


def tickets_of(db: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("select * from tickets order by rowid")]
    finally:
        con.close()


def test_servicenow_workbook_through_the_mapping(tmp_path: Path) -> None:
    """`--mapping servicenow` on a single workbook (named as ServiceNow names it): the mapped columns
    land under the reference names, one mapped to null lands NULL, the unmapped field lands as an extra
    column, and the tables the mapping does not map land empty; with --out and with --into."""
    src = servicenow_workbook(tmp_path / "incident.xlsx", [incident(1), incident(2, assigned_to=None)])
    before = src.read_bytes()
    out = tmp_path / "source.db"
    res = sdrun("import", "--from", str(src), "--mapping", "servicenow", "--out", str(out), home=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Imported 1 sheet(s) through mapping servicenow into" in res.stdout
    assert "from incident.xlsx [Page 1], header on row 1" in res.stdout
    assert "extra columns landed: 'caller_id'" in res.stdout and "comments    no workbook: lands empty" in res.stdout
    t = tickets_of(out)
    assert list(t[0]) == [*columns("tickets"), "caller_id"]
    assert t[0]["TKT-Ticket ID"] == "INC001" and t[0]["TKT-Title"] == "Incident 1" and t[0]["TKT-Status"] == "Closed"
    assert t[0]["TKT-Created Time"] == "2024-01-01 09:30:00"
    assert t[0]["TKT-Actual Resolution Date"] == "2024-01-01 11:00:00"
    assert t[0]["TKT-Actual Response Date"] is None  # mapped to null
    assert t[0]["TKT-SLA Met"] == "TRUE" and t[0]["caller_id"] == "Caller 1" and t[1]["TKT-Assigned To"] is None
    assert read_table(out, "comments") == [] and read_table(out, "timesheets") == []

    history = tmp_path / "history.db"
    res = sdrun("import", "--from", str(src), "--mapping", "servicenow", "--into", str(history), home=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Read 1 sheet(s) through mapping servicenow in" in res.stdout
    assert "tickets             2 rows in the export: 2 new" in res.stdout
    assert tickets_of(history) == t
    assert src.read_bytes() == before  # the export is never modified


def test_jira_workbook_below_a_title_row(tmp_path: Path) -> None:
    """`--mapping jira` on a workbook with a title row, the Jira names in another case and spacing, and
    a repeated multi-valued field (Component/s): the first lands as an extra column, the repeat is named."""
    header = ["Issue key", "Issue id", " summary ", "Status", "Priority", "Issue  Type", "Assignee", "Reporter",
              "Created", "Resolved", "Component/s", "Component/s"]  # fmt: skip
    rows = [
        ["Jira export, 2 issues"],
        header,
        ["SD-101", 10101, "Login fails", "Done", "High", "Incident", "René", "Ana",
         dt.datetime(2024, 2, 1, 9, 5), dt.datetime(2024, 2, 2, 10, 0), "Auth", "SSO"],
        ["SD-102", 10102, "Mail quota", "To Do", "Low", "Service Request", None, "Björn",
         dt.datetime(2024, 2, 3, 8, 0), None, "Mail", None],
    ]  # fmt: skip
    src = write_workbook(tmp_path / "tickets_jira.xlsx", rows, sheet="Issues")
    history = tmp_path / "history.db"
    res = sdrun("import", "--from", str(src), "--mapping", "jira", "--into", str(history), home=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "header on row 2" in res.stdout
    assert "extra columns landed: 'Issue id', 'Reporter', 'Component/s'" in res.stdout
    assert "not landed: 'Component/s' (column L: name already landed or reserved)" in res.stdout
    t = tickets_of(history)
    assert [r["TKT-Ticket ID"] for r in t] == ["SD-101", "SD-102"]
    assert t[0]["TKT-Title"] == "Login fails" and t[0]["TKT-Category"] == "Incident"
    assert t[0]["TKT-Assigned To"] == "René"
    assert t[0]["TKT-Created Time"] == "2024-02-01 09:05:00"
    assert t[0]["TKT-Actual Resolution Date"] == "2024-02-02 10:00:00"
    assert t[0]["TKT-Team"] is None and t[0]["TKT-Closed Time"] is None and t[0]["TKT-SLA Met"] is None  # null
    assert t[0]["Issue id"] == "10101" and t[0]["Reporter"] == "Ana" and t[0]["Component/s"] == "Auth"
    assert t[1]["TKT-Assigned To"] is None and t[1]["Reporter"] == "Björn"


def test_a_missing_mapped_column_is_named(tmp_path: Path) -> None:
    """A workbook lacking a column the mapping names: exit 1, the reference and the export column named."""
    header = [c for c in SERVICENOW if c != "opened_at"]
    src = servicenow_workbook(tmp_path / "incident.xlsx", [[v for c, v in zip(SERVICENOW, incident(1), strict=True)
                                                             if c != "opened_at"]], header)
    out = tmp_path / "source.db"
    res = sdrun("import", "--from", str(src), "--mapping", "servicenow", "--out", str(out), home=tmp_path)
    err = refusal(res, out)
    assert "incident.xlsx: sheet 'Page 1' (header on row 1) lacks mapped column(s) 'TKT-Created Time' " in err, err
    assert "(export column 'opened_at')" in err
    history = tmp_path / "history.db"
    res = sdrun("import", "--from", str(src), "--mapping", "servicenow", "--into", str(history), home=tmp_path)
    assert res.returncode == 1 and "(export column 'opened_at')" in res.stderr and not history.exists()


def test_extra_columns_reach_the_history_and_stay(tmp_path: Path) -> None:
    """A folder's extra column ('Remarks') lands in the history; a later export without it keeps the
    history's values, and its own rows get NULL there."""
    first = minimal_folder(tmp_path / "q1")
    history = tmp_path / "history.db"
    res = sdrun("import", "--from", str(first), "--into", str(history), home=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "extra columns landed: 'Remarks'" in res.stdout
    assert [(r["TKT-Ticket ID"], r["Remarks"]) for r in tickets_of(history)] == [("T1", "x"), ("10452", None)]

    second = tmp_path / "q2"
    second.mkdir()
    write_workbook(second / "tickets.xlsx", [columns("tickets"), ticket_row(1, **{"TKT-Status": "Reopened"}),
                                             ticket_row(3)])
    res = sdrun("import", "--from", str(second), "--into", str(history), home=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 new, 1 changed" in res.stdout
    t = tickets_of(history)
    assert [(r["TKT-Ticket ID"], r["TKT-Status"], r["Remarks"]) for r in t] == [
        ("T1", "Reopened", "x"), ("10452", "Open", None), ("T3", "Open", None)]


def test_rows_with_values_in_extra_columns_only_are_skipped_and_counted(tmp_path: Path) -> None:
    """A row without a value in any reference column is blank (a footer note, say), even with a value
    in an extra column: it is skipped, and counted apart."""
    rows = [[*columns("tickets"), "Remarks"], [*ticket_row(1), "x"], [None] * 12 + ["exported by Ann"], []]
    res, out = import_tickets(tmp_path, write_workbook(tmp_path / "t.xlsx", rows))
    assert landed(res, out, '"TKT-Ticket ID", "Remarks"') == [("T1", "x")]
    assert "1 blank rows skipped (1 with values in extra columns only)" in res.stdout, res.stdout
