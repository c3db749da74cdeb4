"""`sdrun import --from FILE.csv|FOLDER [--mapping NAME|FILE.yml] --into HISTORY.db`: CSV exports,
in other tools' column names too, land as text exactly as written and merge into a history.

Fixtures: pytest_tests/fixtures/csv/ (written for these tests: ServiceNow- and Jira-style exports,
reference-layout files) and the real BPI Challenge 2013 slice in
pytest_tests/fixtures/realdata/bpic2013_problems/ (Ward Steeman (2013), BPI Challenge 2013,
4TU.ResearchData; Volvo IT; see its README.md for citation and licence).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from orchestrator.source.contract import expected_tables
from orchestrator.source.csv_export import detect_encoding

from .helpers import sdrun

FIXTURES = Path(__file__).parent / "fixtures"
CSV = FIXTURES / "csv"
BPIC2013 = FIXTURES / "realdata" / "bpic2013_problems" / "closed_problems_head300.csv"


def rows(db: Path, table: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(f'select * from "{table}" order by rowid')]
    finally:
        con.close()


def ok(res: Any) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return str(res.stdout)


def refused(res: Any, history: Path) -> str:
    assert res.returncode in (1, 2), res.stdout + res.stderr
    err = str(res.stderr).strip()
    assert err.startswith("Error: ") and err.count("\n") == 0, err
    assert not history.exists(), "a refused first import must not create the history"
    return err


def test_servicenow_export_through_the_shipped_mapping(tmp_path: Path) -> None:
    src = CSV / "incident_servicenow.csv"
    assert src.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in src.read_bytes()
    history = tmp_path / "history.db"
    out = ok(sdrun("import", "--from", str(src), "--mapping", "servicenow", "--into", str(history), home=tmp_path))
    assert "UTF-8 with BOM, delimiter ','" in out and "through mapping servicenow" in out
    assert "extra columns landed: 'caller_id', 'description'" in out
    assert "comments    no file: lands empty" in out
    t = rows(history, "tickets")
    assert [r["TKT-Ticket ID"] for r in t] == ["INC0010001", "INC0010002", "INC0010003"]
    first, second, third = t
    assert first["TKT-Title"] == "VPN drops, every hour"
    assert first["description"] == 'User reports:\r\n"tunnel closed" after 60 min\r\nSecond line'
    assert first["TKT-SLA Met"] == "true" and first["TKT-Team"] == "Network"
    assert first["TKT-Actual Response Date"] is None  # mapped to null
    assert second["TKT-Title"] == "  Printer jam  "  # not trimmed
    assert second["TKT-Assigned To"] is None and second["description"] is None  # empty and "" are NULL
    assert third["TKT-Title"] == "Café menu app – crash" and third["caller_id"] == "Zoë Ångström"
    assert third["TKT-Created Time"] == "04/01/2024 16:30"  # no date guessing
    assert rows(history, "comments") == [] and rows(history, "timesheets") == []
    again = ok(sdrun("import", "--from", str(src), "--mapping", "servicenow", "--into", str(history), "--force",
                     home=tmp_path))
    assert "3 rows in the export: 0 new, 0 changed, 3 unchanged" in again


def test_jira_export_in_cp1252_below_a_title_row(tmp_path: Path) -> None:
    src = tmp_path / "jira.csv"
    src.write_bytes((CSV / "jira_issues_cp1252.csv").read_bytes())
    assert b"\x93fails\x94" in src.read_bytes()  # cp1252 quotes, not UTF-8
    history = tmp_path / "history.db"
    out = ok(sdrun("import", "--from", str(src), "--mapping", "jira", "--into", str(history), home=tmp_path))
    assert "from jira.csv: cp1252, delimiter ',', header on line 3" in out
    assert "'Component/s' (column 12: name already landed or reserved)" in out
    t = rows(history, "tickets")
    assert [r["TKT-Ticket ID"] for r in t] == ["SD-101", "SD-102"]
    assert t[0]["TKT-Title"] == "Login “fails” for François" and t[0]["TKT-Assigned To"] == "René Müller"
    assert t[0]["TKT-Created Time"] == "01/Feb/24 9:05 AM" and t[0]["TKT-Category"] == "Incident"
    assert t[0]["Component/s"] == "Auth" and t[0]["Reporter"] == "Ana" and t[0]["Issue id"] == "10101"
    assert t[1]["TKT-Title"] == "Mail quota…" and t[1]["TKT-Assigned To"] is None and t[1]["Reporter"] == "Björn"
    assert t[0]["TKT-Team"] is None and t[0]["TKT-Closed Time"] is None


def test_a_missing_mapped_column_is_named(tmp_path: Path) -> None:
    text = (CSV / "incident_servicenow.csv").read_text(encoding="utf-8-sig").replace("short_description", "title")
    src = tmp_path / "incident.csv"
    src.write_text(text, encoding="utf-8", newline="")
    history = tmp_path / "history.db"
    err = refused(sdrun("import", "--from", str(src), "--mapping", "servicenow", "--into", str(history),
                        home=tmp_path), history)
    assert "incident.csv (header on line 1): the header lacks the mapped column(s) 'TKT-Title' (export column " \
           "'short_description')" in err


def test_a_mapping_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yml"
    bad.write_text("name: mine\ntables:\n  tickets:\n    TKT-Ticket ID: id\n    TKT-Titel: title\n")
    history = tmp_path / "history.db"
    err = refused(sdrun("import", "--from", str(CSV / "incident_servicenow.csv"), "--mapping", str(bad),
                        "--into", str(history), home=tmp_path), history)
    assert "invalid mapping" in err and "'TKT-Titel' not reference column(s) of tickets" in err
    assert "does not name reference column(s) 'TKT-Title', 'TKT-Status'" in err
    err = refused(sdrun("import", "--from", str(CSV / "incident_servicenow.csv"), "--mapping", "remedy",
                        "--into", str(history), home=tmp_path), history)
    assert "no such shipped mapping (shipped: jira, servicenow)" in err


def test_real_cp1252_semicolon_export_lands_names_exactly(tmp_path: Path) -> None:
    """BPI Challenge 2013 (Volvo IT), cp1252, ';', CRLF, unquoted, through a user's mapping."""
    raw = BPIC2013.read_bytes()
    assert b"Bj\xf6rn" in raw and b"J\xfcri" in raw
    mapping = tmp_path / "vinst.yml"
    mapping.write_text(
        "name: vinst\ndescription: Volvo IT VINST problem log\ntables:\n  tickets:\n"
        "    TKT-Ticket ID: Problem Number\n    TKT-Title: null\n    TKT-Status: Problem Status\n"
        "    TKT-Priority: Problem Latest Impact\n    TKT-Category: Product\n    TKT-Team: Problem Involved Owner ST\n"
        "    TKT-Assigned To: Problem Involved Action Owner First Name\n"
        "    TKT-Created Time: Problem Change Date+Time\n    TKT-Actual Response Date: null\n"
        "    TKT-Actual Resolution Date: null\n    TKT-Closed Time: null\n    TKT-SLA Met: null\n"
    )
    history = tmp_path / "history.db"
    out = ok(sdrun("import", "--from", str(BPIC2013), "--mapping", str(mapping), "--into", str(history),
                   home=tmp_path))
    assert "300 rows  from closed_problems_head300.csv: cp1252, delimiter ';', header on line 1" in out
    t = rows(history, "tickets")
    assert len(t) == 300
    lines = raw.decode("cp1252").split("\r\n")[1:301]
    assert [r["TKT-Assigned To"] for r in t] == [line.split(";")[11] or None for line in lines]
    assert [r["Problem Sub Status"] for r in t] == [line.split(";")[2] or None for line in lines]
    names = {r["TKT-Assigned To"] for r in t}
    assert {"Björn", "Jüri"} <= names
    assert t[0]["TKT-Ticket ID"] == "1-109135791" and t[0]["TKT-Created Time"] == "2006-01-11T15:49:42+01:00"


def test_reference_layout_csv_folder_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ("tickets_reference.csv", "comments_reference.csv"):
        (folder / name).write_bytes((CSV / name).read_bytes())
    out_db = tmp_path / "source.db"
    out = ok(sdrun("import", "--from", str(folder), "--out", str(out_db), home=tmp_path))
    assert "delimiter '|'" in out and "delimiter tab" in out and "timesheets  no file: lands empty" in out
    specs = {s.name: s for s in expected_tables()}
    for table, name, delim in (("tickets", "tickets_reference.csv", "|"), ("comments", "comments_reference.csv", "\t")):
        lines = (CSV / name).read_text(encoding="utf-8").splitlines()
        header = [h.strip('"') for h in lines[0].split(delim)]
        landed = rows(out_db, table)
        assert list(landed[0])[: len(specs[table].columns)] == specs[table].columns
        unquoted = [line.split(delim) for line in lines[1:] if '"' not in line]
        assert unquoted, "the fixture has unquoted rows to compare"
        for want in unquoted:
            got = next(r for r in landed if r[header[0]] == want[0])
            assert [got[h] for h in header] == [v or None for v in want]
    t = rows(out_db, "tickets")
    assert t[0]["TKT-Title"] == " padded title " and t[0]["Region"] == "EU"
    assert t[1]["TKT-Title"] == "a|pipe" and t[1]["TKT-Created Time"] == "01.03.2024"
    history = tmp_path / "history.db"
    ok(sdrun("import", "--from", str(folder), "--into", str(history), home=tmp_path))
    assert rows(history, "tickets") == t and rows(history, "comments") == rows(out_db, "comments")


def test_unreadable_csv_files_get_one_clear_error(tmp_path: Path) -> None:
    history = tmp_path / "history.db"
    binary = tmp_path / "tickets.csv"
    binary.write_bytes(b"TKT-Ticket ID,TKT-Title\n\x00\x01\x02\xff")
    err = refused(sdrun("import", "--from", str(binary), "--into", str(history), home=tmp_path), history)
    assert "tickets.csv: not a CSV text file (binary content: a NUL byte)" in err
    noheader = tmp_path / "tickets_x.csv"
    noheader.write_text("a,b,c\n1,2,3\n")
    err = refused(sdrun("import", "--from", str(noheader), "--into", str(history), home=tmp_path), history)
    assert "tickets_x.csv: no header row found" in err
    ragged = tmp_path / "tickets_r.csv"
    text = (CSV / "tickets_reference.csv").read_text()
    ragged.write_text(text + "T-3|only|three\nT-4|x\n")
    err = refused(sdrun("import", "--from", str(ragged), "--into", str(history), home=tmp_path), history)
    assert "ragged rows: 13 fields in the header, a different number in the row(s) starting on line(s) 4, 5" in err


def test_encodings_are_told_apart(tmp_path: Path) -> None:
    cases = {
        "UTF-8 with BOM": b"\xef\xbb\xbfTKT-Title\nZo\xc3\xab\n",
        "UTF-8": b"TKT-Title\nZo\xc3\xab\n",
        "cp1252": b"TKT-Title\n\x80 5 \x96 G\xf6ran\n",  # euro sign, en dash: only cp1252 has them
        "latin-1": b"TKT-Title\nG\xf6ran \x81\n",  # 0x81 is undefined in cp1252
    }
    for i, (label, data) in enumerate(cases.items()):
        path = tmp_path / f"tickets{i}.csv"
        path.write_bytes(data)
        got = {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8"}.get(detect_encoding(path), detect_encoding(path))
        assert got == label, (label, got)
    history = tmp_path / "history.db"
    err = refused(sdrun("import", "--tickets", str(tmp_path / "tickets2.csv"), "--into", str(history),
                        home=tmp_path), history)
    assert "tickets2.csv (header on line 1): the header lacks the reference column(s) 'TKT-Ticket ID', " in err
    cols = [c for s in expected_tables() if s.name == "tickets" for c in s.columns]
    full = tmp_path / "tickets_cp1252.csv"
    full.write_bytes(";".join(cols).encode() + b"\r\nT-1;\x80 5 \x96 G\xf6ran" + b";" * (len(cols) - 2) + b"\r\n")
    out = ok(sdrun("import", "--tickets", str(full), "--into", str(history), home=tmp_path))
    assert "from tickets_cp1252.csv: cp1252, delimiter ';'" in out
    assert [(r["TKT-Ticket ID"], r["TKT-Title"], r["TKT-SLA Met"]) for r in rows(history, "tickets")] == [
        ("T-1", "€ 5 – Göran", None)]
    assert out.startswith("Read CSV export in ") and ".landing." not in out
