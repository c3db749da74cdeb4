"""`sdrun demo-data`: the demo source's shape, determinism, and that its summary tells the exact truth.

Every test reads a real SQLite file written by `generate` into tmp_path. The defect counts are
re-derived from the file by an independent classifier (and by plain SQL for the table-level ones
and the foreign forms) and must equal what the summary says was injected. Statuses and priority
spellings are checked against the seeds, read here with the csv module.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.core.errors import UsageError
from orchestrator.demo import catalog, generator, streams
from orchestrator.demo.generator import DemoSummary, generate

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

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _seed(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# the seeds define the statuses: raw_value (lower-cased) -> group, group -> backlog or not
STATUS_GROUP = {r["raw_value"].strip().lower(): r["status_group"].strip() for r in _seed("status_map.csv")}
IS_BACKLOG = {r["status_group"].strip(): r["is_backlog"].strip().lower() == "true"
              for r in _seed("status_groups.csv")}  # fmt: skip
PRIORITY_MAP = {r["raw_value"].strip().lower(): r["priority"].strip() for r in _seed("priority_map.csv")}


def _title(raw: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in raw.split(" "))


STATUSES = {_title(raw) for raw in STATUS_GROUP}  # every display spelling the demo may write
PRIORITIES = {"P1", "P2", "P3", "P4"}
PRIORITY_SPELLINGS = {"1 - Critical": "P1", "2 - High": "P2", "3 - Moderate": "P3", "4 - Low": "P4",
                      "Urgent": "P1", "High": "P2", "Normal": "P3", "Low": "P4"}  # fmt: skip
CATEGORIES = {"Hardware", "Software", "Network", "Access Request", "E-mail", "Printing", "Other"}
TEAMS = {"Service Desk", "Infrastructure", "Applications", "Network Ops", "Security"}
TS_CATEGORIES = {"Investigation", "Fix", "Communication", "Documentation", "Meeting"}
SENTINELS = {"N/A", "-", "NULL", "n/a"}

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DD_MM = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{1,2}):(\d{2})$")
US_12H = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([AP]M)$")
MONTH_SHORT = re.compile(r"^(\d{2})-([A-Z][a-z]{2})-(\d{4}) (\d{2}):(\d{2})$")  # 20-May-2025 08:42
MONTH_LONG = re.compile(r"^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}) (\d{1,2}):(\d{2}) ([AP]M)$")  # May 20, 2025 8:42 PM
ISO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"), 1)}  # fmt: skip


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


def _hour_24(hour: str, ampm: str) -> int:
    h = int(hour)
    assert 1 <= h <= 12, hour
    return h % 12 + (12 if ampm == "PM" else 0)


def _as_utc(value: str) -> tuple[str, datetime] | None:
    """(kind, naive UTC time) of a value in one of the foreign date forms; None for any other."""
    if m := US_12H.match(value):
        month, day, year, hour, minute, sec, ampm = m.groups()
        when = datetime(int(year), int(month), int(day), _hour_24(hour, ampm), int(minute), int(sec))
        return "us_12h", when
    if (m := MONTH_SHORT.match(value)) and m.group(2) in MONTHS:
        day, mon, year, hour, minute = m.groups()
        return "month_name", datetime(int(year), MONTHS[mon], int(day), int(hour), int(minute))
    if (m := MONTH_LONG.match(value)) and m.group(1) in MONTHS:
        mon, day, year, hour, minute, ampm = m.groups()
        return "month_name", datetime(int(year), MONTHS[mon], int(day), _hour_24(hour, ampm), int(minute))
    if ISO_OFFSET.match(value):
        aware = datetime.fromisoformat(value)
        assert aware.utcoffset() != timedelta(0) or value.endswith("+00:00"), value
        return "iso_offset", aware.astimezone(UTC).replace(tzinfo=None)
    return None


def _decimals(value: float) -> int:
    text = repr(value)
    assert "e" not in text, text
    return len(text.split(".")[1]) if "." in text else 0


def _classify(column: str, value: object) -> str | None:
    """The defect kind of one stored value, None when clean ("null" for a genuine NULL)."""
    if value is None:
        return "null"
    if column == "CT-VISIBLE-CUSTOMER":
        return None if value in (0, 1) and isinstance(value, int) else "unknown"
    if column == "TS-Hours":
        if isinstance(value, float):
            minutes = value * 60
            if not (1 <= round(minutes) <= 480 and abs(minutes - round(minutes)) < 1e-9):
                return "unknown"  # neither quarter hours nor a timer's minutes
            return "real_hours" if _decimals(value) > 6 else None
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
        if _is_dd_mm(value):
            return "dd_mm_yyyy"
        try:
            foreign = _as_utc(value)
        except ValueError:  # a form's shape but no valid date: the demo writes none such
            return "invalid_foreign_date"
        return foreign[0] if foreign is not None else "unparseable"
    if column == "TS-Date":
        return None if ISO_DATE.match(value) and _valid(value, "%Y-%m-%d") else "unparseable"
    if column == "TKT-Ticket ID":
        return None if value.isdigit() else "non_numeric"
    if column == "TKT-Priority" and value in PRIORITY_SPELLINGS:
        return "priority_spelling"
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
        return "unknown_status" if column == "TKT-Status" else "unknown"
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
                (dups,) = con.execute('SELECT count(*) - count(DISTINCT "TKT-Ticket ID") FROM tickets').fetchone()
                if dups:
                    table_level["duplicate_key"] = dups
            else:
                fk = "CT-TKT-ID" if table == "comments" else "TS-Crm ID"
                (orphans,) = con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{fk}" NOT IN (SELECT "TKT-Ticket ID" FROM tickets)'
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
        for name, sql in con.execute("SELECT name, sql FROM sqlite_master ORDER BY name"):
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


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """The scale-1 source (seed 42) shared by the tests of counts and rates at the reference size."""
    return generate(tmp_path_factory.mktemp("demo_full") / "demo.db", scale=1.0, seed=42)


NEW_KINDS = {  # kind -> (table, column) of the forms real exports bring and the demo now writes
    "real_hours": ("timesheets", "TS-Hours"),
    "unknown_status": ("tickets", "TKT-Status"),
    "priority_spelling": ("tickets", "TKT-Priority"),
    "us_12h": ("tickets", "TKT-Actual Resolution Date"),
    "month_name": ("comments", "CT-CREATED-TIME"),
    "iso_offset": ("tickets", "TKT-Actual Response Date"),
}


# ------------------------------------------------------------------------------------------------
# counts and shape
# ------------------------------------------------------------------------------------------------


def test_scale_1_has_the_reference_row_counts_and_one_duplicate(full: DemoSummary) -> None:
    out, summary = full.path, full
    expected = {"tickets": 10_939, "comments": 108_129, "timesheets": 141_062}
    assert summary.rows == expected
    with _connect(out) as con:
        for table, n in expected.items():
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == n
        dup_ids = con.execute('SELECT "TKT-Ticket ID" FROM tickets GROUP BY 1 HAVING count(*) > 1').fetchall()
        assert len(dup_ids) == 1
        assert con.execute('SELECT count(*) FROM tickets WHERE "TKT-Ticket ID" = ?', dup_ids[0]).fetchone()[0] == 2
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
        assert (
            con.execute("SELECT count(*) FROM tickets WHERE \"TKT-Ticket ID\" GLOB 'TEST-[0-9]*'").fetchone()[0]
            == small.injected["tickets"]["TKT-Ticket ID"]["non_numeric"]
            >= 1
        )


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
                     "decimal_comma", "orphan_ticket", "duplicate_key", *NEW_KINDS}  # fmt: skip
    for kind, (table, column) in NEW_KINDS.items():  # each form only where it belongs
        assert small.injected[table][column][kind] > 0, kind
        others = [(t, c) for t, cols in small.injected.items() for c, per in cols.items() if kind in per]
        assert others == [(table, column)], kind
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
# the forms real exports bring: counted back with SQL, exact, at realistic rates
# ------------------------------------------------------------------------------------------------


def _count_sql(con: sqlite3.Connection, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


def _forms_by_sql(con: sqlite3.Connection) -> dict[str, int]:
    """Each new kind counted with plain SQL (GLOB shapes, typeof, round), not the classifier."""
    spellings = ", ".join(f"'{v}'" for v in PRIORITY_SPELLINGS)
    seeded = ", ".join("'" + raw.replace("'", "''") + "'" for raw in STATUS_GROUP)
    return {
        "real_hours": _count_sql(con, 'SELECT count(*) FROM timesheets WHERE typeof("TS-Hours") = \'real\' '
                                      'AND round("TS-Hours", 6) <> "TS-Hours"'),
        "unknown_status": _count_sql(con, 'SELECT count(*) FROM tickets WHERE '
                                          f"lower(trim(\"TKT-Status\", ' ' || char(9))) NOT IN ({seeded})"),
        "priority_spelling": _count_sql(con, f'SELECT count(*) FROM tickets WHERE "TKT-Priority" IN ({spellings})'),
        "us_12h": _count_sql(con, 'SELECT count(*) FROM tickets WHERE "TKT-Actual Resolution Date" GLOB '
                                  "'[01][0-9]/[0-3][0-9]/2025 [01][0-9]:[0-5][0-9]:[0-5][0-9] [AP]M'"),
        "month_name": _count_sql(con, 'SELECT count(*) FROM comments WHERE "CT-CREATED-TIME" GLOB '
                                      "'[0-3][0-9]-[A-Z][a-z][a-z]-2025 [0-2][0-9]:[0-5][0-9]' "
                                      'OR "CT-CREATED-TIME" GLOB '
                                      "'[A-Z][a-z][a-z] *, 2025 *:[0-5][0-9] [AP]M'"),
        "iso_offset": _count_sql(con, 'SELECT count(*) FROM tickets WHERE "TKT-Actual Response Date" GLOB '
                                      "'2025-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9][+-][01][0-9]:[0-5][0-9]'"),
    }  # fmt: skip


@pytest.mark.parametrize("which", ["small", "full"])
def test_new_forms_counted_exactly_by_sql(which: str, request: pytest.FixtureRequest) -> None:
    summary: DemoSummary = request.getfixturevalue(which)
    with _connect(summary.path) as con:
        found = _forms_by_sql(con)
        # the same kinds found nowhere else: no stray shape in the other date columns
        for col in ("TKT-Created Time", "TKT-Actual Response Date", "TKT-Closed Time"):
            assert _count_sql(con, f"SELECT count(*) FROM tickets WHERE \"{col}\" GLOB '*[AP]M'") == 0, col
        for col in ("TKT-Created Time", "TKT-Actual Resolution Date", "TKT-Closed Time"):
            assert _count_sql(con, f"SELECT count(*) FROM tickets WHERE \"{col}\" GLOB '*T*[+-]*:*'") == 0, col
    for kind, (table, column) in NEW_KINDS.items():
        assert found[kind] == summary.injected[table][column][kind] > 0, kind


def test_new_forms_are_valid_and_mean_what_they_replace(small: DemoSummary) -> None:
    """Every foreign date is a valid date in the quarter; offsets denote the UTC instant replaced;
    US dates carry their own month-first evidence; priority spellings map to P1..P4 in the seed."""
    with _connect(small.path) as con:
        rows = con.execute(
            'SELECT "TKT-Created Time", "TKT-Actual Response Date", "TKT-Actual Resolution Date" FROM tickets'
        ).fetchall()
        us_days = []
        n_offset = 0
        for created, response, resolved in rows:
            for value, kind in ((response, "iso_offset"), (resolved, "us_12h")):
                if value is None or (foreign := _as_utc(value)) is None:
                    continue
                assert foreign[0] == kind, value
                assert datetime(2025, 4, 1) <= foreign[1] <= datetime(2025, 7, 1, 6), value
                if kind == "us_12h":
                    us_days.append(int(value[3:5]))
                    assert value[11:13] != "00", value  # a 12-hour clock: 12:05 AM, never 00:05 AM
                else:
                    n_offset += 1
                    offset = datetime.fromisoformat(value).utcoffset()
                    assert offset is not None and offset != timedelta(0), value
                    if ISO_DATETIME.match(created):  # responded after creation, as UTC
                        assert foreign[1] > datetime.fromisoformat(created), (created, value)
        assert n_offset == small.injected["tickets"]["TKT-Actual Response Date"]["iso_offset"]
        assert len(us_days) == small.injected["tickets"]["TKT-Actual Resolution Date"]["us_12h"]
        assert sum(d > 12 for d in us_days) >= len(us_days) / 2, "most US dates must show day > 12"
        assert sum(d <= 12 for d in us_days) >= 1, "some US dates are ambiguous, as real ones are"

        forms = {"short": 0, "long": 0}
        for (value,) in con.execute('SELECT "CT-CREATED-TIME" FROM comments'):
            if (foreign := _as_utc(value)) is not None:
                assert foreign[0] == "month_name"
                assert datetime(2025, 4, 1) <= foreign[1] <= datetime(2025, 7, 1, 6), value
                forms["short" if MONTH_SHORT.match(value) else "long"] += 1
        assert forms["short"] > 0 and forms["long"] > 0, forms

        tools = set()
        for (value,) in con.execute('SELECT DISTINCT "TKT-Priority" FROM tickets'):
            if value in PRIORITY_SPELLINGS:
                assert PRIORITY_MAP[value.lower()] == PRIORITY_SPELLINGS[value], value
                tools.add("servicenow" if value[0].isdigit() else "zendesk")
        assert tools == {"servicenow", "zendesk"}

        # hours: a timer's minutes as REAL with their many decimals, quarter hours, '1,5' as text
        reals = [h for (h,) in con.execute('SELECT "TS-Hours" FROM timesheets WHERE typeof("TS-Hours") = \'real\'')]
        assert sum(_decimals(h) > 6 for h in reals) > 0.5 * small.rows["timesheets"]  # most of them
        assert 13 / 60 in reals and 0.25 in reals
        texts = [h for (h,) in con.execute('SELECT "TS-Hours" FROM timesheets WHERE typeof("TS-Hours") = \'text\'')]
        assert texts and all(re.fullmatch(r"\d+,\d{1,2}", h) for h in texts), texts[:5]


def test_formatters_round_trip() -> None:
    def t_of(when: datetime) -> int:
        return int((when - datetime(2025, 4, 1)).total_seconds())

    t = t_of(datetime(2025, 5, 20, 20, 42, 13))
    assert catalog._us_12h(t) == "05/20/2025 08:42:13 PM"
    assert catalog._us_12h(t_of(datetime(2025, 5, 20, 0, 5, 0))) == "05/20/2025 12:05:00 AM"
    assert catalog._us_12h(t_of(datetime(2025, 5, 20, 12, 30, 0))) == "05/20/2025 12:30:00 PM"
    assert catalog._month_name(t, long_form=False) == "20-May-2025 20:42"
    assert catalog._month_name(t, long_form=True) == "May 20, 2025 8:42 PM"
    assert catalog._month_name(t_of(datetime(2025, 6, 3, 9, 7)), long_form=False) == "03-Jun-2025 09:07"
    t = t_of(datetime(2025, 5, 20, 8, 42, 13))
    assert catalog._iso_offset(t, 120) == "2025-05-20T10:42:13+02:00"
    assert catalog._iso_offset(t_of(datetime(2025, 4, 1, 1, 0)), -240) == "2025-03-31T21:00:00-04:00"
    assert catalog._iso_offset(t, 330) == "2025-05-20T14:12:13+05:30"
    for t in range(0, catalog.EXPORT_AT, 7919 * 13):  # across the quarter
        utc = datetime(2025, 4, 1) + timedelta(seconds=t)
        for minutes in catalog.ISO_OFFSETS:
            text = catalog._iso_offset(t, minutes)
            assert datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None) == utc, text
        assert _as_utc(catalog._us_12h(t)) == ("us_12h", utc)
        assert _as_utc(catalog._month_name(t, True)) == ("month_name", utc.replace(second=0))
        assert _as_utc(catalog._month_name(t, False)) == ("month_name", utc.replace(second=0))


def test_new_forms_at_realistic_rates_at_scale_1(full: DemoSummary) -> None:
    inj, rows = full.injected, full.rows
    n_tickets = rows["tickets"]
    dated = {c: n_tickets - full.nulls["tickets"].get(c, 0) for c in TICKET_DATES}
    # each new date form well under 2 % of its column, and a real presence
    assert 0.005 * dated["TKT-Actual Resolution Date"] <= inj["tickets"]["TKT-Actual Resolution Date"]["us_12h"]
    assert inj["tickets"]["TKT-Actual Resolution Date"]["us_12h"] <= 0.015 * dated["TKT-Actual Resolution Date"]
    assert 0.003 * dated["TKT-Actual Response Date"] <= inj["tickets"]["TKT-Actual Response Date"]["iso_offset"]
    assert inj["tickets"]["TKT-Actual Response Date"]["iso_offset"] <= 0.015 * dated["TKT-Actual Response Date"]
    assert 0.001 * rows["comments"] <= inj["comments"]["CT-CREATED-TIME"]["month_name"] <= 0.015 * rows["comments"]
    assert 0.01 * n_tickets <= inj["tickets"]["TKT-Priority"]["priority_spelling"] <= 0.06 * n_tickets
    assert 0.0005 * n_tickets <= inj["tickets"]["TKT-Status"]["unknown_status"] < 0.01 * n_tickets
    assert inj["timesheets"]["TS-Hours"]["real_hours"] > 0.5 * rows["timesheets"]
    assert inj["timesheets"]["TS-Hours"]["decimal_comma"] > 0  # hand-typed '1,5' stays

    with _connect(full.path) as con:
        statuses = dict(con.execute("SELECT trim(\"TKT-Status\", ' '||char(9)), count(*) FROM tickets GROUP BY 1"))
    share = {s: n / n_tickets for s, n in statuses.items()}

    def about(*names: str) -> float:
        return sum(share.get(n, 0.0) + share.get(n.upper(), 0.0) + share.get(n.lower(), 0.0) for n in names)

    assert 0.02 <= about("Cancelled") <= 0.03
    assert 0.008 <= about("Reopened") <= 0.016
    assert 0.01 <= about("Assigned", "Escalated", "Awaiting Customer") <= 0.06
    for name in ("Assigned", "Escalated", "Awaiting Customer", "Solved", "Open", "In Progress", "Pending",
                 "Resolved", "Closed"):  # fmt: skip
        assert share.get(name, 0) > 0, name
    assert about("Open", "In Progress", "Pending", "Resolved", "Closed") > 0.85


# ------------------------------------------------------------------------------------------------
# statuses and categories are the seeds' and the user's
# ------------------------------------------------------------------------------------------------


def test_statuses_come_from_the_seed(small: DemoSummary) -> None:
    """Every status is a seeded raw value, title-cased, in a group its dates agree with; or one of
    the counted unknown ones. The demo's own source holds no list of canonical statuses."""
    unknown = 0
    groups: dict[str, int] = {}
    with _connect(small.path) as con:
        for status, resolved, closed in con.execute(
            'SELECT "TKT-Status", "TKT-Actual Resolution Date", "TKT-Closed Time" FROM tickets'
        ):
            raw = status.strip(" \t").lower()
            if raw not in STATUS_GROUP:
                unknown += 1
                assert status in catalog.UNKNOWN_STATUSES, status
                continue
            group = STATUS_GROUP[raw]
            groups[group] = groups.get(group, 0) + 1
            if status == status.strip(" \t") and not status.isupper() and not status.islower():
                assert status == _title(raw), status  # the display spelling of the seed's raw value
            absent = (None, *SENTINELS)
            if IS_BACKLOG[group]:
                assert resolved in absent and closed in absent, (status, resolved, closed)
            elif group == "resolved":
                assert resolved is not None and closed in absent, (status, resolved, closed)
            else:
                assert resolved is not None and closed is not None, (status, resolved, closed)
    assert unknown == small.injected["tickets"]["TKT-Status"]["unknown_status"]
    assert unknown < 0.01 * small.rows["tickets"]
    assert set(groups) == set(IS_BACKLOG), groups  # every group of the seed is present
    source = "\n".join(Path(m.__file__).read_text(encoding="utf-8") for m in (catalog, generator, streams))
    assert not re.search(r"^STATUSES\b", source, re.M)  # the old hard-coded list is gone
    for display in ("Open", "In Progress", "Pending", "Resolved", "Closed", "Cancelled", "Reopened"):
        assert f'"{display}"' not in source, display  # statuses are written from the seed's raw values


def _copy_seeds(tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds"
    seeds.mkdir(parents=True)
    for name in ("status_map.csv", "status_groups.csv", "priority_map.csv"):
        (seeds / name).write_text((SEEDS / name).read_text(encoding="utf-8"), encoding="utf-8")
    return seeds


def test_vocabulary_is_read_and_checked_from_the_seeds(tmp_path: Path) -> None:
    seeds = _copy_seeds(tmp_path)
    vocab = catalog._vocabulary(seeds)
    assert set(vocab.status_tables["cancelled"]) == {"Cancelled"}
    assert set(vocab.status_tables["working"]) >= {"Assigned", "Escalated", "Awaiting Customer", "In Progress"}
    assert vocab.status_group == STATUS_GROUP
    assert vocab.unknown_statuses == catalog.UNKNOWN_STATUSES

    # a desk status the seed learns is no longer unknown
    with (seeds / "status_map.csv").open("a", encoding="utf-8") as f:
        f.write("parked by vendor,waiting\n")
    learned = seeds.parent / "learned"
    seeds.rename(learned)
    assert "Parked by vendor" not in catalog._vocabulary(learned).unknown_statuses

    # a status the demo writes but the seed lacks, or puts in a group its dates contradict: refused
    for edit, match in (
        (lambda text: text.replace("\ncancelled,cancelled\n", "\n"), "no status 'cancelled'"),
        (lambda text: text.replace("\nreopened,open\n", "\nreopened,closed\n"), "'reopened' in group 'closed'"),
    ):
        bad = _copy_seeds(tmp_path / match.split("'")[1])
        path = bad / "status_map.csv"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
        with pytest.raises(ValueError, match=match):
            catalog._vocabulary(bad)
    bad = _copy_seeds(tmp_path / "prio")
    path = bad / "priority_map.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("\nurgent,P1\n", "\nurgent,P2\n"), encoding="utf-8")
    with pytest.raises(ValueError, match="'Urgent' to P1"):
        catalog._vocabulary(bad)


def test_categories_are_the_users_own(small: DemoSummary) -> None:
    with _connect(small.path) as con:
        written = {c for (c,) in con.execute('SELECT DISTINCT "TKT-Category" FROM tickets') if c}
    clean = {c for c in written if c not in SENTINELS}
    assert {c.strip(" \t") for c in clean} == CATEGORIES
    # one spelling each: whitespace around it at most, never another case
    assert len({c.strip(" \t").lower() for c in clean}) == len(CATEGORIES)
    assert not {c for c in clean if c.strip(" \t") not in CATEGORIES}


def test_new_forms_are_deterministic(tmp_path: Path, small: DemoSummary) -> None:
    again = generate(tmp_path / "again.db", scale=0.1, seed=42)
    assert _sha256(again.path) == _sha256(small.path)  # byte-identical to the shared source
    assert again.injected == small.injected
    other = generate(tmp_path / "other.db", scale=0.1, seed=43)
    with _connect(small.path) as a, _connect(other.path) as b:
        ours = a.execute(
            'SELECT "TKT-Actual Resolution Date" FROM tickets WHERE "TKT-Actual Resolution Date" '
            "LIKE '%M' ORDER BY rowid"
        ).fetchall()
        theirs = b.execute(
            'SELECT "TKT-Actual Resolution Date" FROM tickets WHERE "TKT-Actual Resolution Date" '
            "LIKE '%M' ORDER BY rowid"
        ).fetchall()
        assert ours != theirs


# ------------------------------------------------------------------------------------------------
# realism
# ------------------------------------------------------------------------------------------------


def test_content_is_plausible(small: DemoSummary) -> None:
    with _connect(small.path) as con:
        statuses = dict(con.execute('SELECT "TKT-Status", count(*) FROM tickets GROUP BY 1'))
        by_group: dict[str, int] = {}
        for s, n in statuses.items():
            group = STATUS_GROUP.get(s.strip(" \t").lower(), "unknown")
            by_group[group] = by_group.get(group, 0) + n
        assert by_group["resolved"] + by_group["closed"] > 0.8 * small.rows["tickets"]
        assert sum(n for g, n in by_group.items() if IS_BACKLOG.get(g)) > 0

        for status, created, response, resolved, closed, sla in con.execute(
            'SELECT "TKT-Status", "TKT-Created Time", "TKT-Actual Response Date", '
            '"TKT-Actual Resolution Date", "TKT-Closed Time", "TKT-SLA Met" '
            "FROM tickets WHERE \"TKT-Created Time\" GLOB '2025-*'"
        ):
            assert "2025-04-01" <= created < "2025-07-01"
            group = STATUS_GROUP.get(status.strip(" \t").lower())
            if group is None or IS_BACKLOG[group]:  # a desk's own status is on a ticket still open
                assert resolved in (None, *SENTINELS) and closed in (None, *SENTINELS), (status, resolved)
                assert sla in (None, *SENTINELS)
            if group == "resolved":
                assert resolved is not None and closed in (None, *SENTINELS)
            if group in ("closed", "cancelled"):
                assert resolved is not None and closed is not None
            # ISO, US 12-hour and offset times (all to the second), read as UTC, keep the row's order
            times = []
            for t in (created, response, resolved, closed):
                if t and ISO_DATETIME.match(t):
                    times.append(datetime.fromisoformat(t))
                elif t and (foreign := _as_utc(t)) is not None:
                    times.append(foreign[1])
            assert times == sorted(times), (created, response, resolved, closed)
            assert all(t <= datetime(2025, 7, 1, 6) for t in times)
            if group in ("resolved", "closed"):
                assert sla in {"Yes", "No"} | SENTINELS

        # most tickets are raised in office hours
        hours = [int(c[11:13]) for (c,) in con.execute('SELECT "TKT-Created Time" FROM tickets')
                 if ISO_DATETIME.match(c)]  # fmt: skip
        assert sum(8 <= h < 18 for h in hours) > 0.7 * len(hours)

        # comments fall inside their ticket's life
        bad = con.execute(
            'SELECT count(*) FROM comments c JOIN tickets t ON t."TKT-Ticket ID" = c."CT-TKT-ID" '
            "WHERE c.\"CT-CREATED-TIME\" GLOB '2025-*' AND t.\"TKT-Created Time\" GLOB '2025-*' "
            'AND c."CT-CREATED-TIME" < t."TKT-Created Time"'
        ).fetchone()[0]
        assert bad == 0
        agents = {a for (a,) in con.execute('SELECT DISTINCT "TKT-Assigned To" FROM tickets')
                  if a and a.strip() == a and a not in SENTINELS}  # fmt: skip
        assert 30 <= len(agents) <= 45
        visible = dict(con.execute('SELECT "CT-VISIBLE-CUSTOMER", count(*) FROM comments GROUP BY 1'))
        assert set(visible) == {0, 1}
        # timesheets: quarter hours or a timer's minutes, dates within the ticket's life, an agent as user
        for (h,) in con.execute('SELECT "TS-Hours" FROM timesheets WHERE typeof("TS-Hours") = \'real\''):
            assert 1 / 60 - 1e-12 <= h <= 8 and abs(h * 60 - round(h * 60)) < 1e-9
        ts_users = {u for (u,) in con.execute('SELECT DISTINCT "TS-User" FROM timesheets')}
        assert {u for u in ts_users if u.strip() == u and u not in SENTINELS} <= agents | {
            a for (a,) in con.execute('SELECT DISTINCT "CT-USERNAME" FROM comments')
        }
        bad = con.execute(
            'SELECT count(*) FROM timesheets s JOIN tickets t ON t."TKT-Ticket ID" = s."TS-Crm ID" '
            "WHERE s.\"TS-Date\" GLOB '2025-*' AND t.\"TKT-Created Time\" GLOB '2025-*' "
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
