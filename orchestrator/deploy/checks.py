"""What a version must pass before it goes live, besides its dbt tests: the source is still the
file that was checked, every row reconciles (source → raw → staging = marts + quarantined), and
every query the Grafana dashboards run works and returns rows when there are rows to summarise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg2 import sql

from orchestrator.core.errors import GateHalted, SourceError
from orchestrator.source.contract import sha256_file
from orchestrator.targets import Target
from orchestrator.targets.postgres import connection, ident
from orchestrator.targets.schemas import SchemaSet

MART_TABLES = {"tickets": "tickets", "comments": "comments", "timesheets": "timesheets"}
STAGING_TABLES = {t: f"stg_servicedesk__{t}" for t in MART_TABLES}

# What the Grafana dashboards run ({s} is the marts schema), run on every version before it goes live
# (and on the canary): each must run. Each comes with a count of the rows it summarises: an empty
# result while they exist means the cleaning broke (every date or number NULL); none to summarise (an
# empty table, no resolved ticket in a small canary sample) is not a failure. quarantine_by_reason has
# none: a clean export quarantines nothing.
DASHBOARD_QUERIES: dict[str, tuple[str, str | None]] = {
    "tickets_by_status": (
        "select status_group, status, count(*) from {s}.tickets group by 1, 2 order by 3 desc",
        "select count(*) from {s}.tickets",
    ),
    "resolution_hours_by_priority": (
        "select priority, round(avg(resolution_hours), 2) as avg_hours, count(*) from {s}.tickets "
        "where resolution_hours is not null group by 1 order by 1",
        "select count(*) from {s}.tickets where created_at is not null and resolved_at is not null",
    ),
    "sla_by_week": (
        "select date_trunc('week', created_at) as week, round(avg(case when is_sla_met then 1.0 else 0 end), 3) "
        "from {s}.tickets where created_at is not null group by 1 order by 1",
        "select count(*) from {s}.tickets",
    ),
    "response_minutes_median_by_team": (
        "select team, percentile_cont(0.5) within group (order by response_minutes_float) from {s}.tickets "
        "where response_minutes is not null group by 1",
        "select count(*) from {s}.tickets where created_at is not null and first_response_at is not null",
    ),
    "hours_by_team": (
        "select t.team, round(cast(sum(ts.hours) as numeric), 2) from {s}.timesheets ts join {s}.tickets t "
        "using (ticket_id) "
        "group by 1 order by 2 desc",
        "select count(*) from {s}.timesheets ts join {s}.tickets t using (ticket_id)",
    ),
    "daily_summary_last_30_days": (
        "select * from {s}.daily_summary order by day desc limit 30",
        "select count(*) from {s}.tickets",
    ),
    "quarantine_by_reason": ("select table_name, reason, count(*) from {s}.quarantine group by 1, 2", None),
}


def same_source(source: Path, expected_sha: str) -> None:
    """Refuse to go on when the source file is no longer the one checked (replaced or rewritten mid-run)."""
    now = sha256_file(source) if source.is_file() else None
    if now != expected_sha:
        what = "was removed" if now is None else f"changed (SHA-256 {expected_sha[:12]}… → {now[:12]}…)"
        raise SourceError(f"{source}: the file {what} during the run; nothing was published")


def verify_build(s: SchemaSet, source_rows: dict[str, int] | None, *, raw_rows: dict[str, int] | None = None,
                 built_rows: dict[str, int] | None = None) -> dict[str, Any]:
    """Row counts per table: source → raw → staging = marts + quarantined rows. (The marts' column
    types are their dbt model contracts' business: the build fails when one does not hold.)

    Counted once: `raw_rows` are the raw load's counts (targets/postgres.py counts each table it
    copied) and `built_rows` the rows PostgreSQL reported writing into each model's table (its
    `CREATE TABLE AS`, dbt's rows_affected: DbtResult.rows_written); a figure missing there is
    counted here. (dbt's assert_rows_reconcile test counts source and marts itself, in the build.)"""
    reconcile: dict[str, dict[str, Any]] = {}
    known = {"raw": raw_rows or {}, "staging": built_rows or {}, "marts": built_rows or {}}
    with connection() as con, con.cursor() as cur:
        cur.execute(sql.SQL("select table_name, count(distinct source_row) from {}.quarantine "
                            "where action = 'row_excluded' group by 1").format(ident(s.marts)))
        excluded = dict(cur.fetchall())
        for table, mart in MART_TABLES.items():
            counts = {}
            for key, schema, rel in (("raw", s.raw, table), ("staging", s.staging, STAGING_TABLES[table]),
                                     ("marts", s.marts, mart)):
                if rel in known[key]:
                    counts[key] = known[key][rel]
                    continue
                cur.execute(sql.SQL("select count(*) from {}.{}").format(ident(schema), ident(rel)))
                counts[key] = cur.fetchone()[0]
            src = source_rows[table] if source_rows is not None else counts["raw"]
            ex = int(excluded.get(table, 0))
            reconcile[table] = {"source": src, **counts, "excluded": ex,
                                "ok": src == counts["raw"] == counts["staging"] == counts["marts"] + ex}
    return {"reconcile": reconcile}


def dashboards(target: Target) -> dict[str, int]:
    """Run the dashboards' queries; each must succeed, and return rows when there are rows for it to
    summarise (GateHalted otherwise). Returns how many rows each returned."""
    out = {}
    schema = target.relation_prefix  # a quoted identifier; sdrun's schema names are its own
    for name, (q, inputs) in DASHBOARD_QUERIES.items():
        try:
            rows = target.query(q.format(s=schema))
            n_inputs = target.query(inputs.format(s=schema))[0][0] if inputs and not rows else 0
        except Exception as exc:  # noqa: BLE001
            raise GateHalted(f"dashboard query {name} failed on {target.schemas.marts}: {exc}", [name]) from None
        if n_inputs:
            raise GateHalted(f"dashboard query {name} returned no rows on {target.schemas.marts}, "
                             f"from {n_inputs:,} rows to summarise", [name])  # fmt: skip
        out[name] = len(rows)
    return out
