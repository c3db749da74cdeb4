"""A corpus of bad inputs, each through the real `sdrun full` on the dev target and again on prod (the
session's private PostgreSQL: canary stage, build, swap): every input gets its right outcome (a clean
load, quarantine, a breaker halt, or one clear error line) and never a traceback; the source is never
modified; prod publishes only what loads, and ends like dev unless a case says otherwise.

Each case is a crafted SQLite file. The test asserts the exact exit code (0 clean load or quarantine,
1 a clear error, 3 a breaker or a gate), the `Error:` lines (none; exactly one naming the file and the
problem; or one per tripped breaker rule naming its column), the source's SHA-256, and for the cases
that load, the rows the warehouse holds (the quarantine rows with their reason, raw value and source row).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from .helpers import comment, last_report, sdrun, ticket, timesheet, write_source

# ------------------------------------------------------------------------------------------------
# the inputs
# ------------------------------------------------------------------------------------------------


def _many(n: int = 60, **over: object) -> list[dict]:
    return [ticket(f"T{i}", **over) for i in range(n)]


def _with_tickets(path: Path, tickets: list[dict]) -> None:
    write_source(path, tickets, [comment(f"C{i}", f"T{i}") for i in range(5)], [timesheet("T0")])


def _raw_update(path: Path, sql: str, *params: object) -> None:
    con = sqlite3.connect(path)
    con.execute(sql, params)
    con.commit()
    con.close()


def empty_file(p: Path) -> None:
    p.write_bytes(b"")


def no_rows(p: Path) -> None:
    write_source(p, [])


def missing_column(p: Path) -> None:
    _with_tickets(p, _many(5))
    _raw_update(p, 'alter table tickets drop column "TKT-Closed Time"')


def missing_table(p: Path) -> None:
    write_source(p, _many(5), skip_tables=("comments",))


def wrong_types(p: Path) -> None:
    # an id stored as an integer, a date stored as an integer, hours as text that is not a number
    tickets = _many(60)
    tickets[0]["TKT-Ticket ID"] = 12345
    comments = [comment(f"C{i}", f"T{i}") for i in range(20)] + [comment("CX", "T1", **{"CT-CREATED-TIME": 20250520})]
    write_source(p, tickets, comments, [timesheet("T2", **{"TS-Hours": "two hours"})])


def blob_value(p: Path) -> None:
    _with_tickets(p, _many(5))
    _raw_update(p, "update tickets set \"TKT-Team\" = ? where rowid = 3", b"\x00\x01\xff")


def huge_text(p: Path) -> None:
    _with_tickets(p, _many(5, **{"TKT-Title": "x" * 2_000_000}))


def nul_bytes(p: Path) -> None:
    _with_tickets(p, _many(5, **{"TKT-Title": "before\x00after"}))


def not_utf8(p: Path) -> None:
    _with_tickets(p, _many(5))
    _raw_update(p, 'update tickets set "TKT-Title" = cast(? as text) where "TKT-Ticket ID" = \'T1\'',
                b"caf\xe9 cr\xe8me")


def every_date_invalid(p: Path) -> None:
    _with_tickets(p, _many(30, **{"TKT-Created Time": "soon", "TKT-Closed Time": "32/13/2025 10:00"}))


def far_years(p: Path) -> None:
    # 1,000 tickets: prod's canary judges its ~10% sample, where one quarantined ticket of 20 would be
    # 5%, over the 2% gate; of 100 it stays under
    tickets = _many(1000)
    tickets[0]["TKT-Closed Time"] = "0001-01-01 00:00:00"
    tickets[1]["TKT-Closed Time"] = "9999-12-31 23:59:59"
    _with_tickets(p, tickets)


def duplicated_ids(p: Path) -> None:
    tickets = _many(100)
    tickets.append(ticket("T7", **{"TKT-Title": "again"}))
    _with_tickets(p, tickets)


def blank_ids(p: Path) -> None:
    # keys and references that are '', whitespace only, a sentinel or padded: each row is excluded and
    # the quarantine shows the id exactly as exported (never NULL for '' or '   ')
    tickets = _many(60) + [ticket(""), ticket("   "), ticket(" T7 "), ticket("N/A")]  # source rows 61-64
    comments = [comment(f"C{i}", f"T{i}") for i in range(20)] + [  # source rows 21-26
        comment("", "T1"), comment("  ", "T2"), comment(" C1", "T3"),
        comment("CX1", ""), comment("CX2", "   "), comment("CX3", " T999 "),
    ]
    timesheets = [timesheet("T0"), timesheet(""), timesheet("   "), timesheet(" T998 ")]
    write_source(p, tickets, comments, timesheets)


def empty_values(p: Path) -> None:
    # '' and '   ' in every kind of column are cleaned to NULL (audited, not quarantined); a value that
    # cannot be cleaned is quarantined with its padding as exported
    blank = {"TKT-Title": "", "TKT-Status": "   ", "TKT-Priority": "", "TKT-Category": "\t", "TKT-Team": "",
             "TKT-Actual Response Date": "", "TKT-Closed Time": "   ", "TKT-SLA Met": ""}
    tickets = _many(60)
    tickets[0].update(blank)
    tickets[1]["TKT-Closed Time"] = "  soon  "
    comments = [comment(f"C{i}", f"T{i}") for i in range(20)]
    comments[0].update({"CT-CREATED-TIME": "", "CT-COMMENT": "  ", "CT-VISIBLE-CUSTOMER": ""})
    write_source(p, tickets, comments, [timesheet("T0", **{"TS-Hours": "", "TS-Date": "  "}),
                                        timesheet("T1", **{"TS-Hours": " 1 1/2 "})])


def huge_hours(p: Path) -> None:
    # hours no timesheet can hold: a float beyond the marts' decimals (the tickets mart's sum overflowed
    # numeric(18,6) and the run failed), a long digit string, a negative; beside them the largest value
    # kept (every digit) and an ordinary one; and on T2 hours with more decimals than the mart's six
    write_source(p, _many(100), [comment(f"C{i}", f"T{i}") for i in range(5)], [
        timesheet("T0", **{"TS-Hours": 1e15}),
        timesheet("T0", **{"TS-Hours": "123456789012345678901234567890"}),
        timesheet("T1", **{"TS-Hours": -5e9}),
        timesheet("T1", **{"TS-Hours": 999999999.5}),
        timesheet("T0", **{"TS-Hours": 2.5}),
        *[timesheet("T2", **{"TS-Hours": h}) for h in ("0.3333334", "0.3333334", "0.3333334", 0.1, 0.1, 0.1)],
        timesheet("T2", **{"TS-Hours": "1234567.1234564"}),
    ])


def _huge_hours_nulled(q: Query) -> None:
    rows = q("select ticket_id, cast(hours_logged as float8), timesheet_count from servicedesk.servicedesk.tickets "
             "where ticket_id in ('T0', 'T1') order by 1")
    assert rows == [("T0", 2.5, 3), ("T1", 999999999.5, 2)]
    # each entry rounded to the millionth, then summed exactly, on both engines: 3 × 0.333333 + 3 × 0.1 +
    # 1234567.123456 (a sum of the doubles rounded once would end in ...457)
    assert q("select cast(hours_logged as varchar(40)), timesheet_count from servicedesk.servicedesk.tickets "
             "where ticket_id = 'T2'") == [("1234568.423455", 7)]


def _empty_values_audited(q: Query) -> None:
    audit = q("select table_name, source_row, column_name, before_value, rule "
              "from servicedesk.servicedesk.audit_changes where rule in ('empty_to_null', 'blank_to_null')")
    assert set(audit) == {
        ("tickets", 1, "title", "", "empty_to_null"), ("tickets", 1, "status", "   ", "blank_to_null"),
        ("tickets", 1, "priority", "", "empty_to_null"), ("tickets", 1, "category", "\t", "blank_to_null"),
        ("tickets", 1, "team", "", "empty_to_null"), ("tickets", 1, "first_response_at", "", "empty_to_null"),
        ("tickets", 1, "closed_at", "   ", "blank_to_null"), ("tickets", 1, "is_sla_met", "", "empty_to_null"),
        ("comments", 1, "created_at", "", "empty_to_null"), ("comments", 1, "body", "  ", "blank_to_null"),
        ("comments", 1, "is_customer_visible", "", "empty_to_null"),
        ("timesheets", 1, "hours", "", "empty_to_null"), ("timesheets", 1, "work_date", "  ", "blank_to_null"),
    }
    assert q("select title, status, team, closed_at from servicedesk.servicedesk.tickets where ticket_id = 'T0'") == [
        (None, None, None, None)]


def _dated(values: list[str], n: int = 60) -> list[dict]:
    """n tickets; the first len(values) created at these values, the rest at ISO times."""
    tickets = _many(n)
    for t, v in zip(tickets, values, strict=False):
        t["TKT-Created Time"] = v
    return tickets


def order_conflict(p: Path) -> None:
    # one shape (slash date, 24-hour time): two values only day-first, two only month-first
    _with_tickets(p, _dated(["20/05/2025 10:00", "13/05/2025 11:00", "05/20/2025 09:00", "05/14/2025 08:00"]))


def us_export(p: Path) -> None:
    # a US tool's export: every date 12-hour month-first, evidence in each column
    us = {"TKT-Created Time": "05/20/2025 08:42:13 AM", "TKT-Actual Response Date": "05/20/2025 09:12:00 AM",
          "TKT-Actual Resolution Date": "05/21/2025 01:05:09 PM", "TKT-Closed Time": "05/22/2025 12:00:00 PM"}
    _with_tickets(p, _many(60, **us))


def two_shapes(p: Path) -> None:
    # US 12-hour values among day-first 24-hour ones: each shape has evidence of its own
    _with_tickets(p, _dated(["20/05/2025 8:42", "13/05/2025 9:00", "04/05/2025 10:00",
                             "04/17/2025 10:55:00 PM", "05/06/2025 1:00:00 AM"]))


def no_evidence(p: Path) -> None:
    # slash dates that are 12 or less in both fields everywhere: the export gives no evidence
    _with_tickets(p, _dated(["04/05/2025 10:00", "01/02/2025 09:00", "12/11/2025 08:00"]))


def local_times(p: Path) -> None:
    # naive times in the desk's zone among values with an offset or Z
    _with_tickets(p, _dated(["2025-05-20 10:00:00", "2025-01-20 10:00:00", "2025-05-20T10:00:00+02:00",
                             "2025-05-20T10:00:00Z", "20/05/2025 10:00"]))


def _created(expected: dict[str, str]) -> Callable[[Query], None]:
    def check(q: Query) -> None:
        got = dict(q("select ticket_id, cast(created_at as varchar) from servicedesk.servicedesk.tickets "
                     f"where ticket_id in ({', '.join(repr(k) for k in expected)})"))
        assert got == expected

    return check


def _us_dates(q: Query) -> None:
    rows = q("select distinct cast(created_at as varchar), cast(resolved_at as varchar), cast(closed_at as varchar) "
             "from servicedesk.servicedesk.tickets")
    assert rows == [("2025-05-20 08:42:13", "2025-05-21 13:05:09", "2025-05-22 12:00:00")]


# ------------------------------------------------------------------------------------------------
# the outcomes
# ------------------------------------------------------------------------------------------------

LENIENT = ["--var", "max_quarantined_share=1"]
Quarantined = tuple[str, int, str, str, str]  # table_name, source_row, column_name, raw_value, reason
Query = Callable[[str], list[tuple]]


@dataclass
class Case:
    build: Callable[[Path], None]
    code: int
    errors: list[str] = field(default_factory=list)  # one `Error:` line each, in order, holding this text
    args: list[str] = field(default_factory=list)
    quarantine: set[Quarantined] | None = None  # exact quarantine rows (None: not checked)
    check: Callable[[Query], None] | None = None  # more about what the marts hold
    prod: tuple[int, list[str]] | None = None  # where prod ends otherwise: its exit code and error lines


def _no_rows_anywhere(q: Query) -> None:
    assert [q(f"select count(*) from servicedesk.servicedesk.{t}")[0][0] for t in ("tickets", "comments")] == [0, 0]


def _ids_stay_text(q: Query) -> None:
    assert q("select count(*) from servicedesk.servicedesk.tickets where ticket_id = '12345'") == [(1,)]


def _huge_text_whole(q: Query) -> None:
    assert q("select count(*), min(length(title)) from servicedesk.servicedesk.tickets") == [(5, 2_000_000)]


def _first_duplicate_wins(q: Query) -> None:
    assert q("select count(*) from servicedesk.servicedesk.tickets") == [(100,)]
    first = q("select title, source_row from servicedesk.servicedesk.tickets where ticket_id = 'T7'")
    assert first == [("Ticket T7", 8)]


CASES: dict[str, Case] = {
    "empty-file": Case(empty_file, 1, ["empty file"]),
    # prod does not publish an empty export over the live data: the run halts, the live version stays
    "no-rows": Case(no_rows, 0, quarantine=set(), check=_no_rows_anywhere,
                    prod=(3, ["every table is empty; nothing to publish, the live data stays"])),
    "missing-column": Case(missing_column, 1, ["lacks column(s) 'TKT-Closed Time'"]),
    "missing-table": Case(missing_table, 1, ["missing table(s) comments"]),
    "wrong-types": Case(wrong_types, 0, args=LENIENT, check=_ids_stay_text, quarantine={
        ("comments", 1, "ticket_id", "T0", "unknown_ticket"),  # T0 became the integer 12345
        ("comments", 21, "created_at", "20250520", "unparseable_timestamp"),
        ("timesheets", 1, "hours", "two hours", "unparseable_number"),
    }),
    # the same file without the lenient share: 2 of 21 comments quarantined is over 2%, the gate halts
    "wrong-types-over-share": Case(wrong_types, 3, ["quarantined_share_below"]),
    "blob-value": Case(blob_value, 1, ["not UTF-8 text in tickets.TKT-Team (1)"]),
    "huge-text": Case(huge_text, 0, quarantine=set(), check=_huge_text_whole),
    # PostgreSQL cannot store NUL in text: refused on every target, so dev does not pass what prod cannot load
    "nul-bytes": Case(nul_bytes, 1, ["values holding a NUL byte in tickets.TKT-Title (5)"]),
    "not-utf8": Case(not_utf8, 1, ["not UTF-8 text in tickets.TKT-Title (1)"]),
    "every-date-invalid": Case(every_date_invalid, 3, [
        "tickets.TKT-Created Time: 100.0% of date values cannot be parsed",
        "tickets.TKT-Closed Time: 100.0% of date values cannot be parsed",
    ]),
    "years-0001-9999": Case(far_years, 0, quarantine={
        ("tickets", 1, "closed_at", "0001-01-01 00:00:00", "timestamp_out_of_range"),
        ("tickets", 2, "closed_at", "9999-12-31 23:59:59", "timestamp_out_of_range"),
    }),
    # day/month order: decided per column and shape by the evidence; only a contradiction halts
    "order-conflict": Case(order_conflict, 3, [
        "tickets.TKT-Created Time: dates shaped NN/NN/YYYY with a 24-hour time hold values that can only be "
        "day-first and values that can only be month-first",
    ]),
    "us-12h-export": Case(us_export, 0, quarantine=set(), check=_us_dates),
    "two-shapes-one-column": Case(two_shapes, 0, quarantine=set(), check=_created({
        "T0": "2025-05-20 08:42:00", "T1": "2025-05-13 09:00:00", "T2": "2025-05-04 10:00:00",
        "T3": "2025-04-17 22:55:00", "T4": "2025-05-06 01:00:00"})),
    "no-evidence-default": Case(no_evidence, 0, quarantine=set(), check=_created({
        "T0": "2025-05-04 10:00:00", "T1": "2025-02-01 09:00:00", "T2": "2025-11-12 08:00:00"})),
    "no-evidence-month-first": Case(no_evidence, 0, args=["--var", "day_first=false"], quarantine=set(),
                                    check=_created({"T0": "2025-04-05 10:00:00", "T1": "2025-01-02 09:00:00",
                                                    "T2": "2025-12-11 08:00:00"})),
    # naive times read in the declared zone, stored as UTC; a value with an offset keeps its instant
    "source-timezone": Case(local_times, 0, args=["--var", "source_timezone=Europe/Amsterdam"], quarantine=set(),
                            check=_created({"T0": "2025-05-20 08:00:00", "T1": "2025-01-20 09:00:00",
                                            "T2": "2025-05-20 08:00:00", "T3": "2025-05-20 10:00:00",
                                            "T4": "2025-05-20 08:00:00"})),
    # raw_value is the id as exported: '' stays '', '   ' stays '   ', a padded id keeps its padding
    "blank-ids": Case(blank_ids, 0, args=LENIENT, quarantine={
        ("tickets", 61, "ticket_id", "", "missing_key"),
        ("tickets", 62, "ticket_id", "   ", "missing_key"),
        ("tickets", 63, "ticket_id", " T7 ", "duplicate_key"),
        ("tickets", 64, "ticket_id", "N/A", "missing_key"),
        ("comments", 21, "comment_id", "", "missing_key"),
        ("comments", 22, "comment_id", "  ", "missing_key"),
        ("comments", 23, "comment_id", " C1", "duplicate_key"),
        ("comments", 24, "ticket_id", "", "missing_ticket_ref"),
        ("comments", 25, "ticket_id", "   ", "missing_ticket_ref"),
        ("comments", 26, "ticket_id", " T999 ", "unknown_ticket"),
        ("timesheets", 2, "ticket_id", "", "missing_ticket_ref"),
        ("timesheets", 3, "ticket_id", "   ", "missing_ticket_ref"),
        ("timesheets", 4, "ticket_id", " T998 ", "unknown_ticket"),
    }),
    # '' values are cleaned (to NULL, audited), not quarantined; what is quarantined keeps its padding
    "empty-values": Case(empty_values, 0, args=LENIENT, check=_empty_values_audited, quarantine={
        ("tickets", 2, "closed_at", "  soon  ", "unparseable_timestamp"),
        ("timesheets", 2, "hours", " 1 1/2 ", "unparseable_number"),
    }),
    # a value nulled, its row kept: the entry counts on its ticket, its hours do not
    "huge-hours": Case(huge_hours, 0, args=LENIENT, check=_huge_hours_nulled, quarantine={
        ("timesheets", 1, "hours", "1.0e+15", "number_out_of_range"),
        ("timesheets", 2, "hours", "1.2345678901234568e+29", "number_out_of_range"),
        ("timesheets", 3, "hours", "-5000000000.0", "number_out_of_range"),
    }),
    "duplicated-ids": Case(duplicated_ids, 0, check=_first_duplicate_wins, quarantine={
        ("tickets", 101, "ticket_id", "T7", "duplicate_key"),
    }),
}


def _run_and_check(case: Case, source: Path, home: Path, env: dict[str, str] | None, *args: str) -> bool:
    """Run `sdrun full` on the crafted source; check the exit code, the error lines, the source's
    checksum and the report. True when the run loaded (exit 0) and the caller checks the marts."""
    if env is not None and case.prod is not None:
        case = Case(case.build, *case.prod)
    case.build(source)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    result = sdrun("full", "--source", str(source), "-q", *args, *case.args, home=home, env=env)
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    assert result.returncode == case.code, out[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == len(case.errors), errors
    for line, text in zip(errors, case.errors, strict=True):
        assert text in line, (text, line)
        if case.code == 1:
            assert str(source) in line, line  # the file is named
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    report = last_report(home)
    assert report["exit_code"] == case.code and report["source"]["unchanged"] is True
    if case.code == 0:
        assert "0 failed" in result.stdout
    return case.code == 0 and (case.quarantine is not None or case.check is not None)


def _check_marts(case: Case, query: Query) -> None:
    if case.quarantine is not None:
        rows = query("select table_name, source_row, column_name, raw_value, reason "
                     "from servicedesk.servicedesk.quarantine")
        assert {(t, int(r), c, v, why) for t, r, c, v, why in rows} == case.quarantine
    if case.check is not None:
        case.check(query)


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_gets_its_outcome(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    if not _run_and_check(case, tmp_path / f"{name}.db", tmp_path, None):
        return
    con = duckdb.connect(str(tmp_path / "warehouse" / "servicedesk.duckdb"), read_only=True)
    try:
        _check_marts(case, lambda sql: con.execute(sql).fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_gets_the_same_outcome_on_prod(tmp_path: Path, name: str, pg_cluster: Any) -> None:
    """The same file deployed to PostgreSQL (canary stage, blue-green swap) ends the same way: what dev
    loads, prod loads and publishes identically; what dev refuses, prod refuses before anything is live."""
    case = CASES[name]
    code = case.prod[0] if case.prod else case.code
    database = "corpus_" + name.replace("-", "_")
    pg_cluster.create_database(database)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SDRUN_"))}
    env.update(pg_cluster.env(database))
    loaded = _run_and_check(case, tmp_path / f"{name}.db", tmp_path, env, "--target", "prod")
    con = psycopg2.connect(**{"host": env["PGHOST"], "port": env["PGPORT"], "user": env["PGUSER"],
                              "dbname": database})
    try:
        with con.cursor() as cur:
            cur.execute("select count(*) from pg_namespace where nspname = 'servicedesk'")
            assert cur.fetchone() == ((1,) if code == 0 else (0,))  # published only when it loaded

            def query(sql: str) -> list[tuple]:
                cur.execute(sql.replace("servicedesk.servicedesk.", "servicedesk."))
                return cur.fetchall()

            if loaded:
                _check_marts(case, query)
    finally:
        con.close()
