"""`sdrun demo-data`: the demo source's shape, determinism, and that its summary tells the exact truth.

Every test reads a real SQLite file written by `generate` into tmp_path. The defect counts are
re-derived from the file by an independent classifier (and by plain SQL for the table-level ones)
and must equal what the summary says was injected.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.demo_data import DemoSummary, generate
from orchestrator.errors import UsageError

TICKET_COLUMNS = [
    "TKT-Ticket ID", "TKT-Title", "TKT-Status", "TKT-Priority", "TKT-Category", "TKT-Team",
    "TKT-Assigned To", "TKT-Created Time", "TKT-Actual Response Date", "TKT-Actual Resolution Date",
    "TKT-Closed Time", "TKT-SLA Met",
]  # fmt: skip
COMMENT_COLUMNS = ["CT-COMMENT-ID", "CT-TKT-ID", "CT-CREATED-TIME", "CT-USERNAME", "CT-COMMENT",
                   "CT-VISIBLE-CUSTOMER"]  # fmt: skip
TIMESHEET_COLUMNS = ["TS-Title", "TS-Hours", "TS-Date", "TS-User", "TS-Crm ID", "TS-Category"]
TICKET_DATES = ["TKT-Created Time", "TKT-Actual Response Date", "TKT-Actual Resolution Date",
                "TKT-Closed Time"]  # fmt: skip

STATUSES = {"Open", "In Progress", "Pending", "Waiting on Customer", "On Hold", "Resolved", "Closed"}
OPEN_STATUSES = {"Open", "In Progress", "Pending", "Waiting on Customer", "On Hold"}
PRIORITIES = {"P1", "P2", "P3", "P4"}
CATEGORIES = {"Hardware", "Software", "Network", "Access", "Email", "Printing", "Other"}
TEAMS = {"Service Desk", "Infrastructure", "Applications", "Network Ops", "Security"}
TS_CATEGORIES = {"Investigation", "Fix", "Communication", "Documentation", "Meeting"}
SENTINELS = {"N/A", "-", "NULL", "n/a"}

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DD_MM = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{1,2}):(\d{2})$")


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _valid(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def _is_dd_mm(value: str) -> bool:
    return bool(DD_MM.match(value)) and _valid(value, "%d/%m/%Y %H:%M")


def _classify(column: str, value: object) -> str | None:
    """The defect kind of one stored value, None when clean ("null" for a genuine NULL)."""
    if value is None:
        return "null"
    if column == "CT-VISIBLE-CUSTOMER":
        return None if value in (0, 1) and isinstance(value, int) else "unknown"
    if column == "TS-Hours":
        if isinstance(value, float):
            return None if 0.25 <= value <= 8 and (value * 4).is_integer() else "unknown"
        assert isinstance(value, str)
        if "," in value and (float(value.replace(",", ".")) * 4).is_integer():
            return "decimal_comma"
        return "unknown"
    assert isinstance(value, str), (column, value)
    if value == "":
        return "empty"
    if value in SENTINELS:
        return "sentinel"
    if column in TICKET_DATES or column == "CT-CREATED-TIME":
        if ISO_DATETIME.match(value) and _valid(value, "%Y-%m-%d %H:%M:%S"):
            return None
        return "dd_mm_yyyy" if _is_dd_mm(value) else "unparseable"
    if column == "TS-Date":
        return None if ISO_DATE.match(value) and _valid(value, "%Y-%m-%d") else "unparseable"
    if column == "TKT-Ticket ID":
        return None if value.isdigit() else "non_numeric"
    vocab = {
        "TKT-Status": STATUSES, "TKT-Priority": PRIORITIES, "TKT-Category": CATEGORIES, "TKT-Team": TEAMS,
        "TKT-SLA Met": {"Yes", "No"}, "TS-Category": TS_CATEGORIES,
    }.get(column)  # fmt: skip
    if vocab is not None:
        if value in vocab:
            return None
        if value.strip(" \t") in vocab:
            return "whitespace"
        if value.strip(" \t").lower() in {v.lower() for v in vocab}:
            return "case_variant"
        return "unknown"
    return "whitespace" if value != value.strip(" \t") else None


def _found_in_file(path: Path) -> tuple[dict, dict]:
    """(injected, nulls) as re-derived from the file, in the summary's shape."""
    injected: dict[str, dict[str, dict[str, int]]] = {}
    nulls: dict[str, dict[str, int]] = {}
    with _connect(path) as con:
        for table in ("tickets", "comments", "timesheets"):
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            per_col: dict[str, dict[str, int]] = {}
            table_nulls: dict[str, int] = {}
            for col in cols:
                for (value,) in con.execute(f'SELECT "{col}" FROM "{table}" ORDER BY rowid'):
                    kind = _classify(col, value)
                    if kind == "null":
                        table_nulls[col] = table_nulls.get(col, 0) + 1
                    elif kind is not None:
                        per_col.setdefault(col, {}).setdefault(kind, 0)
                        per_col[col][kind] += 1
            table_level: dict[str, int] = {}
            if table == "tickets":
                (dups,) = con.execute(
                    'SELECT count(*) - count(DISTINCT "TKT-Ticket ID") FROM tickets'
                ).fetchone()
                if dups:
                    table_level["duplicate_key"] = dups
            else:
                fk = "CT-TKT-ID" if table == "comments" else "TS-Crm ID"
                (orphans,) = con.execute(
                    f'SELECT count(*) FROM "{table}" '
                    f'WHERE "{fk}" NOT IN (SELECT "TKT-Ticket ID" FROM tickets)'
                ).fetchone()
                if orphans:
                    table_level["orphan_ticket"] = orphans
            if table_level:
                per_col["_table"] = table_level
            injected[table] = per_col
            nulls[table] = table_nulls
    return injected, nulls


def _canonical_dump(path: Path) -> str:
    """sha256 over every table's schema and rows (with storage classes), in rowid order."""
    h = hashlib.sha256()
    with _connect(path) as con:
        for (name, sql) in con.execute("SELECT name, sql FROM sqlite_master ORDER BY name"):
            h.update(f"{name}\n{sql}\n".encode())
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
            select = ", ".join(f'"{c}", typeof("{c}")' for c in cols)
            for row in con.execute(f'SELECT rowid, {select} FROM "{name}" ORDER BY rowid'):
                h.update(repr(row).encode())
                h.update(b"\n")
    return h.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """One scale-0.1 source shared by the read-only tests."""
    return generate(tmp_path_factory.mktemp("demo") / "demo.db", scale=0.1, seed=42)


# ------------------------------------------------------------------------------------------------
# counts and shape
# ------------------------------------------------------------------------------------------------


def test_scale_1_has_the_reference_row_counts_and_one_duplicate(tmp_path: Path) -> None:
    out = tmp_path / "demo.db"
    summary = generate(out, scale=1.0, seed=42)
    expected = {"tickets": 10_939, "comments": 108_129, "timesheets": 141_062}
    assert summary.rows == expected
    with _connect(out) as con:
        for table, n in expected.items():
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == n
        dup_ids = con.execute(
            'SELECT "TKT-Ticket ID" FROM tickets GROUP BY 1 HAVING count(*) > 1'
        ).fetchall()
        assert len(dup_ids) == 1
        assert con.execute(
            'SELECT count(*) FROM tickets WHERE "TKT-Ticket ID" = ?', dup_ids[0]
        ).fetchone()[0] == 2
        comments_per_ticket = expected["comments"] / expected["tickets"]
        assert 9 <= comments_per_ticket <= 11
        for table, fk in (("comments", "CT-TKT-ID"), ("timesheets", "TS-Crm ID")):
            orphans = con.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{fk}" NOT IN (SELECT "TKT-Ticket ID" FROM tickets)'
            ).fetchone()[0]
            assert orphans == summary.injected[table]["_table"]["orphan_ticket"]
            assert 0.001 * expected[table] <= orphans <= 0.003 * expected[table]
    assert summary.injected["tickets"]["_table"] == {"duplicate_key": 1}
    day_first = sum(summary.injected["tickets"].get(c, {}).get("dd_mm_yyyy", 0) for c in TICKET_DATES)
    dated = 4 * expected["tickets"] - sum(summary.nulls["tickets"].get(c, 0) for c in TICKET_DATES)
    assert 0.0006 * dated <= day_first <= 0.001 * dated  # about 0.08 %


@pytest.mark.parametrize(
    ("scale", "rows"),
    [
        (0.0001, {"tickets": 1, "comments": 11, "timesheets": 14}),
        (0.01, {"tickets": 109, "comments": 1081, "timesheets": 1411}),
        (0.05, {"tickets": 547, "comments": 5406, "timesheets": 7053}),
    ],
)
def test_row_counts_follow_the_scale(tmp_path: Path, scale: float, rows: dict[str, int]) -> None:
    out = tmp_path / "demo.db"
    summary = generate(out, scale=scale, seed=7)
    assert summary.rows == rows
    with _connect(out) as con:
        for table, n in rows.items():
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == n
    dups = summary.injected["tickets"].get("_table", {}).get("duplicate_key", 0)
    assert dups == (1 if scale >= 0.05 else 0)
    found, nulls = _found_in_file(out)
    assert found == summary.injected
    assert nulls == summary.nulls


def test_declared_types_and_storage_classes(small: DemoSummary) -> None:
    with _connect(small.path) as con:
        declared = {
            t: [(r[1], r[2]) for r in con.execute(f'PRAGMA table_info("{t}")')]
            for t in ("tickets", "comments", "timesheets")
        }
        assert [c for c, _ in declared["tickets"]] == TICKET_COLUMNS
        assert [c for c, _ in declared["comments"]] == COMMENT_COLUMNS
        assert [c for c, _ in declared["timesheets"]] == TIMESHEET_COLUMNS
        types = {c: d for cols in declared.values() for c, d in cols}
        for col in [*TICKET_DATES, "CT-CREATED-TIME", "TS-Date"]:
            assert types[col] == "TIMESTAMP"
        for col in ("TKT-Ticket ID", "CT-COMMENT-ID", "CT-TKT-ID", "TS-Crm ID", "TKT-SLA Met"):
            assert types[col] == "TEXT"
        assert types["TS-Hours"] == "REAL"
        assert types["CT-VISIBLE-CUSTOMER"] == "INTEGER"

        def storage(table: str, col: str) -> dict[str, int]:
            return dict(con.execute(f'SELECT typeof("{col}"), count(*) FROM "{table}" GROUP BY 1'))

        for col in TICKET_DATES:
            assert set(storage("tickets", col)) <= {"text", "null"}
        assert set(storage("tickets", "TKT-Created Time")) == {"text"}
        assert set(storage("comments", "CT-CREATED-TIME")) == {"text"}
        assert set(storage("timesheets", "TS-Date")) == {"text"}
        for table, col in (("tickets", "TKT-Ticket ID"), ("comments", "CT-COMMENT-ID"),
                           ("comments", "CT-TKT-ID"), ("timesheets", "TS-Crm ID")):  # fmt: skip
            assert set(storage(table, col)) == {"text"}
        assert set(storage("comments", "CT-VISIBLE-CUSTOMER")) == {"integer"}
        hours = storage("timesheets", "TS-Hours")
        assert set(hours) == {"real", "text"}
        assert hours["text"] == small.injected["timesheets"]["TS-Hours"]["decimal_comma"]
        assert hours["real"] > 0.99 * small.rows["timesheets"]
        # ids look like numbers, except a handful of test tickets
        assert con.execute(
            'SELECT count(*) FROM tickets WHERE "TKT-Ticket ID" GLOB \'TEST-[0-9]*\''
        ).fetchone()[0] == small.injected["tickets"]["TKT-Ticket ID"]["non_numeric"] >= 1


# ------------------------------------------------------------------------------------------------
# the summary tells the truth
# ------------------------------------------------------------------------------------------------


def test_injected_counts_match_the_file(small: DemoSummary) -> None:
    found, nulls = _found_in_file(small.path)
    assert found == small.injected
    assert nulls == small.nulls
    # every kind the brief asks for is present at this scale
    kinds = {k for cols in small.injected.values() for per in cols.values() for k in per}
    assert kinds >= {"dd_mm_yyyy", "empty", "sentinel", "unparseable", "whitespace", "case_variant",
                     "decimal_comma", "orphan_ticket", "duplicate_key"}  # fmt: skip
    for table in ("tickets", "comments", "timesheets"):
        assert sum(small.injected[table].get(c, {}).get("unparseable", 0) for c in small.injected[table]) >= 1


def test_day_first_dates_per_column_by_sql(small: DemoSummary) -> None:
    """Count 'DD/MM/YYYY H:MM' values per ticket date column with SQL, compare with the summary."""
    total_low = total_high = 0
    with _connect(small.path) as con:
        for col in TICKET_DATES:
            candidates = [
                v
                for (v,) in con.execute(
                    f'SELECT "{col}" FROM tickets WHERE "{col}" GLOB '
                    "'[0-3][0-9]/[01][0-9]/[0-9][0-9][0-9][0-9] *[0-9]:[0-5][0-9]'"
                )
            ]
            day_first = [v for v in candidates if _is_dd_mm(v)]
            assert len(day_first) == small.injected["tickets"].get(col, {}).get("dd_mm_yyyy", 0), col
            for v in day_first:
                day, month, year, hour, _ = DD_MM.match(v).groups()  # type: ignore[union-attr]
                assert year == "2025" and 4 <= int(month) <= 7
                assert hour == str(int(hour)), f"hour must not be zero-padded: {v!r}"
                total_low += int(day) <= 12
                total_high += int(day) > 12
    assert total_low >= 1, "some day-first dates must be ambiguous (day <= 12)"
    assert total_high >= 1, "some day-first dates must be unambiguous (day > 12)"


def test_orphans_and_duplicates_by_sql(small: DemoSummary) -> None:
    with _connect(small.path) as con:
        orphan_comments = con.execute(
            'SELECT count(*) FROM comments WHERE "CT-TKT-ID" NOT IN (SELECT "TKT-Ticket ID" FROM tickets)'
        ).fetchone()[0]
        orphan_timesheets = con.execute(
            'SELECT count(*) FROM timesheets WHERE "TS-Crm ID" NOT IN (SELECT "TKT-Ticket ID" FROM tickets)'
        ).fetchone()[0]
        dup_rows = con.execute(
            'SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM tickets GROUP BY "TKT-Ticket ID")'
        ).fetchone()[0]
    assert orphan_comments == small.injected["comments"]["_table"]["orphan_ticket"] > 0
    assert orphan_timesheets == small.injected["timesheets"]["_table"]["orphan_ticket"] > 0
    assert 0.001 * small.rows["comments"] <= orphan_comments <= 0.003 * small.rows["comments"]
    assert dup_rows == small.injected["tickets"]["_table"]["duplicate_key"] == 1


def test_summary_json_and_description(small: DemoSummary) -> None:
    doc = json.loads(small.to_json())
    assert doc["path"] == str(small.path)
    assert doc["seed"] == 42 and doc["scale"] == 0.1
    assert doc["rows"] == small.rows
    assert doc["injected"] == small.injected
    text = small.describe()
    assert len(text.splitlines()) <= 6
    assert "1,094 tickets" in text and "10,813 comments" in text and "14,106 timesheets" in text
    total = sum(n for cols in small.injected.values() for per in cols.values() for n in per.values())
    assert f"{total:,}" in text


# ------------------------------------------------------------------------------------------------
# realism
# ------------------------------------------------------------------------------------------------


def test_content_is_plausible(small: DemoSummary) -> None:
    with _connect(small.path) as con:
        statuses = dict(con.execute('SELECT "TKT-Status", count(*) FROM tickets GROUP BY 1'))
        done = statuses.get("Resolved", 0) + statuses.get("Closed", 0)
        assert done > 0.8 * small.rows["tickets"]
        assert sum(n for s, n in statuses.items() if s in OPEN_STATUSES) > 0

        for status, created, response, resolved, closed, sla in con.execute(
            'SELECT "TKT-Status", "TKT-Created Time", "TKT-Actual Response Date", '
            '"TKT-Actual Resolution Date", "TKT-Closed Time", "TKT-SLA Met" '
            "FROM tickets WHERE \"TKT-Created Time\" GLOB '2025-*'"
        ):
            assert "2025-04-01" <= created < "2025-07-01"
            if status in OPEN_STATUSES:
                assert resolved is None and closed is None and sla is None
            if status == "Resolved":
                assert closed is None
            if status == "Closed":
                assert closed is not None
            times = [t for t in (created, response, resolved, closed) if t and ISO_DATETIME.match(t)]
            assert times == sorted(times), (created, response, resolved, closed)
            assert all(t <= "2025-07-01 06:00:00" for t in times)
            if status in ("Resolved", "Closed"):
                assert sla in {"Yes", "No"} | SENTINELS

        # most tickets are raised in office hours
        hours = [int(c[11:13]) for (c,) in con.execute('SELECT "TKT-Created Time" FROM tickets')
                 if ISO_DATETIME.match(c)]  # fmt: skip
        assert sum(8 <= h < 18 for h in hours) > 0.7 * len(hours)

        # comments fall inside their ticket's life
        bad = con.execute(
            'SELECT count(*) FROM comments c JOIN tickets t ON t."TKT-Ticket ID" = c."CT-TKT-ID" '
            'WHERE c."CT-CREATED-TIME" GLOB \'2025-*\' AND t."TKT-Created Time" GLOB \'2025-*\' '
            'AND c."CT-CREATED-TIME" < t."TKT-Created Time"'
        ).fetchone()[0]
        assert bad == 0
        agents = {a for (a,) in con.execute('SELECT DISTINCT "TKT-Assigned To" FROM tickets')
                  if a and a.strip() == a and a not in SENTINELS}  # fmt: skip
        assert 30 <= len(agents) <= 45
        visible = dict(con.execute('SELECT "CT-VISIBLE-CUSTOMER", count(*) FROM comments GROUP BY 1'))
        assert set(visible) == {0, 1}
        # timesheets: quarter hours, dates within the ticket's life, an agent as user
        for (h,) in con.execute('SELECT "TS-Hours" FROM timesheets WHERE typeof("TS-Hours") = \'real\''):
            assert 0.25 <= h <= 8 and (h * 4).is_integer()
        ts_users = {u for (u,) in con.execute('SELECT DISTINCT "TS-User" FROM timesheets')}
        assert {u for u in ts_users if u.strip() == u and u not in SENTINELS} <= agents | {
            a for (a,) in con.execute('SELECT DISTINCT "CT-USERNAME" FROM comments')
        }
        bad = con.execute(
            'SELECT count(*) FROM timesheets s JOIN tickets t ON t."TKT-Ticket ID" = s."TS-Crm ID" '
            'WHERE s."TS-Date" GLOB \'2025-*\' AND t."TKT-Created Time" GLOB \'2025-*\' '
            'AND s."TS-Date" < substr(t."TKT-Created Time", 1, 10)'
        ).fetchone()[0]
        assert bad == 0


# ------------------------------------------------------------------------------------------------
# determinism and writing
# ------------------------------------------------------------------------------------------------


def test_same_seed_same_content_other_seed_other_content(tmp_path: Path) -> None:
    a = generate(tmp_path / "a.db", scale=0.02, seed=11)
    b = generate(tmp_path / "b.db", scale=0.02, seed=11)
    c = generate(tmp_path / "c.db", scale=0.02, seed=12)
    assert _canonical_dump(a.path) == _canonical_dump(b.path)
    assert _sha256(a.path) == _sha256(b.path)  # byte-identical files, too
    assert a.injected == b.injected and a.nulls == b.nulls
    assert _canonical_dump(a.path) != _canonical_dump(c.path)


def test_refuses_to_overwrite_and_force_replaces(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "dir" / "demo.db"  # parents are created
    generate(out, scale=0.005, seed=1)
    before = _sha256(out)
    with pytest.raises(UsageError, match="already exists"):
        generate(out, scale=0.005, seed=2)
    assert _sha256(out) == before
    generate(out, scale=0.005, seed=2, force=True)
    assert _sha256(out) != before
    assert sorted(p.name for p in out.parent.iterdir()) == ["demo.db"], "no temporary file left behind"


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf")])
def test_rejects_a_scale_that_is_not_positive(tmp_path: Path, scale: float) -> None:
    with pytest.raises(UsageError, match="--scale"):
        generate(tmp_path / "demo.db", scale=scale)
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_to_overwrite_with_one_error_line(tmp_path: Path) -> None:
    out = tmp_path / "demo.db"
    runner = CliRunner()
    first = runner.invoke(app, ["demo-data", "--out", str(out), "--scale", "0.005", "--seed", "3"])
    assert first.exit_code == 0, first.output
    assert "tickets" in first.stdout
    before = _sha256(out)

    again = runner.invoke(app, ["demo-data", "--out", str(out), "--scale", "0.005"])
    assert again.exit_code == 2
    lines = [line for line in again.output.splitlines() if line.strip()]
    assert lines == [f"Error: {out}: already exists (use --force to overwrite)"]
    assert _sha256(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db"]


def test_cli_force_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "demo.db"
    manifest = tmp_path / "m" / "injected.json"
    out.write_bytes(b"old")
    args = ["demo-data", "--out", str(out), "--scale", "0.02", "--seed", "5", "--force"]
    result = CliRunner().invoke(app, [*args, "--manifest", str(manifest)])
    assert result.exit_code == 0, result.output
    doc = json.loads(manifest.read_text())
    assert doc["rows"] == {"tickets": 219, "comments": 2163, "timesheets": 2821}
    found, nulls = _found_in_file(out)
    assert doc["injected"] == found
    assert doc["nulls"] == nulls


def test_removes_temporaries_of_killed_runs_only(tmp_path: Path) -> None:
    dead = tmp_path / ".demo.db.999999999.tmp"  # above any Linux pid_max: that run is gone
    alive = tmp_path / f".demo.db.{os.getppid()}.tmp"  # a live process: maybe still writing
    dead.write_bytes(b"half")
    alive.write_bytes(b"busy")
    generate(tmp_path / "demo.db", scale=0.001)
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "demo.db"]
