"""Shared helpers for the test suite: crafted SQLite sources, the real `sdrun` command, a query on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg2

from orchestrator.demo.generator import TABLES

from .exports import clean_text

SDRUN = str(Path(sys.executable).with_name("sdrun"))

# The export's tables and declared types, as the demo generator writes them.
COLUMNS = TABLES


def ticket(tid: str, **over: Any) -> dict[str, Any]:
    row = {
        "TKT-Ticket ID": tid,
        "TKT-Title": f"Ticket {tid}",
        "TKT-Status": "Closed",
        "TKT-Priority": "P3",
        "TKT-Category": "Software",
        "TKT-Team": "Service Desk",
        "TKT-Assigned To": "Ann Smith",
        "TKT-Created Time": "2025-05-20 08:00:00",
        "TKT-Actual Response Date": "2025-05-20 08:30:00",
        "TKT-Actual Resolution Date": "2025-05-20 10:00:00",
        "TKT-Closed Time": "2025-05-21 10:00:00",
        "TKT-SLA Met": "Yes",
    }
    row.update(over)
    return row


def comment(cid: str, tid: str, **over: Any) -> dict[str, Any]:
    row = {
        "CT-COMMENT-ID": cid,
        "CT-TKT-ID": tid,
        "CT-CREATED-TIME": "2025-05-20 09:00:00",
        "CT-USERNAME": "ann.smith",
        "CT-COMMENT": "Looking into it",
        "CT-VISIBLE-CUSTOMER": 1,
    }
    row.update(over)
    return row


def timesheet(tid: str, **over: Any) -> dict[str, Any]:
    row = {
        "TS-Title": "Investigation",
        "TS-Hours": 1.5,
        "TS-Date": "2025-05-20",
        "TS-User": "ann.smith",
        "TS-Crm ID": tid,
        "TS-Category": "Investigation",
    }
    row.update(over)
    return row


def write_source(
    path: Path,
    tickets: list[dict[str, Any]],
    comments: list[dict[str, Any]] | None = None,
    timesheets: list[dict[str, Any]] | None = None,
    *,
    skip_tables: tuple[str, ...] = (),
) -> Path:
    """A SQLite source with the export's tables; date columns declared TIMESTAMP, values stored as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    data = {"tickets": tickets, "comments": comments or [], "timesheets": timesheets or []}
    for table, cols in COLUMNS.items():
        if table in skip_tables:
            continue
        con.execute(f"create table {table} ({', '.join(f'{chr(34)}{c}{chr(34)} {t}' for c, t in cols)})")
        names = [c for c, _ in cols]
        con.executemany(
            f"insert into {table} values ({', '.join('?' for _ in names)})",
            [[r.get(n) for n in names] for r in data[table]],
        )
    con.commit()
    con.close()
    return path


def sdrun(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `sdrun` command with its state under `home`."""
    full_env = {**os.environ, "SDRUN_HOME": str(home), **(env or {})}
    return subprocess.run([SDRUN, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def last_report(home: Path) -> dict[str, Any]:
    runs = sorted(p for p in (home / "runs").iterdir() if p.is_dir() and not p.name.startswith("."))
    return json.loads((runs[-1] / "report.json").read_text())


def query(env: dict[str, str], statement: str, params: tuple[Any, ...] = (), user: str | None = None) -> list[tuple]:
    """`statement`'s rows on the PostgreSQL database of `env` (its PG* variables), as `user` if given."""
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"],
                           user=user or env["PGUSER"], connect_timeout=10)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(statement, params or None)
            return cur.fetchall() if cur.description else []
    finally:
        con.close()


# The no_empty_strings test (tests/generic/no_empty_strings.sql) looks at a value's ends instead of
# trimming it; it must fail on exactly the values the marts would not keep as they are
# (exports.clean_text: trimmed, NULL when empty, blank or a sentinel). Candidates around its shortcuts:
UNCLEANED_CANDIDATES = [
    "", " ", "\t", "\u00a0", " \n ", "N/A", "n/a ", " NA", "na", "Na\t", "null", "NULL", "Null\u00a0",
    "(blank)", "(Blank) ", "-", "--", "---", "- -", "?", "??", "#N/B", "#n/a", "none", "None", "Nonet",
    "nan", "Agent Smith", "Agent  Smith", " Agent", "Agent\n", "\u00a0Agent", "Agent\r", "x", "N/A!",
    "nul", "(blank)x", "Ñ/A", "\u2003em space", "a" * 300, " " + "a" * 300, None,
]


def uncleaned(value: str | None) -> bool:
    return value is not None and clean_text(value) != value


def no_empty_strings_finds(run_compiled_test: Any, compiled: Path, relation: str) -> list[str]:
    """Runs the compiled no_empty_strings test of `compiled` with its model replaced by `relation`
    (a table of one column, `value`, holding UNCLEANED_CANDIDATES); returns the values it fails on."""
    sql = compiled.read_text(encoding="utf-8")
    model = re.search(r"from\s+(\S+)\s*\n\s*where", sql)
    column = re.search(r"select\s+(\S+)\s+as uncleaned_value", sql)
    assert model and column, sql
    sql = sql.replace(model.group(1), relation).replace(column.group(1), "value")
    return sorted(r[0] for r in run_compiled_test(sql))
