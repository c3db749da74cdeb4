"""The profiler (Gate 1) and the staging models read the same date forms: a value the profile counts
as a date is one the models parse, and the other way round. Both sides are run on one corpus of
values as real tools write them, valid and not, through the real `sdrun full` on DuckDB.

The profile sees each value in a column of its own (so its per-column figures are per value); the
models see them as the tickets' creation times. Slash dates are chosen so that both see the same
day/month decision: 24-hour and date-only ones day-first, 12-hour ones month-first.

The same corpus also checks the per-value parse (a column parsed once per distinct value, the
timesheets' work date) against the row-by-row one, on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestrator.profile import profile_source

from .helpers import SDRUN, comment, query, sdrun, ticket, timesheet, write_source

VALID = [
    "2025-05-20", "2025-05-20 08:42", "2025-05-20 08:42:13.250", "2025-05-20T08:42:13Z", "2025-5-20 8:42",
    "2025/05/20 08:42", "2025-05-20T10:42:13.123456789+05:45", "2025-05-20 08:42:13+02", "2025-05-20 08:42:13 -0500",
    "2025-05-20 8:42 PM", "2025-05-20T08:42:13 UTC", "20/05/2025 8:42", "20-05-2025 08:42:13", "20.05.2025",
    "20/05/25 8:42", "9-9-2011 9:23", "20/05/2025 08:42:13,5", "05/20/2025 08:42:13 PM", "5/20/25 8:42 pm",
    "5/20/2025, 8:42:13 PM", "12/20/2025 12:05 AM", "5/20/2025 8:42PM", "20-May-2025", "20/May/25 8:42 AM",
    "May 20, 2025 8:42 PM", "May 20, 2025, 8:42 PM", "May 20 2025", "Tue, 20 May 2025 08:42:13 +0000",
    "Tuesday, 20 May 2025 08:42", "20 September 2025 14:00", "20-OCT-2025 08:42", "Sept 20, 2025",
    "20 May 2025 08:42 GMT", "20 May 25", "2024-02-29 23:59:59", "2025-05-20 08:42 pm",
]  # fmt: skip
INVALID = [
    "not a date", "31/02/2025 10:00", "2025-13-01", "2025-05-20 24:10", "2023-02-29", "05/20/2025 13:00 PM",
    "Foo 20, 2025", "20-Mayo-2025", "2025-05-20 8:42 XM", "20/05/2025 8:42 PM +02:00",
    "2025-05-20T08:42:13.1234567890Z", "20/05/2025 8:42:7", "2025-05-20 08:42 PM +02:00", "20.May.2025",
    "May 2025", "2025-05", "32-May-2025", "May 32, 2025",
    # the strict ISO time shapes ending in a zone letter (macros/cleaning/timestamps.sql takes the zone
    # of that shape by LIKE): unparseable, with or without their Z
    "2025-05-20 08:4Z", "2025-05-20 08:42:1z",
]  # fmt: skip


def test_profile_and_models_read_the_same_forms(tmp_path: Path) -> None:
    values = VALID + INVALID
    # the profile: one value per column
    prof_db = tmp_path / "columns.db"
    con = sqlite3.connect(prof_db)
    con.execute(f"create table t ({', '.join(f'c{i} TEXT' for i in range(len(values)))})")
    con.execute(f"insert into t values ({', '.join('?' for _ in values)})", values)
    con.commit()
    con.close()
    profile = profile_source(prof_db, day_first=True, sentinels=[])
    profiled = {}
    for v, c in zip(values, profile["tables"][0]["columns"], strict=True):
        profiled[v] = bool(c["dates"] and c["dates"]["parsed"] == 1)
    # the models: one ticket per value
    tickets = [ticket(f"T{i}", **{"TKT-Created Time": v}) for i, v in enumerate(values)]
    source = write_source(tmp_path / "export.db", tickets, [comment("C1", "T0")], [timesheet("T0")])
    home = tmp_path / "home"
    env = {"SDRUN_BREAKER_MAX_UNPARSEABLE_DATE_SHARE": "1", "SDRUN_BREAKER_MIN_SCORE": "0"}
    result = sdrun("full", "--source", str(source), "-q", "--var", "max_quarantined_share=1", home=home, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    wh = duckdb.connect(str(home / "warehouse" / "servicedesk.duckdb"), read_only=True)
    try:
        rows = wh.execute(
            "select ticket_id, created_at from servicedesk.servicedesk_staging.stg_servicedesk__tickets"
        ).fetchall()
    finally:
        wh.close()
    parsed = {values[int(tid[1:])]: ts is not None for tid, ts in rows}
    assert {v: parsed[v] for v in values} == {v: v in VALID for v in values}  # the models
    assert profiled == {v: v in VALID for v in values}  # the profile, value by value


# Around the per-value path's own steps: padding that trims to a value also present bare (several
# raw values, one key), padded values never present bare, blanks, sentinels, and a value repeated.
AROUND = [" 2025-05-20", "2025-05-20 ", "\u00a02025-05-20\t", " 2025-06-01 ", "\t21/05/2025 9:00", "", "  ",
          "N/A", "n/a ", "-"] + ["20/05/2025 8:42"] * 5


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_a_date_column_parsed_per_value_reads_as_row_by_row(tmp_path: Path, target: str,
                                                            request: pytest.FixtureRequest) -> None:
    """The timesheets' work date is parsed once per distinct value and joined back (meta.parse
    per_value, macros/cleaning/timestamps.sql timestamps_per_value), the comments' created time row by
    row. The same values in both columns must give the same timestamp, form and failure, one row per
    source row, on DuckDB and on PostgreSQL."""
    values = VALID + INVALID + AROUND
    comments = [comment(f"C{i}", "T0", **{"CT-CREATED-TIME": v}) for i, v in enumerate(values)]
    timesheets = [timesheet("T0", **{"TS-Date": v}) for v in values]
    source = write_source(tmp_path / "export.db", [ticket("T0")], comments, timesheets)
    env = {"SDRUN_BREAKER_MAX_UNPARSEABLE_DATE_SHARE": "1", "SDRUN_BREAKER_MIN_SCORE": "0"}
    args = ["full", "--source", str(source), "-q", "--var", "max_quarantined_share=1"]
    staging = "servicedesk_staging"
    if target == "dev":
        home = tmp_path / "home"
        result = sdrun(*args, home=home, env=env)
    else:
        pg_env: dict[str, str] = {**request.getfixturevalue("pg_env"), **env}
        setup = subprocess.run([SDRUN, "setup-db"], env=pg_env, capture_output=True, text=True, timeout=300)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        result = subprocess.run([SDRUN, *args, "--target", "prod", "--skip-canary"], env=pg_env,
                                capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    def rows(statement: str) -> list[tuple[Any, ...]]:
        if target == "prod":
            return query(pg_env, statement)
        wh = duckdb.connect(str(home / "warehouse" / "servicedesk.duckdb"), read_only=True)
        try:
            return wh.execute(statement.replace(f"{staging}.", f"servicedesk.{staging}.")).fetchall()
        finally:
            wh.close()

    per_value = rows(f"select source_row, work_date, work_date__form, work_date__failure "
                     f"from {staging}.stg_servicedesk__timesheets")
    per_row = rows(f"select cast(substr(comment_id, 2) as integer), created_at, created_at__form, created_at__failure "
                   f"from {staging}.stg_servicedesk__comments")
    assert sorted((r[0] - 1, *r[1:]) for r in per_value) == sorted(per_row)  # source rows count from 1
    assert len(per_value) == len(values)
    by_value = {values[r[0] - 1]: r[1:] for r in per_value}
    assert by_value["20/05/2025 8:42"][1] == "day_first" and by_value[" 2025-06-01 "][1] == "iso"
    assert by_value["N/A"] == (None, None, None) and by_value["not a date"][1:] == ("unparseable",
                                                                                   "unparseable_timestamp")
