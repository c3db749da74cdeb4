"""Prometheus metrics of a run, in the text exposition format, built from its report.json.

`write_metrics(report, path, textfile_dir)` writes `runs/<run_id>/metrics.prom` and, when a
node-exporter textfile directory is configured (argument, or SDRUN_METRICS_TEXTFILE_DIR), also
`<dir>/sdrun_<target>.prom` (atomically: a temporary file renamed into place, as node-exporter
requires). Every value is a gauge: each describes one run. docs/metrics.md lists them all.

Metrics missing from a report (a run that stopped before the build has no test figures) are left
out rather than written as zero, so an alert never mistakes "not measured" for "none".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

OUTCOMES = ("ok", "halted", "failed", "interrupted")
TEST_STATUSES = ("passed", "failed", "warned", "errored", "skipped")
PREFLIGHT_STATUS = {"PASS": 0, "WARN": 1, "FAIL": 2}


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_text: str, samples: Iterable[tuple[dict[str, Any], Any]]) -> None:
        rows = [(labels, value) for labels, value in samples if value is not None]
        if not rows:
            return
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} gauge")
        for labels, value in rows:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _profile_figures(report: dict[str, Any]) -> tuple[float | None, int | None, bool | None]:
    """(quality score, breaker trips, halted) from the profiler's part of the report, when present."""
    prof = report.get("profile")
    if not isinstance(prof, dict):
        return None, None, None
    score = prof.get("score")
    if isinstance(score, dict):
        score = score.get("overall")
    breaker: dict[str, Any] = prof["breaker"] if isinstance(prof.get("breaker"), dict) else {}
    trips = prof.get("trips", breaker.get("trips"))
    n_trips = len(trips) if isinstance(trips, list) else trips if isinstance(trips, int) else None
    halted = prof.get("halted", breaker.get("halted"))
    return (float(score) if isinstance(score, int | float) else None), n_trips, halted


def render(report: dict[str, Any], previous_success: float | None = None) -> str:
    """The metrics text for one report."""
    w = _Writer()
    target = report.get("target", "unknown")
    base = {"target": target}
    outcome = report.get("outcome", "failed")
    finished = _timestamp(report.get("finished_at"))

    w.family(
        "sdrun_run_info",
        "Always 1; labels identify the run.",
        [({**base, "run_id": report.get("run_id", ""), "version": report.get("sdrun_version", "")}, 1)],
    )
    w.family(
        "sdrun_run_outcome",
        "1 for the run's outcome (ok, halted by a gate, failed, interrupted by a signal), 0 for the others.",
        [({**base, "outcome": o}, int(o == outcome)) for o in OUTCOMES],
    )
    w.family(
        "sdrun_run_exit_code",
        "The exit code of the run (0 ok, 1 failure, 2 usage, 3 gate halted, 130/143 interrupted).",
        [(base, report.get("exit_code"))],
    )
    w.family("sdrun_run_duration_seconds", "Wall-clock seconds of the whole run.", [(base, report.get("seconds"))])
    w.family("sdrun_run_finished_timestamp_seconds", "Unix time the run finished.", [(base, finished)])
    if outcome == "ok":
        previous_success = finished
    w.family(
        "sdrun_last_success_timestamp_seconds",
        "Unix time of the last run with outcome ok on this target (kept across runs in the textfile).",
        [(base, previous_success)],
    )

    steps = report.get("steps") or {}
    w.family(
        "sdrun_step_duration_seconds",
        "Seconds each step took.",
        [({**base, "step": s}, r.get("seconds")) for s, r in steps.items()],
    )
    w.family(
        "sdrun_step_success",
        "1 when the step finished ok, 0 when it failed.",
        [
            ({**base, "step": s}, int(r.get("status") == "ok"))
            for s, r in steps.items()
            if r.get("status") in ("ok", "failed")
        ],
    )

    src = report.get("source") or {}
    w.family(
        "sdrun_source_unchanged",
        "1 when the source's SHA-256 was the same after the run (must always be 1).",
        [(base, src.get("unchanged"))],
    )
    check_rows = (steps.get("check") or {}).get("tables") or {}
    load_rows = (steps.get("load") or {}).get("rows") or {}
    tables = ((report.get("warehouse") or {}).get("tables")) or {}
    read = {t: n for t, n in check_rows.items()} or {t: v.get("rows_in") for t, v in tables.items()}
    w.family(
        "sdrun_rows_read", "Rows read from the source, per table.", [({**base, "table": t}, n) for t, n in read.items()]
    )
    w.family(
        "sdrun_rows_loaded_raw",
        "Rows loaded verbatim into the raw schema, per table.",
        [({**base, "table": t}, n) for t, n in load_rows.items()],
    )
    w.family(
        "sdrun_rows_loaded",
        "Rows in the built marts (what the dashboards read), per table.",
        [({**base, "table": t}, v.get("rows_out")) for t, v in tables.items()],
    )
    w.family(
        "sdrun_rows_quarantined",
        "Source rows excluded from the marts into quarantine, per table.",
        [({**base, "table": t}, v.get("rows_excluded")) for t, v in tables.items()],
    )
    w.family(
        "sdrun_values_nulled",
        "Values that could not be cleaned and were set to NULL (quarantined), per table.",
        [({**base, "table": t}, v.get("values_nulled")) for t, v in tables.items()],
    )
    wh = report.get("warehouse") or {}
    by_table_rule = wh.get("values_cleaned_by_table") or {}
    if by_table_rule:
        samples = [({**base, "table": t, "rule": r}, n) for t, rules in by_table_rule.items() for r, n in rules.items()]
    else:
        by_rule = wh.get("values_cleaned_by_rule") or {}
        samples = [({**base, "table": "all", "rule": r}, n) for r, n in by_rule.items()]
    w.family(
        "sdrun_values_cleaned",
        "Values changed by a cleaning rule (listed in audit_changes), per table and rule.",
        samples,
    )
    by_table_reason = wh.get("quarantined_by_table") or {}
    w.family(
        "sdrun_quarantine_records",
        "Quarantine records (a row or a value), per table and reason.",
        [({**base, "table": t, "reason": r}, n) for t, rs in by_table_reason.items() for r, n in rs.items()],
    )

    tests = report.get("tests")
    if isinstance(tests, dict):
        w.family(
            "sdrun_dbt_tests",
            "dbt tests (and unit tests) of the build, per status.",
            [({**base, "status": s}, tests.get(s)) for s in TEST_STATUSES],
        )

    score, trips, halted = _profile_figures(report)
    w.family("sdrun_quality_score", "The profiler's overall quality score (0-100).", [(base, score)])
    w.family("sdrun_breaker_trips", "Circuit-breaker thresholds crossed by the profile.", [(base, trips)])
    w.family("sdrun_breaker_halted", "1 when the circuit breaker halted the run.", [(base, halted)])

    pre = report.get("preflight")
    if isinstance(pre, dict) and isinstance(pre.get("checks"), list):
        w.family(
            "sdrun_preflight_check_status",
            "Each preflight check: 0 PASS, 1 WARN, 2 FAIL.",
            [({**base, "check": c["name"]}, PREFLIGHT_STATUS.get(c["status"], 2)) for c in pre["checks"]],
        )
    bk = report.get("backup")
    if isinstance(bk, dict):
        w.family(
            "sdrun_source_backup_bytes", "Size of the source backup this run made or reused.", [(base, bk.get("bytes"))]
        )
        w.family(
            "sdrun_source_backup_created",
            "1 when the run made a new source backup, 0 when it reused one.",
            [(base, bk.get("created"))],
        )
    return w.text()


_LAST_SUCCESS = re.compile(r"^sdrun_last_success_timestamp_seconds\{[^}]*\}\s+(\S+)\s*$", re.MULTILINE)


def _previous_success(path: Path) -> float | None:
    try:
        m = _LAST_SUCCESS.search(path.read_text(encoding="utf-8"))
    except OSError:
        return None
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def textfile_dir_from_env() -> Path | None:
    raw = os.environ.get("SDRUN_METRICS_TEXTFILE_DIR", "").strip()
    return Path(raw) if raw else None


def write_metrics(report: dict[str, Any], path: Path, textfile_dir: Path | None = None) -> list[Path]:
    """Write the run's metrics to `path` and, when configured, to the node-exporter textfile directory."""
    textfile_dir = textfile_dir or textfile_dir_from_env()
    written = []
    textfile = None
    previous = None
    if textfile_dir is not None:
        textfile = Path(textfile_dir) / f"sdrun_{report.get('target', 'unknown')}.prom"
        previous = _previous_success(textfile)
    text = render(report, previous_success=previous)
    _atomic_write(Path(path), text)
    written.append(Path(path))
    if textfile is not None:
        _atomic_write(textfile, text)
        written.append(textfile)
    return written
