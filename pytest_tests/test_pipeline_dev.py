"""`sdrun full` on the embedded DuckDB target: cleaning, quarantine, the gate, exit codes, the source."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import duckdb
import psutil
import pytest

from .helpers import (
    SDRUN,
    UNCLEANED_CANDIDATES,
    comment,
    last_report,
    no_empty_strings_finds,
    sdrun,
    ticket,
    timesheet,
    uncleaned,
    write_source,
)

LENIENT = ["--var", "max_quarantined_share=1", "--var", "max_unmapped_share=1"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse" / "servicedesk.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# Each supported form of "20 May 2025, 08:42" (or the date alone), as exports write it.
DATE_FORMS = {
    "2025-05-20 08:42:13": datetime(2025, 5, 20, 8, 42, 13),
    "2025-05-20 08:42": datetime(2025, 5, 20, 8, 42),
    "2025-05-20T08:42:13": datetime(2025, 5, 20, 8, 42, 13),
    "2025-05-20T08:42:13Z": datetime(2025, 5, 20, 8, 42, 13),
    "2025-05-20T08:42:13.5Z": datetime(2025, 5, 20, 8, 42, 13, 500000),
    "2025-05-20T10:42:13+02:00": datetime(2025, 5, 20, 8, 42, 13),
    "2025-05-20": datetime(2025, 5, 20),
    "20/05/2025 8:42": datetime(2025, 5, 20, 8, 42),
    "20/05/2025 08:42:13": datetime(2025, 5, 20, 8, 42, 13),
    "20-05-2025 08:42": datetime(2025, 5, 20, 8, 42),
    "20.05.2025": datetime(2025, 5, 20),
    "20/5/25 8:42": datetime(2025, 5, 20, 8, 42),
    "45797": datetime(2025, 5, 20),
    "45797.25": datetime(2025, 5, 20, 6, 0),
    " 2025-05-20 08:42:13 ": datetime(2025, 5, 20, 8, 42, 13),
}


@pytest.fixture(scope="module")
def crafted_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One run over a crafted source: every date form, garbage, sentinels, orphans, a duplicate."""
    home = tmp_path_factory.mktemp("crafted")
    tickets = [ticket(f"T{i}", **{"TKT-Created Time": raw}) for i, raw in enumerate(DATE_FORMS)]
    tickets += [
        ticket("G1", **{"TKT-Closed Time": "not a date", "TKT-Status": " closed ", "TKT-Priority": "p2"}),
        ticket("G2", **{"TKT-Closed Time": "31/02/2025 10:00", "TKT-Actual Response Date": ""}),
        ticket("G3", **{"TKT-Closed Time": "1999-12-31 10:00", "TKT-Actual Resolution Date": "N/A"}),
        ticket("G3", **{"TKT-Title": "a duplicate of G3"}),
        ticket("INC0000045", **{"TKT-Team": "  Network Ops\t", "TKT-Category": "-"}),
    ]
    comments = [comment("C1", "T0"), comment("C2", "NOPE"), comment("C3", "INC0000045", **{"CT-USERNAME": "NULL"})]
    timesheets = [timesheet("T0"), timesheet("T1", **{"TS-Hours": "1,5"}), timesheet("GHOST")]
    source = write_source(home / "crafted.db", tickets, comments, timesheets)
    result = sdrun("full", "--source", str(source), *LENIENT, home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    return home, source


def test_each_supported_date_form_becomes_the_right_timestamp(crafted_run: tuple[Path, Path]) -> None:
    home, _ = crafted_run
    got = dict(
        query(home, "select ticket_id, created_at from servicedesk.servicedesk.tickets where ticket_id like 'T%'")
    )
    for i, (raw, expected) in enumerate(DATE_FORMS.items()):
        assert got[f"T{i}"] == expected, f"{raw!r} became {got[f'T{i}']!r}, expected {expected}"
    types = dict(
        query(
            home,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'servicedesk' and table_name = 'tickets'",
        )
    )
    for col in ("created_at", "first_response_at", "resolved_at", "closed_at"):
        assert types[col] == "TIMESTAMP", (col, types[col])
    assert types["response_minutes"].startswith("DECIMAL")


def test_unparseable_values_are_quarantined_with_reason_and_source_row(crafted_run: tuple[Path, Path]) -> None:
    home, _ = crafted_run
    rows = query(
        home,
        "select row_key, column_name, raw_value, reason, action, source_row "
        "from servicedesk.servicedesk.quarantine where table_name = 'tickets' order by source_row, column_name",
    )
    q = {(r[0], r[1]): r for r in rows}
    assert q[("G1", "closed_at")][2:5] == ("not a date", "unparseable_timestamp", "value_nulled")
    assert q[("G2", "closed_at")][2:4] == ("31/02/2025 10:00", "invalid_timestamp")
    assert q[("G3", "closed_at")][2:4] == ("1999-12-31 10:00", "timestamp_out_of_range")
    dup = [r for r in rows if r[3] == "duplicate_key"]
    assert len(dup) == 1 and dup[0][0] == "G3" and dup[0][4] == "row_excluded"
    assert dup[0][5] == len(DATE_FORMS) + 4  # the second G3 is the 19th source row
    # the value is NULL in the mart, the ticket itself is kept
    assert query(home, "select closed_at from servicedesk.servicedesk.tickets where ticket_id = 'G1'") == [(None,)]
    orphans = query(
        home,
        "select table_name, raw_value, reason from servicedesk.servicedesk.quarantine "
        "where reason = 'unknown_ticket' order by 1",
    )
    assert orphans == [("comments", "NOPE", "unknown_ticket"), ("timesheets", "GHOST", "unknown_ticket")]


def test_every_change_is_in_the_audit(crafted_run: tuple[Path, Path]) -> None:
    home, _ = crafted_run
    audit = {
        (r[0], r[1]): r[2:]
        for r in query(
            home,
            "select row_key, column_name, before_value, after_value, rule from servicedesk.servicedesk.audit_changes",
        )
    }
    assert audit[("T7", "created_at")] == ("20/05/2025 8:42", "2025-05-20 08:42:00", "timestamp_day_first")
    assert audit[("T12", "created_at")][2] == "timestamp_excel_serial"
    assert audit[("T14", "created_at")] == (" 2025-05-20 08:42:13 ", "2025-05-20 08:42:13", "trim")
    assert audit[("G1", "status")] == (" closed ", "Closed", "case_folded")  # 'Closed' is the usual spelling
    assert audit[("G1", "priority")] == ("p2", "P2", "vocabulary_mapped")
    assert audit[("G2", "first_response_at")] == ("", None, "empty_to_null")
    assert audit[("G3", "resolved_at")] == ("N/A", None, "sentinel_to_null")
    assert audit[("INC0000045", "team")] == ("  Network Ops\t", "Network Ops", "trim")
    assert audit[("INC0000045", "category")] == ("-", None, "sentinel_to_null")
    assert audit[("TS-2", "hours")] == ("1,5", "1.5", "decimal_comma")
    assert audit[("C3", "author")] == ("NULL", None, "sentinel_to_null")
    # unchanged ISO values are not listed
    assert ("T0", "created_at") not in audit


def test_report_counts_what_the_warehouse_holds(crafted_run: tuple[Path, Path]) -> None:
    home, source = crafted_run
    report = last_report(home)
    assert report["outcome"] == "ok" and report["exit_code"] == 0
    assert report["source"]["unchanged"] is True and report["source"]["sha256_before"] == sha256(source)
    t = report["warehouse"]["tables"]["tickets"]
    assert (t["rows_in"], t["rows_out"], t["rows_excluded"]) == (len(DATE_FORMS) + 5, len(DATE_FORMS) + 4, 1)
    assert report["warehouse"]["quarantined_by_reason"]["unknown_ticket"] == 2
    assert report["warehouse"]["values_cleaned_by_rule"]["timestamp_day_first"] == 5
    assert report["tests"]["failed"] == 0 and report["tests"]["passed"] > 50
    assert set(report["steps"]) >= {"check", "load", "build", "report"}
    assert all(s["status"] == "ok" and s["seconds"] >= 0 for s in report["steps"].values())
    assert (Path(report["report_path"]).parent / "run_results.json").is_file()


@pytest.mark.parametrize(
    ("day_first", "expected"), [("true", datetime(2025, 5, 4, 9)), ("false", datetime(2025, 4, 5, 9))]
)
def test_ambiguous_dates_follow_the_day_first_variable(tmp_path: Path, day_first: str, expected: datetime) -> None:
    source = write_source(tmp_path / "s.db", [ticket("A", **{"TKT-Created Time": "04/05/2025 9:00"})])
    result = sdrun("full", "--source", str(source), "--var", f"day_first={day_first}", *LENIENT, home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert query(tmp_path, "select created_at from servicedesk.servicedesk.tickets") == [(expected,)]
    rule = query(tmp_path, "select rule from servicedesk.servicedesk.audit_changes where column_name = 'created_at'")
    assert rule == [("timestamp_day_first" if day_first == "true" else "timestamp_month_first",)]


def test_demo_data_run_converts_nulls_and_quarantines(tmp_path: Path, demo_source: Path) -> None:
    manifest = tmp_path / "manifest.json"
    before = sha256(demo_source)
    result = sdrun("full", "--source", str(demo_source), home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests" in result.stdout and "0 failed" in result.stdout
    report = last_report(tmp_path)
    from orchestrator.demo.generator import generate

    injected = generate(tmp_path / "again.db", scale=0.05, seed=7).injected
    manifest.write_text(json.dumps(injected))
    dd_mm = sum(k.get("dd_mm_yyyy", 0) for k in injected["tickets"].values())
    assert dd_mm > 0
    assert report["warehouse"]["values_cleaned_by_rule"]["timestamp_day_first"] == dd_mm
    empties = sum(c.get("empty", 0) for t in injected.values() for c in t.values())
    assert report["warehouse"]["values_cleaned_by_rule"]["empty_to_null"] == empties
    orphans = sum(injected[t]["_table"].get("orphan_ticket", 0) for t in ("comments", "timesheets"))
    assert report["warehouse"]["quarantined_by_reason"]["unknown_ticket"] == orphans
    assert sha256(demo_source) == before


def test_a_failing_dbt_test_exits_3_names_the_test_and_keeps_the_source(tmp_path: Path) -> None:
    # Half the comments point at tickets that do not exist: the quarantine share test must stop the run.
    tickets = [ticket(f"T{i}") for i in range(10)]
    comments = [comment(f"C{i}", f"T{i % 10}" if i % 2 else f"MISSING{i}") for i in range(20)]
    source = write_source(tmp_path / "bad.db", tickets, comments)
    before = sha256(source)
    result = sdrun("full", "--source", str(source), home=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "quarantined_share_below_comments" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "quarantined_share_below_comments" in result.stderr.strip().splitlines()[-1]
    assert sha256(source) == before
    report = last_report(tmp_path)
    assert report["outcome"] == "halted" and report["exit_code"] == 3
    assert report["source"]["unchanged"] is True
    assert report["warehouse"]["quarantined_by_reason"]["unknown_ticket"] == 10


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("ticket id,title\n1,printer\n"), "not a SQLite database"),
        (lambda p: write_source(p, [ticket("A")], skip_tables=("comments",)), "missing table(s) comments"),
        (lambda p: None, "file not found"),
    ],
    ids=["empty", "csv", "missing-table", "absent"],
)
def test_bad_input_gets_one_error_line_and_exit_1(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "input.db"
    make(source)
    before = sha256(source) if source.exists() else None
    result = sdrun("full", "--source", str(source), home=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(source) in errors[0] and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    if before:
        assert sha256(source) == before
    assert last_report(tmp_path)["outcome"] == "failed"


def test_truncated_sqlite_file_is_refused(tmp_path: Path, demo_source: Path) -> None:
    source = tmp_path / "truncated.db"
    data = demo_source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    result = sdrun("full", "--source", str(source), home=tmp_path)
    assert result.returncode == 1
    assert "truncated" in result.stderr and str(source) in result.stderr


def test_missing_column_is_named(tmp_path: Path) -> None:
    source = write_source(tmp_path / "s.db", [ticket("A")])
    import sqlite3

    con = sqlite3.connect(source)
    con.execute('alter table timesheets drop column "TS-Hours"')
    con.commit()
    con.close()
    result = sdrun("full", "--source", str(source), home=tmp_path)
    assert result.returncode == 1
    assert "timesheets lacks column(s) 'TS-Hours'" in result.stderr


def test_the_build_runs_on_the_preflight_parse_in_one_dbt_process(crafted_run: tuple[Path, Path]) -> None:
    """Issue 17: a run imports dbt once and parses once: preflight's `dbt parse` made the manifest the
    build runs on, so the build's own debug log has no parse at all (no partial parse either)."""
    home, _ = crafted_run
    (run_dir,) = [p.parent for p in (home / "runs").glob("*/report.json")]
    debug = (run_dir / "dbt" / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "Concurrency: 2 threads" in debug
    assert not re.search(r"partial pars|full parse", debug, re.IGNORECASE), "the build parsed the project again"
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    pids = {e["dbt_pid"] for e in events if e.get("source") == "dbt" and e.get("step") == "build"}
    assert len(pids) == 1 and os.getpid() not in pids


def test_the_no_empty_strings_test_on_duckdb_fails_on_exactly_the_uncleaned_values(
        crafted_run: tuple[Path, Path]) -> None:
    """tests/generic/no_empty_strings.sql as the build compiled it for DuckDB (the PostgreSQL twin is
    in test_postgres_deploy)."""
    home, _ = crafted_run
    (compiled,) = home.glob("runs/*/dbt/target/compiled/servicedesk/models/marts/_marts__models.yml/"
                            "no_empty_strings_timesheets_user_name.sql")
    con = duckdb.connect()
    con.execute("create table candidates (value varchar)")
    con.executemany("insert into candidates values (?)", [(v,) for v in UNCLEANED_CANDIDATES])
    found = no_empty_strings_finds(lambda sql: con.execute(sql).fetchall(), compiled, "candidates")
    assert found == sorted(v for v in UNCLEANED_CANDIDATES if uncleaned(v))


def test_dbt_directly_from_the_project_root(tmp_path: Path, crafted_run: tuple[Path, Path]) -> None:
    """Analysts run dbt themselves once the raw data is loaded (README: DBT_PROFILES_DIR=profiles)."""
    import os
    import subprocess
    import sys

    home, _ = crafted_run
    wh = tmp_path / "servicedesk.duckdb"
    shutil.copyfile(home / "warehouse" / "servicedesk.duckdb", wh)
    project = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": "profiles",
        "SDRUN_WAREHOUSE": str(wh),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = str(Path(sys.executable).with_name("dbt"))
    result = subprocess.run(
        [
            dbt,
            "test",
            "--select",
            "test_type:unit",
            "--target-path",
            str(tmp_path / "t"),
            "--log-path",
            str(tmp_path / "l"),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "PASS=8" in result.stdout  # the unit tests of stg_servicedesk__*.yml


def test_the_circuit_breaker_halts_before_anything_is_loaded(tmp_path: Path) -> None:
    # 40% of the creation dates are garbage: Gate 1 trips before the load step.
    tickets = [ticket(f"T{i}", **({"TKT-Created Time": "soon"} if i % 5 < 2 else {})) for i in range(50)]
    source = write_source(tmp_path / "s.db", tickets)
    result = sdrun("full", "--source", str(source), home=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors and all("TKT-Created Time" in e or "score" in e for e in errors), errors
    assert any("tickets.TKT-Created Time" in e and "40" in e for e in errors), errors
    report = last_report(tmp_path)
    assert report["outcome"] == "halted" and report["profile"]["halted"] is True
    assert "load" not in report["steps"] and not (tmp_path / "warehouse" / "servicedesk.duckdb").exists()
    assert (Path(report["report_path"]).parent / "profile.html").is_file()


def test_ctrl_c_in_the_middle_of_the_build_stops_the_run_as_interrupted(tmp_path: Path, demo_source: Path) -> None:
    """Issue 15, case 2 on dev: SIGINT while dbt builds stops the run (dbt with it) within seconds;
    report.json, the run log and metrics.prom say `interrupted`, exit 130, and last_success stays."""
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    env = {**os.environ, "SDRUN_HOME": str(tmp_path), "SDRUN_METRICS_TEXTFILE_DIR": str(textfile)}
    proc = subprocess.Popen([SDRUN, "full", "--source", str(demo_source), "-q"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    run_dir = None
    while run_dir is None and time.monotonic() < deadline and proc.poll() is None:
        for log in (tmp_path / "runs").glob("*/log.jsonl"):
            if any('"step": "build"' in line and "OK created" in line for line in log.read_text().splitlines()):
                run_dir = log.parent
        time.sleep(0.1)
    assert run_dir is not None, "the build never started a model"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert time.monotonic() - t0 < 20
    assert "run ok" not in err and "Error: interrupted by SIGINT" in err
    report = json.loads((run_dir / "report.json").read_text())
    assert (report["outcome"], report["exit_code"], report["steps"]["build"]["status"]) == ("interrupted", 130,
                                                                                           "interrupted")
    assert 'outcome="interrupted"} 1' in (run_dir / "metrics.prom").read_text()
    assert "sdrun_last_success_timestamp_seconds{" not in (textfile / "sdrun_dev.prom").read_text()
    for p in psutil.process_iter(["cmdline"]):  # dbt died with the run
        assert str(run_dir) not in " ".join(p.info["cmdline"] or []), p.info["cmdline"]
