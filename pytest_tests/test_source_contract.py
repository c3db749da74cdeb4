"""What the source check refuses, with one line that says what to do (issue 15, cases 6 and 14):
a write-ahead log holding commits the file does not, a near-miss column name, a column named like
the one sdrun adds, and a password-protected workbook. None of these starts a load."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import sdrun


def copy_of(demo_source: Path, tmp_path: Path) -> Path:
    out = tmp_path / "export.db"
    shutil.copyfile(demo_source, out)
    return out


def one_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture()
def uncheckpointed(demo_source: Path, tmp_path: Path) -> Iterator[Path]:
    """A WAL-mode source whose writer is still open: its last commit is only in export.db-wal."""
    source = copy_of(demo_source, tmp_path)
    con = sqlite3.connect(source)
    con.execute("pragma journal_mode=wal")
    con.execute("pragma wal_autocheckpoint=0")
    con.execute("""insert into tickets ("TKT-Ticket ID", "TKT-Title") values ('WAL-1', 'only in the log')""")
    con.commit()
    assert (tmp_path / "export.db-wal").stat().st_size > 0
    try:
        yield source
    finally:
        con.close()


def test_a_source_with_changes_only_in_its_wal_is_refused(uncheckpointed: Path, tmp_path: Path) -> None:
    before = uncheckpointed.read_bytes()
    for args in (["full", "--source", str(uncheckpointed), "-q"], ["backup", "--source", str(uncheckpointed)]):
        r = sdrun(*args, home=tmp_path / "home")
        assert r.returncode == 1, r.stdout + r.stderr
        line = one_error(r.stderr)
        assert "export.db-wal" in line and "wal_checkpoint" in line, line
    assert uncheckpointed.read_bytes() == before  # never checkpointed by sdrun: the source is not written
    assert not (tmp_path / "home" / "backups").exists() or not any((tmp_path / "home" / "backups").iterdir())


@pytest.mark.parametrize("written", ["tkt-status", "TKT-Status ", "TKT-STATUS"])
def test_a_near_miss_column_name_is_named_with_what_was_found(demo_source: Path, tmp_path: Path, written: str) -> None:
    source = copy_of(demo_source, tmp_path)
    con = sqlite3.connect(source)
    con.execute(f'alter table tickets rename column "TKT-Status" to "{written}"')
    con.commit()
    con.close()
    r = sdrun("full", "--source", str(source), "-q", home=tmp_path)
    assert r.returncode == 1
    assert f"lacks column(s) 'TKT-Status' (found {written!r}: the same name but for case or spaces)" in one_error(
        r.stderr)


def test_a_column_named_rowid_is_refused(demo_source: Path, tmp_path: Path) -> None:
    source = copy_of(demo_source, tmp_path)
    con = sqlite3.connect(source)
    con.execute('alter table comments add column "rowid" text')
    con.commit()
    con.close()
    r = sdrun("full", "--source", str(source), "-q", home=tmp_path)
    assert r.returncode == 1
    assert "table comments has a column named 'rowid'" in one_error(r.stderr)


def test_a_password_protected_workbook_is_named_as_such(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    # Excel writes an encrypted XLSX as an OLE2 compound file (so does a legacy .xls): its first 8 bytes
    for name in ("tickets.xlsx", "comments.xlsx", "timesheets.xlsx"):
        (folder / name).write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"EncryptedPackage")
    r = sdrun("import", "--from", str(folder), "--out", str(tmp_path / "out.db"), home=tmp_path)
    assert r.returncode == 1
    line = one_error(r.stderr)
    assert "password-protected workbook" in line and "tickets.xlsx" in line, line
    assert not (tmp_path / "out.db").exists()
