"""Versions on PostgreSQL: the deploy lock, the swap that makes a version live, rollback, pruning,
and clearing what a killed run left behind.

Blue-green: a prod run builds the next version's schemas (SchemaSet.building()); `activate`
renames, in one transaction, the live set to the previous version's names and the new set to the
live names (grants are copied first). Readers never see a missing or half-built schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from orchestrator.core.errors import StepFailed, UsageError
from orchestrator.core.redact import redact
from orchestrator.core.runs import new_run_id
from orchestrator.core.settings import Settings
from orchestrator.deploy import pgbackup, swap
from orchestrator.targets.postgres import (
    LOCK_KEY,
    Connection,
    connect,
    connection,
    drop_schemas,
    ensure_meta,
    grant_read,
    ident,
    read_roles,
    schema_exists,
    where,
)
from orchestrator.targets.schemas import LIVE_SCHEMA, META_SCHEMA, SchemaSet, leftover, version_id, version_of


def acquire_lock() -> Connection:
    """The deploy lock: one canary/prod run (or rollback) at a time per database. A session advisory
    lock, released by the server when the process dies."""
    con = connect(autocommit=True)
    ensure_meta(con)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,))
        if not cur.fetchone()[0]:
            con.close()
            raise StepFailed(f"another sdrun run is deploying to {where()} (advisory lock held); try again later")
    return con


def backup_live(settings: Settings, run_id: str, lock: Connection) -> dict[str, Any]:
    with lock.cursor() as cur:
        if not schema_exists(cur, LIVE_SCHEMA):
            return {"skipped": "no live schema yet"}
    live = live_version(lock)
    m = pgbackup.backup_schema(LIVE_SCHEMA, settings.backups_dir / f"pg-{run_id}",
                               version=live["version"] if live else None, run_id=run_id)
    return {"path": str(settings.backups_dir / f"pg-{run_id}"), "sha256": m["sha256"], "bytes": m["bytes"],
            "tables": m["tables"]}


def live_version(con: Connection) -> dict[str, Any] | None:
    with con.cursor() as cur:
        cur.execute(f"select version, fingerprint, source_sha256, live_since from {META_SCHEMA}.versions "
                    "where state = 'live'")
        row = cur.fetchone()
    if not row:
        return None
    return {"version": row[0], "fingerprint": row[1], "source_sha256": row[2], "live_since": row[3]}


def activate(vid: str, *, fingerprint: str | None = None, source_sha: str | None = None,
             run_id: str | None = None, built_in: SchemaSet | None = None,
             swap_wait: float | None = None) -> dict[str, Any]:
    """Make version `vid` live in one transaction; the live set takes its version's names.
    `built_in`: the schemas a new version was built in (else the kept version's own names).
    What is not sdrun's in and around the live set is carried over, re-pointed or refused, and the
    grants are copied exactly (deploy/swap.py). Returns the version that was live before (None
    when there was none) and what was carried."""
    new = built_in or SchemaSet.version(vid)
    live = SchemaSet.live()
    waited = swap.wait_for_old_snapshots(swap.swap_wait_from_env() if swap_wait is None else swap_wait)
    with connection() as con:
        with con.cursor() as cur:
            cur.execute("set local lock_timeout = '60s'")
            for n in new.all():
                if not schema_exists(cur, n):
                    raise StepFailed(f"version {vid}: schema {n} is missing; nothing changed")
            cur.execute(f"select version from {META_SCHEMA}.versions where state = 'live' for update")
            row = cur.fetchone()
            old_vid = row[0] if row else None
            ours_live = swap.recorded(cur, META_SCHEMA, old_vid)
            ours_new = swap.recorded(cur, META_SCHEMA, vid) or swap.own_relations(cur, new)
            plan = swap.plan(cur, live, new, ours_live)
            if plan.refused:
                raise StepFailed("swap refused, nothing changed: " + "; ".join(plan.refused))
            grants = swap.copy_grants(cur, live, new, ours_live, read_roles(cur))
            grant_read(cur, META_SCHEMA, read_roles(cur))  # the ledger, for the pipeline-runs dashboard
            if old_vid is None and schema_exists(cur, live.marts):
                # a live schema sdrun did not build (first deploy over an existing one): keep it as a version
                old_vid = version_id(new_run_id())
                cur.execute(f"insert into {META_SCHEMA}.versions (version, state, relations) values (%s, 'kept', %s)",
                            (old_vid, swap.relations_json(swap.own_relations(cur, live))))
            swap.carry_over(cur, plan)
            if old_vid is not None:
                for cur_name, old_name in zip(live.all(), SchemaSet.version(old_vid).all(), strict=True):
                    if schema_exists(cur, cur_name):
                        cur.execute(sql.SQL("alter schema {} rename to {}").format(ident(cur_name), ident(old_name)))
            for new_name, live_name in zip(new.all(), live.all(), strict=True):
                cur.execute(sql.SQL("alter schema {} rename to {}").format(ident(new_name), ident(live_name)))
            swap.repoint(cur, plan)
            cur.execute(f"update {META_SCHEMA}.versions set state = 'kept' where state = 'live'")
            cur.execute(
                f"""insert into {META_SCHEMA}.versions
                        (version, run_id, source_sha256, fingerprint, state, live_since, relations)
                    values (%s, %s, %s, %s, 'live', now(), %s)
                    on conflict (version) do update set state = 'live', live_since = now(),
                        relations = coalesce({META_SCHEMA}.versions.relations, excluded.relations)""",
                (vid, run_id, source_sha, fingerprint, swap.relations_json(ours_new)),
            )
        con.commit()
    return {"previous_version": old_vid, "waited_for_snapshots_s": round(waited, 2), "grants": grants,
            **plan.describe()}


def rollback(to: str | None = None) -> dict[str, Any]:
    """Make the previous kept version (or `to`) live again, in one transaction. The ledger gets a
    run row of target `rollback`, whatever its outcome."""
    lock = acquire_lock()
    run_id = new_run_id()
    try:
        live = live_version(lock)
        with lock.cursor() as cur:
            cur.execute(f"insert into {META_SCHEMA}.runs (run_id, target, version) values (%s, 'rollback', %s)",
                        (run_id, version_of(to) if to else None))
        outcome, error = "failed", None
        try:
            with lock.cursor() as cur:
                if to is None:
                    cur.execute(f"select version from {META_SCHEMA}.versions where state = 'kept' "
                                "and (%s::text is null or version < %s) order by version desc limit 1",
                                (live["version"] if live else None, live["version"] if live else None))
                    row = cur.fetchone()
                    if not row:
                        raise UsageError("no previous version to roll back to (`sdrun status` lists the versions)")
                    to = row[0]
                else:
                    to = version_of(to)
                    cur.execute(f"select state from {META_SCHEMA}.versions where version = %s", (to,))
                    row = cur.fetchone()
                    if not row or row[0] != "kept":
                        raise UsageError(f"version {to} is not a kept version (`sdrun status` lists them)")
            out = activate(to)
            outcome = "ok"
            return {"live_version": to, "run_id": run_id, **out}
        except BaseException as exc:
            outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            error = redact(" ".join(str(exc).split()))[:2000] or type(exc).__name__
            raise
        finally:
            with lock.cursor() as cur:
                cur.execute(f"update {META_SCHEMA}.runs set finished_at = now(), outcome = %s, error = %s, "
                            "version = coalesce(%s, version) where run_id = %s", (outcome, error, to, run_id))
    finally:
        lock.close()


PRUNE_LOCK_TIMEOUT = "2s"  # a reader still on an old version blocks others behind the drop's lock: keep it short


def prune(keep: int) -> dict[str, Any]:
    """Drop kept versions beyond the `keep` newest ones, each whole or not at all (one transaction),
    RESTRICT. A version something else depends on, or holding something sdrun did not build, stays
    kept and `blocked` names why; so does one a reader holds now (the next run tries again)."""
    dropped: list[str] = []
    blocked: dict[str, str] = {}
    with connection() as con:
        with con.cursor() as cur:
            cur.execute(f"select version from {META_SCHEMA}.versions where state = 'kept' order by version desc")
            old = [r[0] for r in cur.fetchall()[keep:]]
            cur.execute(f"select version from {META_SCHEMA}.versions where state = 'live'")
            row = cur.fetchone()
            fallback = (swap.recorded(cur, META_SCHEMA, row[0]) if row else None) or swap.own_relations(
                cur, SchemaSet.live())
        con.commit()
        for vid in old:
            try:
                with con.cursor() as cur:
                    cur.execute(f"set local lock_timeout = '{PRUNE_LOCK_TIMEOUT}'")
                    schemas = SchemaSet.version(vid)
                    problems = swap.blockers(cur, schemas, swap.recorded(cur, META_SCHEMA, vid) or fallback)
                    if problems:
                        con.rollback()
                        blocked[vid] = "; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)"
                                                                   if len(problems) > 10 else "")
                        continue
                    swap.drop_restrict(cur, schemas.all())
                    cur.execute(f"update {META_SCHEMA}.versions set state = 'dropped', dropped_at = now() "
                                "where version = %s", (vid,))
                con.commit()
                dropped.append(vid)
            except psycopg2.Error as exc:  # readers still on it: the next run tries again
                con.rollback()
                blocked[vid] = " ".join(str(exc).split())[:300]
    return {"dropped": dropped, "blocked": blocked}


def clear_leftovers(lock: Connection, backups_dir: Path | None = None) -> dict[str, Any]:
    """Under the deploy lock: drop schemas of versions that never went live, mark runs that never
    finished (killed) as such, and remove the unfinished backup folders of those runs."""
    with lock.cursor() as cur:
        cur.execute(f"select version from {META_SCHEMA}.versions where state in ('live', 'kept')")
        keep = {r[0] for r in cur.fetchall()}
        cur.execute("select nspname from pg_namespace")
        names = [r[0] for r in cur.fetchall()]
        stale = [n for n in names if leftover(n, keep)]
        cur.execute("set lock_timeout = '60s'")
        drop_schemas(cur, stale)
        cur.execute(f"update {META_SCHEMA}.runs set outcome = 'killed', finished_at = coalesce(finished_at, now()) "
                    "where outcome = 'running' returning run_id")
        killed = [r[0] for r in cur.fetchall()]
    partial = [str(d) for d in pgbackup.drop_partial_backups(backups_dir, killed)] if backups_dir else []
    return {"schemas": stale, "runs": killed, "partial_backups": partial}
