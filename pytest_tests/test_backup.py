"""Source backups: a consistent copy with a SHA-256 manifest; verify catches corruption; restore
refuses a bad checksum and never overwrites without --force; prune keeps the newest."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.source.backups import BackupCorrupt, backup_source, list_backups, prune, verify
from orchestrator.source.contract import sha256_file

from .helpers import sdrun


def corrupt(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 16] = bytes(b ^ 0xFF for b in raw[mid : mid + 16])
    path.write_bytes(bytes(raw))


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("select name from sqlite_master where type = 'table' order by 1")]
        return {n: con.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


@pytest.fixture()
def made(demo_source: Path, tmp_path: Path) -> tuple[Path, dict]:
    sha_before = sha256_file(demo_source)
    proc = sdrun("backup", "--source", str(demo_source), "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert sha256_file(demo_source) == sha_before  # the source is only read
    return tmp_path, doc


def test_backup_makes_a_verified_timestamped_copy_with_manifest(made: tuple[Path, dict], demo_source: Path) -> None:
    home, doc = made
    folder = Path(doc["path"])
    assert folder.parent == home / "backups"
    assert folder.name.startswith("source-") and datetime.strptime(folder.name[7:23], "%Y%m%dT%H%M%SZ")
    manifest = json.loads((folder / "manifest.json").read_text())
    copy = folder / manifest["file"]
    assert manifest["sha256"] == sha256_file(copy)
    assert manifest["source_sha256"] == sha256_file(demo_source)
    assert manifest["tables"] == counts(demo_source) == counts(copy)
    proc = sdrun("backups", "verify", home=home)
    assert proc.returncode == 0, proc.stderr
    assert f"OK       {folder.name}" in proc.stdout
    listed = json.loads(sdrun("backups", "list", "--json", home=home).stdout)
    assert [b["path"] for b in listed] == [str(folder)]


def test_verify_catches_a_corrupted_backup(made: tuple[Path, dict]) -> None:
    home, doc = made
    folder = Path(doc["path"])
    corrupt(folder / doc["file"])
    proc = sdrun("backups", "verify", home=home)
    assert proc.returncode == 1
    assert f"CORRUPT  {folder.name}" in proc.stdout
    assert proc.stderr.startswith("Error: 1 of 1 backup(s) corrupt")
    with pytest.raises(BackupCorrupt, match="SHA-256"):
        verify(list_backups(home / "backups")[0])


def test_restore_verifies_and_never_overwrites_without_force(made: tuple[Path, dict], tmp_path: Path) -> None:
    home, doc = made
    dest = tmp_path / "restored" / "source.db"
    proc = sdrun("backups", "restore", Path(doc["path"]).name, "--to", str(dest), home=home)
    assert proc.returncode == 0, proc.stderr
    assert sha256_file(dest) == doc["sha256"]

    dest.write_bytes(b"someone's newer file")
    proc = sdrun("backups", "restore", doc["path"], "--to", str(dest), home=home)
    assert proc.returncode == 2
    assert "already exists (use --force" in proc.stderr
    assert dest.read_bytes() == b"someone's newer file"

    proc = sdrun("backups", "restore", doc["path"], "--to", str(dest), "--force", home=home)
    assert proc.returncode == 0, proc.stderr
    assert sha256_file(dest) == doc["sha256"]


def test_restore_refuses_a_bad_checksum_and_writes_nothing(made: tuple[Path, dict], tmp_path: Path) -> None:
    home, doc = made
    corrupt(Path(doc["path"]) / doc["file"])
    dest = tmp_path / "out.db"
    proc = sdrun("backups", "restore", doc["path"], "--to", str(dest), home=home)
    assert proc.returncode == 1
    assert "corrupt" in proc.stderr and proc.stderr.startswith("Error:")
    assert not dest.exists()
    assert not list(tmp_path.glob(".out.db.*"))  # no temporary left behind

    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    proc = sdrun("backups", "restore", doc["path"], "--to", str(existing), "--force", home=home)
    assert proc.returncode == 1
    assert existing.read_bytes() == b"keep me"


def test_prune_removes_old_backups_and_keeps_the_newest(demo_source: Path, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    made = [backup_source(demo_source, backups)[0] for _ in range(3)]
    old = datetime.now(UTC) - timedelta(days=30)
    for b in made[:2]:  # age the first two
        b.manifest["created_at"] = old.isoformat(timespec="seconds")
        (b.folder / "manifest.json").write_text(json.dumps(b.manifest))
    proc = sdrun("backups", "prune", "--keep-days", "7", "--dry-run", home=tmp_path)
    assert proc.returncode == 0 and "2 backup(s) to remove" in proc.stdout
    assert len(list_backups(backups)) == 3
    proc = sdrun("backups", "prune", "--keep-days", "7", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [b.folder for b in list_backups(backups)] == [made[2].folder]
    # The newest backup stays even when it is older than the retention.
    future = datetime.now(UTC) + timedelta(days=365)
    assert prune(backups, 1, now=future) == []
    assert len(list_backups(backups)) == 1


def test_backup_reuses_a_verified_copy_of_the_same_source(demo_source: Path, tmp_path: Path) -> None:
    first, made1 = backup_source(demo_source, tmp_path)
    second, made2 = backup_source(demo_source, tmp_path, reuse=True)
    assert made1 and not made2 and second.folder == first.folder
    corrupt(first.file)  # a corrupt copy is never reused
    third, made3 = backup_source(demo_source, tmp_path, reuse=True)
    assert made3 and third.folder != first.folder


def test_backup_of_a_non_sqlite_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.db"
    bad.write_text("not a database")
    proc = sdrun("backup", "--source", str(bad), home=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error: {bad}: not a SQLite database (file header does not match)"
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


def test_a_source_table_whose_name_holds_quotes_is_backed_up_and_ignored(demo_source: Path, tmp_path: Path) -> None:
    """Issue 15, case 11: an extra table named with `"` (and `'`) is only ever put into SQL quoted."""
    source = tmp_path / "odd.db"
    source.write_bytes(demo_source.read_bytes())
    odd = 'notes "from" o\'neil'
    con = sqlite3.connect(source)
    con.execute('create table "notes ""from"" o\'neil" (x text)')
    con.execute('insert into "notes ""from"" o\'neil" values (\'a\'), (\'b\')')
    con.commit()
    con.close()
    proc = sdrun("backup", "--source", str(source), "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((Path(json.loads(proc.stdout)["path"]) / "manifest.json").read_text())
    assert manifest["tables"][odd] == 2
    pre = sdrun("preflight", "--source", str(source), "--json", home=tmp_path)
    assert "notes" in pre.stdout and pre.returncode == 0, pre.stdout + pre.stderr
