"""PostgreSQL schema backups: `pg_dump` (custom format) plus a SHA-256 manifest, and restore.

A backup is a folder `backups/pg-<run_id>/` holding `<schema>.dump` and `manifest.json`
(schema, version, rows per table, the dump's SHA-256 and size). `restore` verifies the checksum,
then replays the dump into a *named* schema in one transaction (the dump's schema name is
rewritten in the DDL only, never in the data), and checks the row counts against the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from orchestrator.core.errors import BackupCorrupt, StepFailed, UsageError
from orchestrator.targets.postgres import connection, ident, pg_tool, schema_exists, where

SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# zlib level 1, not pg_dump's default 6: the live marts at scale 10 dump in 2.8 s instead of 7.0 s
# (the deploy waits for it before the swap) into 57 MB instead of 44 MB (docs/benchmarks.md).
DUMP_COMPRESSION = 1



def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def lock_timeout_seconds() -> int:
    """How long the backup waits for a lock on a live table (SDRUN_BACKUP_LOCK_TIMEOUT, default 60)."""
    raw = os.environ.get("SDRUN_BACKUP_LOCK_TIMEOUT", "60").strip()
    try:
        return max(1, int(raw))
    except ValueError:
        raise UsageError(f"SDRUN_BACKUP_LOCK_TIMEOUT={raw!r}: expected a whole number of seconds") from None


def lock_holders(schema: str) -> str:
    """Who holds a lock on a table of `schema` that a reader would wait for, for the error message."""
    with connection() as con, con.cursor() as cur:
        cur.execute(
            """select distinct l.pid, c.relname, l.mode, coalesce(a.application_name, ''), coalesce(a.usename, ''),
                      a.xact_start
               from pg_locks l join pg_class c on c.oid = l.relation
               join pg_namespace n on n.oid = c.relnamespace left join pg_stat_activity a on a.pid = l.pid
               where n.nspname = %s and l.granted and l.mode in ('AccessExclusiveLock', 'ExclusiveLock')
                 and l.pid <> pg_backend_pid() order by 1""",
            (schema,),
        )
        rows = cur.fetchall()
    if not rows:
        return "no lock holder found any more"
    return "; ".join(f"{mode} on {schema}.{rel} held by pid {pid} ({app or 'no application name'}, user {user}"
                     + (f", transaction since {since:%Y-%m-%d %H:%M:%S}" if since else "") + ")"
                     for pid, rel, mode, app, user, since in rows[:3])


def table_counts(schema: str, lock_timeout: int | None = None) -> dict[str, int]:
    with connection() as con, con.cursor() as cur:
        if lock_timeout is not None:
            cur.execute(f"set lock_timeout = '{int(lock_timeout)}s'")
        cur.execute("select tablename from pg_tables where schemaname = %s order by 1", (schema,))
        names = [r[0] for r in cur.fetchall()]
        out = {}
        for n in names:
            cur.execute(sql.SQL("select count(*) from {}.{}").format(ident(schema), ident(n)))
            out[n] = cur.fetchone()[0]
        return out


def backup_schema(schema: str, dest: Path, *, version: str | None, run_id: str) -> dict[str, Any]:
    """Dump `schema` into `dest/` with a manifest; returns the manifest. Every wait for a lock is
    bounded (lock_timeout_seconds); a lock held too long fails the step naming who holds it."""
    wait = lock_timeout_seconds()
    try:
        counts = table_counts(schema, lock_timeout=wait)
    except psycopg2.errors.LockNotAvailable:
        raise StepFailed(f"backup of schema {schema}: waited {wait}s for a lock ({lock_holders(schema)}); "
                         "nothing was published, the live data stays") from None
    dest.mkdir(parents=True, exist_ok=True)
    dump = dest / f"{schema}.dump"
    tmp = dump.with_suffix(".dump.tmp")
    proc = subprocess.run(
        [pg_tool("pg_dump"), "--format=custom", f"--compress={DUMP_COMPRESSION}", "--no-owner", "--no-acl",
         f"--lock-wait-timeout={wait}s",
         f"--schema={schema}", f"--file={tmp}"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            dest.rmdir()  # only when empty: nothing half-written stays behind
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        holders = f" ({lock_holders(schema)})" if "lock" in last.lower() else ""
        raise StepFailed(f"pg_dump of schema {schema} into {dest} failed: {last}{holders}")
    tmp.replace(dump)
    manifest = {
        "kind": "postgres-schema",
        "schema": schema,
        "version": version,
        "run_id": run_id,
        "database": where(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "file": dump.name,
        "bytes": dump.stat().st_size,
        "sha256": _sha256(dump),
        "tables": counts,
    }
    mtmp = dest / "manifest.json.tmp"
    mtmp.write_text(json.dumps(manifest, indent=2) + "\n")
    mtmp.replace(dest / "manifest.json")
    return manifest


def drop_partial_backups(backups_dir: Path, run_ids: list[str]) -> list[Path]:
    """Remove the folders of these (killed) runs' backups that never got their manifest."""
    removed = []
    for run_id in run_ids:
        folder = backups_dir / f"pg-{run_id}"
        if folder.is_dir() and not (folder / "manifest.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def find_backup(ref: str, backups_dir: Path) -> Path:
    """A backup folder from a path, a folder name (pg-<run_id>) or a run id."""
    for cand in (Path(ref), backups_dir / ref, backups_dir / f"pg-{ref}"):
        if cand.is_file() and cand.name == "manifest.json":
            return cand.parent
        if (cand / "manifest.json").is_file():
            return cand
    raise UsageError(f"backup {ref!r} not found (looked in {backups_dir}); `sdrun status` lists the backups")


def list_backups(backups_dir: Path) -> list[dict[str, Any]]:
    out = []
    for m in sorted(backups_dir.glob("pg-*/manifest.json")):
        try:
            doc = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        doc["path"] = str(m.parent)
        out.append(doc)
    return out


def verify(folder: Path) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text())
    dump = folder / manifest["file"]
    if not dump.is_file():
        raise BackupCorrupt(f"{dump}: backup file missing")
    actual = _sha256(dump)
    if actual != manifest["sha256"]:
        raise BackupCorrupt(f"{dump}: SHA-256 {actual[:12]}… does not match the manifest ({manifest['sha256'][:12]}…)")
    return manifest


def _rewrite(script: str, src: str, dst: str) -> str:
    """Rename schema `src` to `dst` in a pg_restore SQL script, outside COPY data blocks."""
    out = []
    in_copy = False
    qualified = re.compile(r"(?<![\w\"])" + re.escape(src) + r"\.")
    for line in script.splitlines(keepends=True):
        if in_copy:
            out.append(line)
            if line.rstrip("\r\n") == "\\.":
                in_copy = False
            continue
        if line.startswith("COPY ") and line.rstrip().endswith("FROM stdin;"):
            in_copy = True
        if line.strip() == f"CREATE SCHEMA {src};":
            line = f"CREATE SCHEMA {dst};\n"
        elif line.startswith("--"):
            line = line.replace(f"Schema: {src};", f"Schema: {dst};")
        line = qualified.sub(f"{dst}.", line)
        out.append(line)
    return "".join(out)


def restore(folder: Path, into: str) -> dict[str, Any]:
    """Verify the backup in `folder` and restore it into the new schema `into`; returns figures."""
    if not SCHEMA_NAME_RE.match(into):
        raise UsageError(f"--into {into!r}: use a lower-case schema name (letters, digits, _)")
    manifest = verify(folder)
    with connection() as con, con.cursor() as cur:
        if schema_exists(cur, into):
            raise UsageError(f"schema {into} already exists: choose another name or drop it first")
    proc = subprocess.run([pg_tool("pg_restore"), "--no-owner", "--no-acl", "-f", "-", str(folder / manifest["file"])],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise StepFailed(f"pg_restore could not read {folder / manifest['file']}: {proc.stderr.strip()[:300]}")
    script = _rewrite(proc.stdout, manifest["schema"], into)
    load = subprocess.run([pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"],
                          input=script, capture_output=True, text=True, check=False)
    if load.returncode != 0:
        raise StepFailed(f"restore into {into} failed: {load.stderr.strip()[:300]}")
    counts = table_counts(into)
    if counts != manifest["tables"]:
        raise StepFailed(f"restored rows in {into} {counts} differ from the manifest {manifest['tables']}")
    return {"schema": into, "from": str(folder), "tables": counts, "sha256": manifest["sha256"]}
