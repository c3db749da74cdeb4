"""`sdrun import --into HISTORY.db` (issue 16): exports merge into one history, quarter after quarter.

The central check: two consecutive exports (the first as it stood at a date, the second holding
what happened since, tickets that changed coming again in their final state) merged into a
history give the same data, value for value and row for row, as one full export of the period,
and the same marts when both are built. Real files: SQLite exports, and XLSX workbooks written
by openpyxl (orchestrator/demo/xlsx.py, date cells and text dates as Excel holds them).
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from pytest_tests.helpers import SDRUN, sdrun

TABLES = ("tickets", "comments", "timesheets")
KEY = {"tickets": "TKT-Ticket ID", "comments": "CT-COMMENT-ID"}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split(full: Path, first: Path, second: Path) -> int:
    """Two consecutive exports of `full`: the first half of each table's rows (a ticket seventh of
    them in an earlier state: still in progress, not closed), then the second half plus those
    tickets again in their final state. Returns how many tickets changed between the two."""
    for p in (first, second):
        shutil.copyfile(full, p)
    a, b = sqlite3.connect(first), sqlite3.connect(second)
    for t in TABLES:
        n = a.execute(f"select count(*) from {t}").fetchone()[0]
        half = n // 2
        if t in KEY:  # a key exported twice in one export stays twice; never split such a pair
            k = KEY[t]
            while a.execute(f'select count(*) from {t} x join {t} y on x."{k}" = y."{k}" '
                            f"where x.rowid <= ? and y.rowid > ?", (half, half)).fetchone()[0]:
                half += 1
        a.execute(f"delete from {t} where rowid > ?", (half,))
        b.execute(f"delete from {t} where rowid <= ?", (half,))
    changed = [r[0] for r in a.execute("select rowid from tickets where rowid % 7 = 0")]
    a.execute("""update tickets set "TKT-Status" = 'In Progress', "TKT-Closed Time" = NULL,
                 "TKT-Actual Resolution Date" = NULL where rowid % 7 = 0""")
    b.execute("attach ? as f", (str(full),))
    b.execute(f"insert into tickets select * from f.tickets where rowid in ({','.join(map(str, changed))})")
    for con in (a, b):
        con.commit()
        con.close()
    return len(changed)


def same_rows(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Per table: rows (with their position) only in left, only in right."""
    con = sqlite3.connect(left)
    con.execute("attach ? as r", (str(right),))
    out = {}
    for t in TABLES:
        cols = ", ".join(f'"{c[1]}"' for c in con.execute(f"pragma main.table_info({t})"))
        only_left = con.execute(f"select count(*) from (select rowid, {cols} from main.{t} "
                                f"except select rowid, {cols} from r.{t})").fetchone()[0]
        only_right = con.execute(f"select count(*) from (select rowid, {cols} from r.{t} "
                                 f"except select rowid, {cols} from main.{t})").fetchone()[0]
        out[t] = (only_left, only_right)
    con.close()
    return out


def merge(home: Path, export: Path, history: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    r = sdrun("import", "--from", str(export), "--into", str(history), *extra, home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def exports(demo_source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int]:
    d = tmp_path_factory.mktemp("exports")
    first, second = d / "q1.db", d / "q2.db"
    changed = split(demo_source, first, second)
    return demo_source, first, second, changed


def test_two_sqlite_exports_merge_into_the_marts_of_one_full_export(
    exports: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    full, first, second, changed = exports
    history = tmp_path / "history.db"
    r1 = merge(tmp_path, first, history)
    assert "created" in r1.stdout
    r2 = merge(tmp_path, second, history)
    assert f"{changed:,} changed" in r2.stdout and f"overlap     {changed:,} ticket(s)" in r2.stdout
    assert "previous history kept as" in r2.stdout
    assert same_rows(full, history) == {t: (0, 0) for t in TABLES}
    # the history is a normal source: the same build gives the same marts, value for value
    homes = {"full": tmp_path / "h-full", "history": tmp_path / "h-history"}
    for name, source in (("full", full), ("history", history)):
        r = sdrun("full", "--source", str(source), "-q", home=homes[name])
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    con = duckdb.connect(str(homes["full"] / "warehouse" / "servicedesk.duckdb"), read_only=True)
    con.execute(f"attach '{homes['history'] / 'warehouse' / 'servicedesk.duckdb'}' as h (read_only)")
    marts = [r[0] for r in con.execute("select table_name from information_schema.tables where "
                                       "table_catalog = 'servicedesk' and table_schema = 'servicedesk'").fetchall()]
    assert {"tickets", "comments", "timesheets", "quarantine", "audit_changes", "daily_summary"} <= set(marts)
    for t in marts:
        for a, b in (("servicedesk", "h"), ("h", "servicedesk")):
            diff = con.execute(f"select count(*) from (select * from {a}.servicedesk.{t} "
                               f"except all select * from {b}.servicedesk.{t})").fetchone()[0]
            assert diff == 0, (t, a, b)
    con.close()


def test_two_xlsx_exports_merge_into_one_full_export(exports: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    """Workbooks as a service desk tool writes them: the history equals the full export imported alike."""
    from orchestrator.demo.xlsx import export_xlsx

    full, first, second, changed = exports
    folders = {}
    for name, source in (("full", full), ("q1", first), ("q2", second)):
        folders[name] = tmp_path / f"{name}_xlsx"
        export_xlsx(source, folders[name])
    whole = tmp_path / "full.db"
    r = sdrun("import", "--from", str(folders["full"]), "--out", str(whole), home=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    history = tmp_path / "history.db"
    merge(tmp_path, folders["q1"], history)
    r2 = merge(tmp_path, folders["q2"], history)
    assert f"{changed:,} changed" in r2.stdout
    assert same_rows(whole, history) == {t: (0, 0) for t in TABLES}


def test_an_export_merged_again_changes_nothing(exports: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    _, first, second, _ = exports
    history = tmp_path / "history.db"
    merge(tmp_path, first, history)
    merge(tmp_path, second, history)
    before = sha(history)
    again = merge(tmp_path, second, history)
    assert "already imported" in again.stdout and sha(history) == before
    forced = merge(tmp_path, second, history, "--force")  # merged again: every row is already there
    assert "0 new, 0 changed" in forced.stdout and "nothing changed in" in forced.stdout
    assert sha(history) == before
    rows = sqlite3.connect(history).execute("select export, counts from imports order by imported_at").fetchall()
    assert [r[0] for r in rows] == ["q1.db", "q2.db"]


def test_a_later_export_never_deletes_and_extra_columns_are_kept(
    exports: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    full, first, _, _ = exports
    history = tmp_path / "history.db"
    merge(tmp_path, full, history)
    small = tmp_path / "small.db"
    shutil.copyfile(first, small)
    con = sqlite3.connect(small)
    con.execute("delete from tickets where rowid > 10")
    con.execute('alter table tickets add column "Custom Field" TEXT')
    con.execute("""update tickets set "Custom Field" = 'kept ' || rowid, "TKT-Title" = 'renamed' where rowid <= 3""")
    con.commit()
    con.close()
    r = merge(tmp_path, small, history)
    assert "column(s) added: Custom Field" in r.stdout
    h = sqlite3.connect(history)
    counts = {t: h.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
    f = sqlite3.connect(full)
    assert counts == {t: f.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
    assert h.execute('select "TKT-Title", "Custom Field" from tickets where rowid <= 4 order by rowid').fetchall() == [
        ("renamed", "kept 1"), ("renamed", "kept 2"), ("renamed", "kept 3"),
        (f.execute('select "TKT-Title" from tickets where rowid = 4').fetchone()[0], None)]
    # the history is a normal source: its extra table and column do not stop a run
    r = sdrun("preflight", "--source", str(history), home=tmp_path)
    assert r.returncode == 0 and "extra table" not in r.stdout, r.stdout


def test_values_keep_their_type_and_bytes(tmp_path: Path) -> None:
    """A REAL 13/60 stays that REAL (a TEXT column would round it to 15 digits), an INTEGER stays one."""
    export = tmp_path / "typed.db"
    from pytest_tests.helpers import comment, ticket, timesheet, write_source

    write_source(export, tickets=[ticket("T1")], comments=[comment("C1", "T1", **{"CT-VISIBLE-CUSTOMER": 1})],
                 timesheets=[timesheet("T1", **{"TS-Hours": 13 / 60})])
    history = tmp_path / "history.db"
    merge(tmp_path, export, history)
    h = sqlite3.connect(history)
    assert h.execute('select "TS-Hours", typeof("TS-Hours") from timesheets').fetchone() == (13 / 60, "real")
    assert h.execute('select typeof("CT-VISIBLE-CUSTOMER") from comments').fetchone() == ("integer",)


def test_a_killed_import_leaves_the_previous_history(exports: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    full, first, _, _ = exports
    history = tmp_path / "history.db"
    merge(tmp_path, first, history)
    before = sha(history)
    import os

    proc = subprocess.Popen([SDRUN, "import", "--from", str(full), "--into", str(history)],
                            env={**os.environ, "SDRUN_HOME": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".history.db.*.tmp")):
        time.sleep(0.01)
    assert list(tmp_path.glob(".history.db.*.tmp")), "the merge did not start writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert sha(history) == before
    r = merge(tmp_path, full, history)  # the next import needs no repair
    assert "merged into" in r.stdout
    assert not list(tmp_path.glob(".history.db.*.tmp"))
    assert same_rows(full, history) == {t: (0, 0) for t in TABLES}


def write_csv_export(source: Path, folder: Path) -> None:
    """A reference-layout CSV export as a spreadsheet tool saves one: UTF-8 with a BOM, `;`, CRLF,
    minimal quoting (a multi-line comment is quoted), empty fields for NULL."""
    import csv

    folder.mkdir()
    con = sqlite3.connect(source)
    for t in TABLES:
        cur = con.execute(f"select * from {t} order by rowid")
        with open(folder / f"{t}.csv", "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, delimiter=";", lineterminator="\r\n")
            w.writerow([d[0] for d in cur.description])
            w.writerows(["" if v is None else v for v in row] for row in cur)
    con.close()


def test_two_csv_exports_merge_into_one_full_export(exports: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    full, first, second, changed = exports
    folders = {}
    for name, source in (("full", full), ("q1", first), ("q2", second)):
        folders[name] = tmp_path / f"{name}_csv"
        write_csv_export(source, folders[name])
    whole = tmp_path / "full.db"
    r = sdrun("import", "--from", str(folders["full"]), "--out", str(whole), home=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    history = tmp_path / "history.db"
    merge(tmp_path, folders["q1"], history)
    r2 = merge(tmp_path, folders["q2"], history)
    assert f"{changed:,} changed" in r2.stdout and "UTF-8 with BOM" in r2.stdout
    assert same_rows(whole, history) == {t: (0, 0) for t in TABLES}
    again = merge(tmp_path, folders["q2"], history)
    assert "already imported" in again.stdout


def test_a_single_workbook_merges_its_table_only(exports: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    """A service desk may export one table at a time: `--from tickets.xlsx` merges the tickets, and
    the other tables of the history stay as they were."""
    from orchestrator.demo.xlsx import export_xlsx

    full, first, second, changed = exports
    history = tmp_path / "history.db"
    merge(tmp_path, first, history)
    before = {t: sqlite3.connect(history).execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
    export_xlsx(second, tmp_path / "q2_xlsx")
    r = merge(tmp_path, tmp_path / "q2_xlsx" / "tickets.xlsx", history)
    assert f"{changed:,} changed" in r.stdout
    h = sqlite3.connect(history)
    after = {t: h.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
    n_second = sqlite3.connect(second).execute("select count(*) from tickets").fetchone()[0]
    assert after == {**before, "tickets": before["tickets"] + n_second - changed}
    # through a mapping a workbook must hold the mapped names (these are the reference ones)
    bad = sdrun("import", "--from", str(tmp_path / "q2_xlsx" / "tickets.xlsx"), "--into", str(tmp_path / "x.db"),
                "--mapping", "jira", home=tmp_path)
    assert bad.returncode == 1 and "no header row" in bad.stderr, bad.stderr
    assert "(expected mapped columns 'Issue key', 'Summary'," in bad.stderr
    assert not (tmp_path / "x.db").exists()
    # a SQLite export is in the reference layout: a mapping is refused, not ignored
    bad = sdrun("import", "--from", str(second), "--into", str(tmp_path / "x.db"), "--mapping", "jira", home=tmp_path)
    assert bad.returncode == 2 and "--mapping applies to CSV files and XLSX workbooks" in bad.stderr, bad.stderr
