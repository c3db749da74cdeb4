"""The steps every target's run shares, in order: preflight (Gate 0), the source backup, the
source check, the profile (Gate 1) and the raw load. Each is a step of the run: its lines land in
log.jsonl (and, unless quiet, on stderr) and its record in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.core import failpoints
from orchestrator.core.errors import GateHalted, Interrupted, SourceError
from orchestrator.core.settings import Settings
from orchestrator.profile import Thresholds, iter_columns, run_gate
from orchestrator.run import preflight
from orchestrator.source.backups import backup_source
from orchestrator.source.contract import (
    SQLITE_BUSY_TIMEOUT_S,
    SourceInfo,
    check_source,
    expected_tables,
    is_locked,
    source_locked,
)

if TYPE_CHECKING:
    from orchestrator.core.runs import Run
    from orchestrator.targets import Target

LEVELS = {preflight.PASS: "debug", preflight.WARN: "warning", preflight.FAIL: "error"}


@contextmanager
def reading_source(source: Path) -> Iterator[None]:
    """Around a step that reads the source: another program's write lock on it, held past the busy
    timeout (SQLite's 'database is locked', from sqlite3 or DuckDB's sqlite scanner, however wrapped),
    becomes one clear SourceError naming the file, the lock's holder and the wait (exit 1)."""
    try:
        yield
    except (GateHalted, Interrupted):
        raise
    except Exception as exc:
        if is_locked(exc):
            raise source_locked(source) from exc
        raise


def preflight_step(run: Run, report: dict[str, Any], source: Path, target_name: str, settings: Settings,
                   dbt_vars: dict[str, Any] | None = None, *,
                   also_builds: tuple[str, ...] = ()) -> preflight.BackgroundParse:
    """Step `preflight`: every check, each logged; raises PreflightFailed (exit 1) on any FAIL, else
    report["preflight"] gets the JSON. The dbt project's parse, started first, goes on beside the
    source's steps: `parse_step` waits for it (and fails the run as preflight would) before anything
    is loaded. `also_builds`: the other targets the run builds, parsed after it (BackgroundParse)."""
    parse = preflight.BackgroundParse(target_name, settings, dbt_vars, then=also_builds)
    with run.step("preflight") as rec:
        checks = preflight.run_checks(source, target_name, settings, dbt_vars=dbt_vars,
                                      on_check=lambda c: _log_check(run, "preflight", c), parse_beside=True)
        doc = preflight.to_json(checks, source, target_name)
        n = doc["counts"]
        run.log(f"preflight: {n['PASS']} passed, {n['WARN']} warning(s), {n['FAIL']} failed", step="preflight", **n)
        if any(c.status == preflight.FAIL and c.name.startswith("source.") and "database is locked" in c.detail
               for c in checks):  # fmt: skip
            raise source_locked(source)
        preflight.raise_on_fail(checks)
        report["preflight"] = doc
        rec["counts"] = n
    return parse


def parse_step(run: Run, report: dict[str, Any], parse: preflight.BackgroundParse) -> None:
    """Step `parse`: waits for preflight's dbt parse (the run's parse: the builds run on its
    manifest); its check joins the preflight's in the report. A FAIL stops the run as preflight does
    (exit 1), before anything is loaded."""
    with run.step("parse") as rec:
        check = parse.check()  # waits for the other targets' parses too
        _log_check(run, "parse", check)
        doc = report["preflight"]
        doc["checks"].append(check.to_dict())
        doc["counts"][check.status] += 1
        doc["ok"] = doc["ok"] and check.status != preflight.FAIL
        rec["parse_seconds"] = check.seconds
        preflight.raise_on_fail([check])


def _log_check(run: Run, step: str, c: preflight.Check) -> None:
    run.log(f"{c.status} {c.name}: {c.detail}", step=step, level=LEVELS[c.status], check=c.name, status=c.status)


def _stall_bounded(source: Path, update: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """The backup's progress callback, bounded: SQLite's backup API retries a step that finds the source
    locked by a writer without end, calling back each time with no page copied; once nothing has moved
    for SQLITE_BUSY_TIMEOUT_S, the backup stops (it removes its unfinished copy) with the clear error."""
    seen, since = (0, 0), time.monotonic()

    def on_progress(done: int, total: int) -> None:
        nonlocal seen, since
        now = time.monotonic()
        if (done, total) != seen:
            seen, since = (done, total), now
        elif now - since >= SQLITE_BUSY_TIMEOUT_S:
            raise source_locked(source)
        update(done, total)

    return on_progress


def backup_step(run: Run, report: dict[str, Any], step: str, source: Path, settings: Settings, *,
                source_sha256: str | None = None) -> None:
    """Step `step`: back the source up (or reuse a verified backup of the same SHA-256);
    report[step] gets its summary."""
    with run.step(step) as rec, reading_source(source):
        with run.progress(step, "backup", unit="bytes") as bar:
            backup, made = backup_source(
                source, settings.backups_dir, source_sha256=source_sha256, reuse=True,
                progress=_stall_bounded(source, lambda done, total: bar.update(done, total)),
            )  # fmt: skip
        m = backup.manifest
        if made:
            run.log(f"source backed up to {backup.folder} ({m['bytes'] / (1 << 20):,.1f} MB in {m['seconds']:.2f}s, "
                    f"sha256 {m['sha256'][:12]}…)", step=step, path=str(backup.folder))  # fmt: skip
        else:
            run.log(f"source already backed up in {backup.folder} (same SHA-256, checksum verified)", step=step,
                    path=str(backup.folder))  # fmt: skip
        report[step] = {"path": str(backup.folder), "created": made, "bytes": m["bytes"], "sha256": m["sha256"],
                        "source_sha256": m["source_sha256"]}  # fmt: skip
        rec.update(report[step])


def check_step(run: Run, source: Path, *, refuse_empty: bool, sha256: str | None = None) -> SourceInfo:
    """Step `check`: the source is a readable SQLite export with the expected tables and columns.
    `refuse_empty`: an export whose every table is empty (an export that failed, or the wrong file)
    halts the run, so that the dashboards do not go blank. `sha256`: the source's, read as the run
    started (the run compares it again at its end), so that the file is not read once more."""
    with run.step("check") as rec, reading_source(source):
        info = check_source(source, sha256)
        rec["tables"] = info.tables
        if info.extra_columns:
            rec["extra_columns"] = info.extra_columns
            run.log(f"extra columns ignored: {info.extra_columns}", step="check", level="warning")
        if refuse_empty and not any(info.tables.values()):
            raise GateHalted(f"{source}: every table is empty; nothing to publish, the live data stays",
                             ["empty_source"])  # fmt: skip
    return info


def profile_step(run: Run, db: Path, report: dict[str, Any], dbt_vars: dict[str, Any] | None) -> None:
    """Gate 1: profile every value before anything is loaded; the breaker raises GateHalted (exit 3).
    Writes runs/<run_id>/profile.json and profile.html; report["profile"] gets the score and trips."""
    day_first = (dbt_vars or {}).get("day_first")
    with run.step("profile") as rec, reading_source(db):
        try:
            prof = run_gate(db, run.run_dir, Thresholds.from_env(),
                            day_first=None if day_first is None else bool(day_first))  # fmt: skip
        except GateHalted as exc:
            report["profile"] = {"halted": True, "trips": exc.reasons, "json": str(run.run_dir / "profile.json"),
                                 "html": str(run.run_dir / "profile.html")}  # fmt: skip
            raise
        _refuse_undecodable_text(db, prof)
        report["profile"] = {
            "halted": False,
            "trips": [],
            "date_orders": prof["date_orders"],
            "warnings": prof["warnings"],
            "score": prof["score"]["overall"],
            "dimensions": prof["score"]["dimensions"],
            "json": str(run.run_dir / "profile.json"),
            "html": str(run.run_dir / "profile.html"),
        }
        rec["score"] = prof["score"]["overall"]


def _refuse_undecodable_text(db: Path, prof: dict[str, Any]) -> None:
    """Text that cannot be stored as text, on either target: bytes that are not UTF-8 (or a BLOB), and
    NUL bytes (PostgreSQL's text has no room for U+0000). One clear error naming the columns."""
    loaded = {spec.name for spec in expected_tables()}
    columns = [(t["name"], c) for t, c in iter_columns(prof) if t["name"] in loaded]
    problems = []
    for field, what, fix in (("invalid_utf8", "values that are not UTF-8 text", "re-export the file as UTF-8"),
                             ("nul_bytes", "values holding a NUL byte",
                              "PostgreSQL cannot store NUL in text: remove them from the export")):
        bad = [f"{table}.{c['name']} ({c[field]:,})" for table, c in columns if c.get(field)]
        if bad:
            problems.append(f"{what} in {', '.join(bad)}: {fix}")
    if problems:
        raise SourceError(f"{db}: {'; '.join(problems)}")


def load_step(run: Run, step: str, target: Target, source: Path, report: dict[str, Any],
              total_rows: int, copy_from: str | None = None) -> dict[str, int]:
    """Step `step`: the raw load into `target`, with the profile's day/month decisions beside it; from
    `copy_from` when given, a raw schema on the same server already loaded from `source` (with those
    decisions). Each copied table is logged (and is a failpoint, `<step>:<table>`). Returns the rows
    per table."""
    with (run.step(step) as rec, reading_source(source),
          run.progress(step, "load raw", total=total_rows, unit="rows") as bar):
        def copied(table: str, rows: int) -> None:
            bar.advance(rows)
            run.log(f"copied {table}: {rows:,} rows", step=step, table=table, rows=rows)
            failpoints.pause(f"{step}:{table}", run)

        if copy_from is not None:
            rec["copied_from"] = copy_from
        rec["rows"] = target.load_raw(source, on_table=copied, date_orders=report["profile"]["date_orders"],
                                      copy_from=copy_from)
    return dict(rec["rows"])
