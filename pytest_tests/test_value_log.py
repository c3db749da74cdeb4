"""The value log (int_servicedesk__value_changes: audit_changes and quarantine read it) lists every
value cleaning changed or could not clean, and nothing else: value by value, for each kind of column,
through the real `sdrun full` on DuckDB.

The log reads only the rows a staging model marks may_have_changed, and of those the values where
_may_change says a value may have changed (macros/cleaning/value_changes.sql); each value below
changes one cell of an otherwise clean row, in the
ways that filter has to let through (padding around a value kept as it is, a case variant, a
vocabulary spelling, a form other than ISO or plain) and in ways it must not log (an ISO fraction,
a signed or exponent number, a parsed boolean).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb

from .helpers import COLUMNS, comment, sdrun, ticket, timesheet

NBSP = "\u00a0"



def write_text_source(path: Path, data: dict[str, list[dict[str, Any]]]) -> Path:
    """The export's tables with every column TEXT, as `sdrun import` lands an XLSX or CSV export (a
    REAL or INTEGER column would let SQLite turn ' 2' into 2.0 before anything sees the padding)."""
    con = sqlite3.connect(path)
    for table, cols in COLUMNS.items():
        names = [c for c, _ in cols]
        con.execute(f"create table {table} ({', '.join(chr(34) + c + chr(34) + ' TEXT' for c in names)})")
        con.executemany(f"insert into {table} values ({', '.join('?' for _ in names)})",
                        [[None if r.get(n) is None else str(r[n]) for n in names] for r in data[table]])
    con.commit()
    con.close()
    return path


# (ticket column as exported, value, (rule, reason) expected in the log, or None: not logged)
TICKET_VALUES = [
    ("TKT-Created Time", "  2025-05-20 08:00:00", ("trim", None)),
    ("TKT-Created Time", "2025-05-20 08:00:00\t", ("trim", None)),
    ("TKT-Created Time", f"2025-05-20{NBSP}", ("trim", None)),
    ("TKT-Created Time", "2025-05-20 08:00:00.250", None),
    ("TKT-Created Time", "2025-05-20 08:00", None),
    ("TKT-Created Time", "2025-05-20T08:00:00Z", ("timestamp_iso_variant", None)),
    ("TKT-Created Time", "20/05/2025 08:00", ("timestamp_day_first", None)),
    ("TKT-Created Time", "20-May-2025", ("timestamp_month_name", None)),
    ("TKT-Created Time", "45797", ("timestamp_excel_serial", None)),
    ("TKT-Created Time", "2025-02-30", (None, "invalid_timestamp")),
    ("TKT-Created Time", "2025-05-20 8:00:00 XM", (None, "unparseable_timestamp")),
    ("TKT-Actual Response Date", "N/A", ("sentinel_to_null", None)),
    ("TKT-Actual Response Date", "", ("empty_to_null", None)),
    ("TKT-Actual Response Date", "   ", ("blank_to_null", None)),
    ("TKT-Title", " Padded title", ("trim", None)),
    ("TKT-Title", "Title with  inner  spaces", None),
    ("TKT-Title", "-", ("sentinel_to_null", None)),
    ("TKT-Status", "closed", ("case_folded", None)),
    ("TKT-Status", "Closed ", ("trim", None)),
    ("TKT-Status", "Waiting on vendor", None),
    ("TKT-Priority", " P3", ("trim", None)),
    ("TKT-Priority", "p3", ("vocabulary_mapped", None)),
    ("TKT-Category", "Hardware\t", ("trim", None)),
    ("TKT-SLA Met", "No", None),
    ("TKT-SLA Met", " Yes", ("trim", None)),
    ("TKT-SLA Met", "maybe", (None, "unparseable_boolean")),
]
# (timesheet hours as exported, expected)
HOURS = [
    ("1,5", ("decimal_comma", None)),
    (" 2", ("trim", None)),
    ("2 ", ("trim", None)),
    ("1,234.5", ("thousands_separator", None)),
    ("+3", None),
    ("1e3", None),
    ("0.216666666666667", None),
    ("7", None),
    ("abc", (None, "unparseable_number")),
    ("1e15", (None, "number_out_of_range")),
    ("-1000000000", (None, "number_out_of_range")),
    ("1.234.567.890", (None, "number_out_of_range")),
    ("999999999.5", None),
    ("1.234.567", ("thousands_separator", None)),
]
# (comment column as exported, value, expected)
COMMENT_VALUES = [
    ("CT-CREATED-TIME", "20/05/2025 08:00", ("timestamp_day_first", None)),
    ("CT-CREATED-TIME", "2025-05-20T08:00:00+02:00", ("timestamp_iso_variant", None)),
    ("CT-CREATED-TIME", "2025-02-30 08:00", (None, "invalid_timestamp")),
    ("CT-CREATED-TIME", "1890-05-20 08:00", (None, "timestamp_out_of_range")),
    ("CT-CREATED-TIME", "soon", (None, "unparseable_timestamp")),
    ("CT-CREATED-TIME", "2025-05-20 08:00:00.5", None),
    ("CT-VISIBLE-CUSTOMER", "maybe", (None, "unparseable_boolean")),
    ("CT-VISIBLE-CUSTOMER", "Yes", None),
    ("CT-USERNAME", "N/A", ("sentinel_to_null", None)),
    ("CT-USERNAME", "Agent  Smith", None),
]
# (timesheet work date as exported, expected)
WORK_DATES = [
    ("2025-05-20", None),
    ("2025-13-01", (None, "invalid_timestamp")),
    ("45797", ("timestamp_excel_serial", None)),
    (" 2025-05-20", ("trim", None)),
]


def test_the_value_log_lists_every_changed_value_and_no_other(tmp_path: Path) -> None:
    tickets = [ticket(f"T{i}") for i in range(8)]  # clean rows: 'Closed' is the status's main spelling
    expected: set[tuple[str, str, str, str | None, str | None]] = set()
    clean_names = {"TKT-Created Time": "created_at", "TKT-Actual Response Date": "first_response_at",
                   "TKT-Title": "title", "TKT-Status": "status", "TKT-Priority": "priority",
                   "TKT-Category": "category", "TKT-SLA Met": "is_sla_met"}
    for i, (col, value, logged) in enumerate(TICKET_VALUES):
        tid = f"V{i}"
        tickets.append(ticket(tid, **{col: value}))
        if logged is not None:
            expected.add(("tickets", tid, clean_names[col], *logged))
    timesheets = [timesheet("T0")]
    for i, (value, logged) in enumerate(HOURS):
        timesheets.append(timesheet("T0", **{"TS-Hours": value}))
        if logged is not None:
            expected.add(("timesheets", f"TS-{i + 2}", "hours", *logged))  # rowid: the row's position
    # comments and timesheets: the staging model's may_have_changed flag decides which rows the log
    # reads (tickets are flagged whole: their vocabularies are mapped in the final CTE)
    for j, (value, logged) in enumerate(WORK_DATES):
        timesheets.append(timesheet("T0", **{"TS-Date": value}))
        if logged is not None:
            expected.add(("timesheets", f"TS-{len(HOURS) + 2 + j}", "work_date", *logged))
    comments = [comment("C1", "T0"), comment("C2", "T0", **{"CT-VISIBLE-CUSTOMER": " 1"}),
                comment("C3", "T0", **{"CT-CREATED-TIME": "2025-05-20 09:00:00 "})]
    expected |= {("comments", "C2", "is_customer_visible", "trim", None),
                 ("comments", "C3", "created_at", "trim", None)}
    for j, (col, value, logged) in enumerate(COMMENT_VALUES):
        comments.append(comment(f"D{j}", "T0", **{col: value}))
        if logged is not None:
            expected.add(("comments", f"D{j}", {"CT-CREATED-TIME": "created_at", "CT-VISIBLE-CUSTOMER":
                                               "is_customer_visible", "CT-USERNAME": "author"}[col], *logged))
    source = write_text_source(tmp_path / "export.db",
                               {"tickets": tickets, "comments": comments, "timesheets": timesheets})
    home = tmp_path / "home"
    env = {"SDRUN_BREAKER_MAX_UNPARSEABLE_DATE_SHARE": "1", "SDRUN_BREAKER_MIN_SCORE": "0"}
    result = sdrun("full", "--source", str(source), "-q", "--var", "max_quarantined_share=1", home=home, env=env)
    assert result.returncode in (0, 3), result.stdout[-2000:] + result.stderr[-2000:]
    wh = duckdb.connect(str(home / "warehouse" / "servicedesk.duckdb"), read_only=True)
    try:
        logged_rows = wh.execute(
            "select table_name, row_key, column_name, rule, reason "
            "from servicedesk.servicedesk_staging.int_servicedesk__value_changes"
        ).fetchall()
    finally:
        wh.close()
    assert len(logged_rows) == len(set(logged_rows))
    assert set(logged_rows) == expected
