"""A corpus of bad inputs, each through the real `sdrun full` on the dev target: every input gets its
right outcome (a clean load, quarantine, a breaker halt, or one clear error line) and never a traceback;
the source is never modified."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from .helpers import comment, last_report, sdrun, ticket, timesheet, write_source


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


def wrong_types(p: Path) -> None:
    # hours stored as text that is not a number, ids as integers, a date column holding integers
    tickets = _many(60)
    tickets[0]["TKT-Ticket ID"] = 12345
    comments = [comment(f"C{i}", f"T{i}") for i in range(20)] + [comment("CX", "T1", **{"CT-CREATED-TIME": 20250520})]
    write_source(p, tickets, comments, [timesheet("T2", **{"TS-Hours": "two hours"})])


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
    tickets = _many(200)
    tickets[0]["TKT-Closed Time"] = "0001-01-01 00:00:00"
    tickets[1]["TKT-Closed Time"] = "9999-12-31 23:59:59"
    _with_tickets(p, tickets)


def duplicated_ids(p: Path) -> None:
    tickets = _many(100)
    tickets.append(ticket("T7", **{"TKT-Title": "again"}))
    _with_tickets(p, tickets)


LENIENT = ["--var", "max_quarantined_share=1"]

# case: (builder, extra args, exit code, text that must be in stderr or stdout)
CASES: dict[str, tuple[Callable[[Path], None], list[str], int, str]] = {
    "empty-file": (empty_file, [], 1, "empty file"),
    "no-rows": (no_rows, [], 0, "0 failed"),
    "missing-column": (missing_column, [], 1, "'TKT-Closed Time'"),
    "wrong-types": (wrong_types, LENIENT, 0, "unparseable_number"),
    "huge-text": (huge_text, [], 0, "0 failed"),
    "nul-bytes": (nul_bytes, [], 0, "0 failed"),
    "not-utf8": (not_utf8, [], 1, "tickets.TKT-Title (1)"),
    "every-date-invalid": (every_date_invalid, [], 3, "TKT-Created Time"),
    "years-0001-9999": (far_years, [], 0, "timestamp_out_of_range 2"),
    "duplicated-ids": (duplicated_ids, [], 0, "duplicate_key 1"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_gets_its_outcome(tmp_path: Path, case: str) -> None:
    build, args, code, text = CASES[case]
    source = tmp_path / f"{case}.db"
    build(source)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    result = sdrun("full", "--source", str(source), *args, home=tmp_path)
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out[-3000:]
    assert result.returncode == code, out[-3000:]
    assert text in out, out[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    if code == 0:
        assert not errors
    elif code == 1:
        assert len(errors) == 1 and str(source) in errors[0], errors
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    report = last_report(tmp_path)
    assert report["exit_code"] == code and report["source"]["unchanged"] is True


def test_nul_bytes_in_text_reach_the_marts(tmp_path: Path) -> None:
    source = tmp_path / "s.db"
    nul_bytes(source)
    assert sdrun("full", "--source", str(source), home=tmp_path).returncode == 0
    con = duckdb.connect(str(tmp_path / "warehouse" / "servicedesk.duckdb"), read_only=True)
    titles = {r[0] for r in con.execute("select title from servicedesk.servicedesk.tickets").fetchall()}
    con.close()
    assert len(titles) == 1 and next(iter(titles)).startswith("before")
