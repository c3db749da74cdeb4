"""The run log: JSON lines carrying the run id, step, level and message, dbt's own events included;
people read plain lines on stderr, never JSON."""

from __future__ import annotations

import json

from .ops_fixtures import OpsRun, ops_run  # noqa: F401 - the shared run fixture


def test_log_is_json_lines_carrying_the_run_id(ops_run: OpsRun) -> None:  # noqa: F811
    lines = (ops_run.run_dir / "log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) > 50
    run_id = ops_run.run_dir.name
    for r in records:
        assert r["run_id"] == run_id
        assert {"ts", "step", "level", "message"} <= r.keys()
        assert r["level"] in ("debug", "info", "warning", "error")
    steps = {r["step"] for r in records}
    assert {"preflight", "backup", "check", "load", "build", "report"} <= steps
    assert records[-1]["message"] == "run ok" and records[-1]["outcome"] == "ok"


def test_dbt_events_land_in_the_run_log_as_structured_records(ops_run: OpsRun) -> None:  # noqa: F811
    records = [json.loads(line) for line in (ops_run.run_dir / "log.jsonl").read_text().splitlines()]
    dbt = [r for r in records if r.get("source") == "dbt"]
    assert dbt and all(r["step"] == "build" for r in dbt)
    results = [r for r in dbt if r["dbt_event"] in ("LogModelResult", "LogTestResult")]
    assert {r["node"].split(".")[0] for r in results} >= {"model", "test"}
    assert all("\x1b[" not in r["message"] for r in dbt)  # no terminal colours
    assert sum(1 for r in results if r["node"].startswith("test.")) == ops_run.report["tests"]["total"] - sum(
        1 for r in results if r["node"].startswith("unit_test.")
    )
    # dbt's own readable log is kept beside it
    text = (ops_run.run_dir / "dbt" / "dbt.log").read_text()
    assert "Running with dbt=" in text and not text.lstrip().startswith("{")


def test_people_read_plain_lines_on_stderr(ops_run: OpsRun) -> None:  # noqa: F811
    err = ops_run.proc.stderr.splitlines()
    assert not any(line.lstrip().startswith("{") for line in err)
    assert "[preflight] preflight: 7 passed, 0 warning(s), 0 failed" in err
    # dbt parses beside the backup, the check and the profile; the run waits for it before the load
    steps = [line.split("]")[0][1:] for line in err if line.startswith("[") and line.endswith(" ...")]
    assert steps.index("profile") + 1 == steps.index("parse") == steps.index("load") - 1, steps
    assert any(line.startswith("[backup] source backed up to ") for line in err)
    assert any(line.startswith("[load] load raw: ") and "rows/s" in line for line in err)  # progress, no TTY
    assert "\x1b[" not in ops_run.proc.stderr  # no progress bar outside a terminal
