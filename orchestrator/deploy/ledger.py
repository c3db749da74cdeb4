"""The run ledger on PostgreSQL: `sdrun_meta.runs` (every canary/prod run, its outcome and counts:
rows, tests, the quality score, the shrink gate's verdict) and what `sdrun status` and
`sdrun history` read from it and from `sdrun_meta.versions`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.core.settings import Settings
from orchestrator.deploy import pgbackup
from orchestrator.targets.postgres import Connection, connection, ensure_meta, schema_exists, where
from orchestrator.targets.schemas import LIVE_SCHEMA, META_SCHEMA, SchemaSet


def start(con: Connection, run_id: str, target: str, source: Path, sha: str, fp: str) -> None:
    with con.cursor() as cur:
        cur.execute(f"insert into {META_SCHEMA}.runs (run_id, target, source_path, source_sha256, fingerprint) "
                    "values (%s, %s, %s, %s, %s)", (run_id, target, str(source), sha, fp))


def set_version(con: Connection | None, run_id: str, *, version: str) -> None:
    assert con is not None
    with con.cursor() as cur:
        cur.execute(f"update {META_SCHEMA}.runs set version = %s where run_id = %s", (version, run_id))


def finish(con: Connection, run_id: str, report: dict[str, Any]) -> None:
    counts: dict[str, Any] = {}
    verify = report.get("verify")
    if verify:
        counts["tables"] = {t: {k: r[k] for k in ("source", "raw", "staging", "excluded", "marts")}
                            for t, r in verify["reconcile"].items()}
    if report.get("tests"):
        counts["tests"] = {k: report["tests"][k] for k in ("passed", "warned", "failed", "errored")}
    score = (report.get("profile") or {}).get("score")
    if score is not None:  # Gate 1's quality score: the next prod run compares its own with it (live_score)
        counts["score"] = score
    comparison = report.get("comparison") or {}
    if comparison.get("gate"):
        counts["comparison"] = {"live_version": comparison.get("live_version"), "gate": comparison["gate"]["status"],
                                "missing": {t: d["count"] for t, d in comparison["disappeared"].items()
                                            if "count" in d}}
    with con.cursor() as cur:
        cur.execute(f"update {META_SCHEMA}.runs set finished_at = now(), outcome = %s, counts = %s, error = %s "
                    "where run_id = %s",
                    (report["outcome"], json.dumps(counts) if counts else None, report.get("error"), run_id))


def live_score(con: Connection) -> float | None:
    """The quality score of the run that built the live version (None: no live version, or built
    before the ledger kept scores)."""
    with con.cursor() as cur:
        cur.execute(f"""select r.counts ->> 'score' from {META_SCHEMA}.versions v
                        join {META_SCHEMA}.runs r on r.run_id = v.run_id where v.state = 'live'""")
        row = cur.fetchone()
    return float(row[0]) if row and row[0] is not None else None


def history(limit: int = 20) -> list[dict[str, Any]]:
    with connection() as con:
        ensure_meta(con)
        with con.cursor() as cur:
            cur.execute(f"""select run_id, target, source_sha256, started_at, finished_at, outcome, version, counts,
                                   error from {META_SCHEMA}.runs order by started_at desc, run_id desc limit %s""",
                        (limit,))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def status(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    with connection() as con:
        ensure_meta(con)
        with con.cursor() as cur:
            cur.execute(f"""select version, state, run_id, source_sha256, built_at, live_since
                            from {META_SCHEMA}.versions where state in ('live', 'kept') order by version desc""")
            cols = [d[0] for d in cur.description]
            versions = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            for v in versions:
                v["schema"] = LIVE_SCHEMA if v["state"] == "live" else SchemaSet.version(v["version"]).marts
                v["present"] = schema_exists(cur, v["schema"])
            live_exists = schema_exists(cur, LIVE_SCHEMA)
    live = next((v for v in versions if v["state"] == "live"), None)
    return {
        "database": where(),
        "live": live,
        "live_schema_present": live_exists,
        "kept": [v for v in versions if v["state"] == "kept"],
        "runs": history(5),
        "backups": [{k: b.get(k) for k in ("path", "schema", "version", "created_at", "sha256", "tables")}
                    for b in pgbackup.list_backups(settings.backups_dir)][-5:],
    }
