"""Prometheus metrics: the file of a real run parses with the Prometheus client's own parser and
holds the run's real numbers; docs/metrics.md lists every metric; docs/alerts.yml is a rules file."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import yaml
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.build.metrics import render, write_metrics
from orchestrator.core.settings import PROJECT_DIR

from .ops_fixtures import OpsRun, ops_run  # noqa: F401 - the shared run fixture


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "target"))
            out.setdefault(s.name, {})[labels] = s.value
    return out


def by(metric: dict[tuple[tuple[str, str], ...], float], key: str) -> dict[str, float]:
    return {dict(labels)[key]: v for labels, v in metric.items()}


def test_metrics_file_parses_and_holds_the_runs_real_numbers(ops_run: OpsRun) -> None:  # noqa: F811
    text = (ops_run.run_dir / "metrics.prom").read_text()
    m = parse(text)
    report = ops_run.report
    run_id = report["run_id"]
    assert m["sdrun_run_info"] == {(("run_id", run_id), ("version", report["sdrun_version"])): 1.0}
    assert by(m["sdrun_run_outcome"], "outcome") == {"ok": 1.0, "halted": 0.0, "failed": 0.0, "interrupted": 0.0}
    assert m["sdrun_run_exit_code"][()] == 0
    assert m["sdrun_run_duration_seconds"][()] == report["seconds"]
    assert set(by(m["sdrun_step_duration_seconds"], "step")) >= {
        "preflight",
        "backup",
        "check",
        "load",
        "build",
        "report",
    }
    assert set(by(m["sdrun_step_duration_seconds"], "step")) == set(report["steps"])
    assert by(m["sdrun_step_duration_seconds"], "step")["build"] == report["steps"]["build"]["seconds"]

    # Rows read: what the SQLite source holds.
    con = sqlite3.connect(f"{ops_run.source.as_uri()}?mode=ro", uri=True)
    source_rows = {
        t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("tickets", "comments", "timesheets")
    }
    con.close()
    assert by(m["sdrun_rows_read"], "table") == source_rows
    assert by(m["sdrun_rows_loaded_raw"], "table") == source_rows
    # Rows loaded and quarantined: what the warehouse holds.
    wh = duckdb.connect(str(ops_run.home / "warehouse" / "servicedesk.duckdb"), read_only=True)
    try:
        marts = {t: wh.execute(f"select count(*) from servicedesk.servicedesk.{t}").fetchone()[0] for t in source_rows}
        excluded = dict(
            wh.execute(
                "select table_name, count(distinct source_row) from servicedesk.servicedesk."
                "quarantine where action = 'row_excluded' group by 1"
            ).fetchall()
        )
        by_rule = dict(
            wh.execute("select rule, count(*) from servicedesk.servicedesk.audit_changes group by 1").fetchall()
        )
    finally:
        wh.close()
    assert by(m["sdrun_rows_loaded"], "table") == marts
    assert {t: v for t, v in by(m["sdrun_rows_quarantined"], "table").items() if v} == excluded
    cleaned: dict[str, float] = {}
    for labels, v in m["sdrun_values_cleaned"].items():
        cleaned[dict(labels)["rule"]] = cleaned.get(dict(labels)["rule"], 0) + v
    assert cleaned == by_rule and sum(cleaned.values()) > 0
    tests = by(m["sdrun_dbt_tests"], "status")
    assert tests["passed"] == report["tests"]["passed"] > 0
    assert tests["failed"] == tests["errored"] == 0
    assert m["sdrun_source_unchanged"][()] == 1
    assert by(m["sdrun_preflight_check_status"], "check")["dbt.parse"] == 0
    if isinstance(report.get("profile"), dict) and report["profile"].get("score") is not None:
        assert m["sdrun_quality_score"][()] == report["profile"]["score"]
        assert m["sdrun_breaker_trips"][()] == len(report["profile"]["trips"]) == 0


def test_textfile_directory_gets_the_same_metrics(ops_run: OpsRun) -> None:  # noqa: F811
    textfile = ops_run.textfile_dir / "sdrun_dev.prom"
    assert textfile.read_text() == (ops_run.run_dir / "metrics.prom").read_text()
    assert not list(ops_run.textfile_dir.glob(".*.tmp"))


def test_last_success_survives_a_failed_run(tmp_path: Path) -> None:
    ok = {
        "run_id": "a",
        "target": "dev",
        "outcome": "ok",
        "exit_code": 0,
        "seconds": 1.0,
        "finished_at": "2026-01-01T00:00:00Z",
        "steps": {},
        "source": {},
    }
    write_metrics(ok, tmp_path / "a.prom", textfile_dir=tmp_path / "tf")
    failed = {**ok, "run_id": "b", "outcome": "failed", "exit_code": 1, "finished_at": "2026-01-02T00:00:00Z"}
    write_metrics(failed, tmp_path / "b.prom", textfile_dir=tmp_path / "tf")
    m = parse((tmp_path / "tf" / "sdrun_dev.prom").read_text())
    assert m["sdrun_last_success_timestamp_seconds"][()] == 1767225600.0
    assert by(m["sdrun_run_outcome"], "outcome")["failed"] == 1


def test_a_run_that_stopped_early_leaves_unmeasured_figures_out() -> None:
    report: dict[str, Any] = {
        "run_id": "x",
        "target": "dev",
        "outcome": "failed",
        "exit_code": 1,
        "seconds": 0.5,
        "steps": {"preflight": {"status": "failed", "seconds": 0.4}},
        "source": {},
        "profile": {"score": {"overall": 91.5}, "breaker": {"trips": [{}, {}], "halted": True}},
    }
    m = parse(render(report))
    assert "sdrun_dbt_tests" not in m and "sdrun_rows_loaded" not in m
    assert by(m["sdrun_step_success"], "step") == {"preflight": 0}
    assert m["sdrun_quality_score"][()] == 91.5
    assert m["sdrun_breaker_trips"][()] == 2 and m["sdrun_breaker_halted"][()] == 1


def test_docs_list_every_metric(ops_run: OpsRun) -> None:  # noqa: F811
    doc = (PROJECT_DIR / "docs" / "metrics.md").read_text()
    full = {
        "profile": {"score": {"overall": 90}, "breaker": {"trips": [], "halted": False}},
        "backup": {"bytes": 1, "created": True},
    }
    names = {f.name for f in text_string_to_metric_families(render({**ops_run.report, **full}))}
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"docs/metrics.md lacks {missing}"


def test_alert_rules_file_is_valid_and_uses_documented_metrics() -> None:
    rules = yaml.safe_load((PROJECT_DIR / "docs" / "alerts.yml").read_text())
    groups = rules["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    doc = (PROJECT_DIR / "docs" / "metrics.md").read_text()
    for g in groups:
        for r in g["rules"]:
            assert set(r) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, r
            assert r["alert"] and r["expr"] and r["labels"]["severity"] in ("page", "ticket", "info")
            assert r["annotations"]["summary"]
            for name in re.findall(r"\bsdrun_[a-z_]+", r["expr"]):
                assert f"`{name}`" in doc, f"{r['alert']} uses undocumented {name}"
