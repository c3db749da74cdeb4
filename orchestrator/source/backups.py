"""Backups of the SQLite *source* file: copy, list, verify, prune, restore.

A backup is a folder `backups/source-<UTC time>_<4 hex>/` holding a copy of the source made through
SQLite's online backup API (a consistent snapshot even if another process writes the file during
the copy; the source is opened read-only) and `manifest.json`:

    kind "sqlite-source", source_path, source_sha256 (the original file), file, bytes,
    sha256 (the copy), created_at, tables {name: rows}, page_size, pages, sqlite_version, seconds

`verify` recomputes the copy's SHA-256 and runs `PRAGMA quick_check` on it. `restore` verifies the
checksum *before* writing anything, writes next to the destination and renames into place, and never
replaces an existing file without `force`. PostgreSQL schema backups (`pg-<run_id>/`, deploy/pgbackup.py)
live in the same folder and are left alone here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.core.errors import BackupCorrupt, SourceError, UsageError
from orchestrator.source.contract import check_sqlite_file, connect_readonly, quote_ident, sha256_file

PREFIX = "source-"
MANIFEST = "manifest.json"
PAGES_PER_STEP = 2048  # 8 MB of 4 KiB pages between two progress callbacks

Progress = Callable[[int, int], None]  # (bytes done, bytes total)



@dataclass
class Backup:
    folder: Path
    manifest: dict[str, Any]

    @property
    def file(self) -> Path:
        return self.folder / self.manifest["file"]

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["created_at"])

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.folder), **self.manifest}


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / MANIFEST)


def _read(folder: Path) -> Backup:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupCorrupt(f"{folder}: no {MANIFEST}") from None
    except ValueError as exc:
        raise BackupCorrupt(f"{folder / MANIFEST}: not valid JSON ({exc})") from None
    if manifest.get("kind") != "sqlite-source" or not {"file", "sha256"} <= manifest.keys():
        raise BackupCorrupt(f"{folder / MANIFEST}: not a source backup manifest")
    return Backup(folder=folder, manifest=manifest)


def list_backups(backups_dir: Path) -> list[Backup]:
    """Every source backup, oldest first (folders with an unreadable manifest are skipped)."""
    out: list[Backup] = []
    if not backups_dir.is_dir():
        return out
    for folder in backups_dir.glob(f"{PREFIX}*"):
        if not folder.is_dir() or folder.name.endswith(".tmp"):
            continue
        try:
            out.append(_read(folder))
        except BackupCorrupt:
            continue
    return sorted(out, key=lambda b: (b.manifest.get("created_at", ""), b.folder.name))


def find_backup(ref: str | Path, backups_dir: Path) -> Backup:
    """A source backup from its folder path or name, its manifest, or the copy's path."""
    ref = Path(ref)
    for cand in (ref, backups_dir / ref):
        if cand.is_file():
            cand = cand.parent
        if (cand / MANIFEST).is_file():
            return _read(cand)
    raise UsageError(f"source backup {str(ref)!r} not found in {backups_dir}; `sdrun backups list` shows them")


def backup_source(
    source: Path,
    backups_dir: Path,
    *,
    source_sha256: str | None = None,
    reuse: bool = False,
    progress: Progress | None = None,
) -> tuple[Backup, bool]:
    """Copy `source` into a new backup folder; returns (backup, made_now).

    With `reuse`, an existing backup of the very same file (same SHA-256) that still verifies is
    returned instead of a new copy: `sdrun full` on an unchanged source costs one checksum.
    """
    source = Path(source)
    size = check_sqlite_file(source)
    sha_src = source_sha256 or sha256_file(source)
    if reuse:
        for old in reversed(list_backups(backups_dir)):
            if old.manifest.get("source_sha256") == sha_src:
                try:
                    verify(old, quick_check=False)
                except BackupCorrupt:
                    continue
                return old, False
    backups_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    name = f"{PREFIX}{stamp:%Y%m%dT%H%M%SZ}_{secrets.token_hex(2)}"
    work = backups_dir / f"{name}.tmp"
    work.mkdir()
    dest = work / source.name
    t0 = time.perf_counter()
    try:
        src = connect_readonly(source)
        try:
            dst = sqlite3.connect(dest)
            try:
                page_size = src.execute("pragma page_size").fetchone()[0]

                def on_step(status: int, remaining: int, total: int) -> None:
                    if progress is not None:
                        progress((total - remaining) * page_size, total * page_size)

                src.backup(dst, pages=PAGES_PER_STEP, progress=on_step)
                pages = dst.execute("pragma page_count").fetchone()[0]
                tables = {
                    t: dst.execute(f"select count(*) from {quote_ident(t)}").fetchone()[0]
                    for (t,) in dst.execute("select name from sqlite_master where type = 'table' order by 1")
                }
            finally:
                dst.close()
        finally:
            src.close()
        with open(dest, "rb+") as f:
            os.fsync(f.fileno())
        manifest = {
            "kind": "sqlite-source",
            "source_path": str(source.resolve()),
            "source_sha256": sha_src,
            "source_bytes": size,
            "file": dest.name,
            "bytes": dest.stat().st_size,
            "sha256": sha256_file(dest),
            "created_at": stamp.isoformat(timespec="seconds"),
            "tables": tables,
            "page_size": page_size,
            "pages": pages,
            "sqlite_version": sqlite3.sqlite_version,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        _write_manifest(work, manifest)
        work.rename(backups_dir / name)
    except sqlite3.DatabaseError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise SourceError(f"{source}: cannot back up this SQLite file ({exc})") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Backup(folder=backups_dir / name, manifest=manifest), True


def verify(backup: Backup, *, quick_check: bool = True) -> Backup:
    """Raise BackupCorrupt unless the copy exists, matches its SHA-256 and (optionally) passes quick_check."""
    f = backup.file
    if not f.is_file():
        raise BackupCorrupt(f"{backup.folder.name}: backup file {f.name} is missing")
    actual = sha256_file(f)
    if actual != backup.manifest["sha256"]:
        raise BackupCorrupt(
            f"{backup.folder.name}: SHA-256 of {f.name} is {actual[:12]}…, the manifest says "
            f"{backup.manifest['sha256'][:12]}…: the backup is corrupt"
        )
    if quick_check:
        try:
            con = sqlite3.connect(f"{f.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
            try:
                rows = [r[0] for r in con.execute("pragma quick_check")]
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise BackupCorrupt(f"{backup.folder.name}: {f.name} is not a readable SQLite file ({exc})") from None
        if rows != ["ok"]:
            raise BackupCorrupt(f"{backup.folder.name}: quick_check failed: {'; '.join(rows[:3])}")
    return backup


def prune(backups_dir: Path, keep_days: float, *, dry_run: bool = False, now: datetime | None = None) -> list[Backup]:
    """Remove source backups older than `keep_days`; the newest backup is always kept. Returns the removed."""
    if keep_days < 0:
        raise UsageError("--keep-days must not be negative")
    now = now or datetime.now(UTC)
    backups = list_backups(backups_dir)
    cutoff = now - timedelta(days=keep_days)
    doomed = [b for b in backups[:-1] if b.created_at < cutoff]
    if not dry_run:
        for b in doomed:
            shutil.rmtree(b.folder)
    return doomed


def restore(backup: Backup, dest: Path, *, force: bool = False) -> dict[str, Any]:
    """Verify the backup's checksum, then write it to `dest` (never over an existing file unless `force`)."""
    dest = Path(dest)
    if dest.is_dir():
        raise UsageError(f"{dest}: is a directory; give the file to restore into")
    if dest.exists() and not force:
        raise UsageError(f"{dest}: already exists (use --force to overwrite it)")
    verify(backup)  # before writing anything
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.restore.tmp")
    try:
        shutil.copyfile(backup.file, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        written = sha256_file(tmp)
        if written != backup.manifest["sha256"]:
            raise BackupCorrupt(f"{dest}: the restored copy does not match the manifest's SHA-256; nothing written")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    same_as_source = backup.manifest["sha256"] == backup.manifest.get("source_sha256")
    return {
        "from": str(backup.folder),
        "to": str(dest),
        "sha256": backup.manifest["sha256"],
        "bytes": backup.manifest["bytes"],
        "identical_to_original": same_as_source,
    }


def quick_check_source(path: Path) -> list[str]:
    """`PRAGMA quick_check` on a source opened read-only: ['ok'] when intact."""
    con = connect_readonly(path)
    try:
        return [r[0] for r in con.execute("pragma quick_check")]
    finally:
        con.close()
