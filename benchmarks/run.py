"""The pipeline benchmark (`make bench`; not a test): wall time, rows per second and peak memory per job and scale.

    python benchmarks/run.py                       # scales 1, 2, 10 and 40, every job
    python benchmarks/run.py 1 2                   # chosen scales
    python benchmarks/run.py 1 --only dev,prod     # chosen jobs (pgloader-resume: up to --resume-max-scale 2)
    python benchmarks/run.py --markdown-from benchmarks/results/X.json   # rewrite docs/benchmarks.md only

Sources come from `orchestrator.demo.generator.generate(seed=1)`, cached under benchmarks/work/ (gitignored, the
names of profile_bench.py). One private PostgreSQL (pytest_tests.pgcluster) serves the whole benchmark; every
(job, scale) gets a fresh database, a fresh SDRUN_HOME and an environment without the caller's PG* and SDRUN_*
variables. Jobs, each a subprocess timed from the outside:

    profile           sdrun profile --source S                     (Gate 1 alone)
    dev               sdrun full -q --source S                     (DuckDB)
    prod              sdrun full -q --source S --target prod       (after an untimed `sdrun setup-db`)
    prod-again        the same again, --force, same SDRUN_HOME and database: next quarter's run (dbt's parse
                      state is warm, a live version is backed up and swapped out)
    pgloader          pgloader sqlite:///S postgresql://.../db     (a plain copy with pgloader's defaults)
    pgloader-text     the same with every typed column cast to text (copies every row: "just copying")
    pgloader-resume   the same with --with "on error resume next"  (rejects bad rows instead of whole tables)

Each runs under GNU time (`%e %M`: elapsed seconds and the peak RSS of the largest single process of the tree),
while a thread sums the RSS of the whole process tree every 0.2 s (psutil) and keeps the maximum. Results go to
benchmarks/results/<UTC time>-<host>.json (rewritten after every job) and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # pytest_tests.pgcluster is not an installed package

from benchmarks import panels  # noqa: E402
from pytest_tests.pgcluster import PgCluster  # noqa: E402

WORK = HERE / "work"
RESULTS = HERE / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
GNU_TIME = Path("/usr/bin/time")
ENSURE_PGLOADER = ROOT / "scripts" / "ensure-pgloader.sh"

SCHEMA_VERSION = 1
PANEL_REPEAT = 20  # each dashboard panel's query, after prod and prod-again (benchmarks/panels.py)
JOBS = ("profile", "dev", "prod", "prod-again", "pgloader", "pgloader-text", "pgloader-resume")
SDRUN_JOBS = ("profile", "dev", "prod", "prod-again")
PGLOADER_OPTIONS = {
    "pgloader": [],
    "pgloader-resume": ["--with", "on error resume next"],
    "pgloader-text": [arg for t in ("timestamp", "real", "integer")
                      for arg in ("--cast", f"type {t} to text drop typemod")],
}
DEFAULT_SCALES = (1.0, 2.0, 10.0, 40.0)
SAMPLE_SECONDS = 0.2
TAIL_LINES = 25
MIB = 1024 * 1024

# Targets (issue 17): prod wall time at given scales, prod against pgloader at the same scale (ratio of wall
# times), peak memory of sdrun at every scale, the dashboards' panels at scale 10.
PROD_WALL_TARGETS = {40.0: 180.0}
PROD_RATIO_TARGETS = {1.0: ("pgloader-resume", 2.0), 10.0: ("pgloader-text", 4.0)}
PANEL_TARGET_SCALE = 10.0
MEMORY_TARGET_MIB = 1024.0
LINEAR_TOLERANCE = 1.25  # seconds per million rows at the largest scale / at the smallest scale

ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
# (table, id column or None, date column): where pgloader's handling of dates is compared with the source.
DATE_CHECKS: tuple[tuple[str, str | None, str], ...] = (
    ("tickets", "TKT-Ticket ID", "TKT-Created Time"),
    ("tickets", "TKT-Ticket ID", "TKT-Closed Time"),
    ("comments", "CT-COMMENT-ID", "CT-CREATED-TIME"),
    ("timesheets", None, "TS-Date"),
)
SLASH_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
OUTCOME_SWAPPED = "stored month-first: day and month swapped, no error"
OUTCOME_DAY_FIRST = "stored day-first (correct)"
OUTCOME_SAME = "stored correctly (day and month equal)"
OUTCOME_REJECTED = "row not loaded"
OUTCOME_NULL = "stored NULL"


# ------------------------------------------------------------------------------------------------
# sources, machine, versions
# ------------------------------------------------------------------------------------------------


def label(scale: float) -> str:
    return f"{scale:g}"


def source_for(scale: float) -> dict[str, Any]:
    """The cached demo source for `scale` (generated once) with its row counts and SHA-256."""
    from orchestrator.demo.generator import generate

    path = WORK / f"demo-scale{scale:g}-seed1.db"
    manifest = path.with_suffix(".json")
    generated_seconds = None
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        print(f"generating scale {scale:g} → {path.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        summary = generate(path, scale=scale, seed=1)
        summary.write_manifest(manifest)
        generated_seconds = round(time.perf_counter() - started, 1)
        print(f"  generated in {generated_seconds:.0f} s", file=sys.stderr, flush=True)
    if manifest.exists():
        rows = {t: int(n) for t, n in json.loads(manifest.read_text(encoding="utf-8"))["rows"].items()}
    else:  # a source cached without its manifest: count
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table' order by rowid")]
            rows = {t: int(con.execute(f'select count(*) from "{t}"').fetchone()[0]) for t in tables}
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest(), "rows": rows,
            "generated_seconds": generated_seconds}


def _first_line(cmd: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if done.returncode == 0 and text else None


def machine() -> dict[str, Any]:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    os_name = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"host": socket.gethostname().split(".")[0], "cpu_model": cpu, "cores": os.cpu_count(),
            "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1), "kernel": platform.release(),
            "os": os_name, "python": platform.python_version()}


def versions(cluster: PgCluster | None) -> dict[str, str | None]:
    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    from orchestrator import __version__

    out: dict[str, str | None] = {"sdrun": __version__}
    for name in ("duckdb", "dbt-core", "dbt-duckdb", "dbt-postgres", "psutil"):
        out[name] = dist(name)
    out["postgres"] = _first_line([str(cluster.bindir / "postgres"), "--version"]) if cluster else None
    out["pgloader"] = _first_line(["pgloader", "--version"]) if shutil.which("pgloader") else None
    return out


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    modified = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None,
            "branch": git("rev-parse", "--abbrev-ref", "HEAD").strip(),
            "modified_tracked_files": modified}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------------------------
# measuring one subprocess
# ------------------------------------------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Sums the RSS of a process and all its descendants every SAMPLE_SECONDS; keeps the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_bytes = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    total += p.memory_info().rss
            self.peak_bytes = max(self.peak_bytes, total)
            self.samples += 1
            self._done.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


@dataclass
class Measured:
    returncode: int | None  # None: killed at the timeout
    wall_seconds: float
    time_elapsed_seconds: float | None
    largest_process_kib: int | None
    tree_peak_bytes: int
    samples: int
    stdout: Path
    stderr: Path

    def tail(self) -> list[str]:
        lines: list[str] = []
        for path in (self.stdout, self.stderr):
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            lines += [f"{path.suffix[1:]}: {line}" for line in text.splitlines()[-TAIL_LINES:]]
        return lines


def measure(cmd: Sequence[str], env: dict[str, str], cwd: Path, logs: Path, name: str, timeout: float) -> Measured:
    """Run `cmd` under GNU time with the tree sampler; stdout/stderr go to files in `logs`."""
    logs.mkdir(parents=True, exist_ok=True)
    time_file = logs / f"{name}.time"
    wrapped = [str(GNU_TIME), "-f", "%e %M", "-o", str(time_file), *cmd] if GNU_TIME.exists() else list(cmd)
    out_path, err_path = logs / f"{name}.stdout", logs / f"{name}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        returncode: int | None
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session started for this job only
            proc.wait()
            returncode = None
        wall = time.perf_counter() - started
        sampler.stop()
    elapsed, largest = None, None
    if time_file.exists():  # the last line; GNU time puts "Command exited with non-zero status N" before it
        match = re.search(r"^([\d.]+) (\d+)\s*$", time_file.read_text(), re.MULTILINE)
        if match:
            elapsed, largest = float(match.group(1)), int(match.group(2))
    return Measured(returncode, round(wall, 3), elapsed, largest, sampler.peak_bytes, sampler.samples, out_path,
                    err_path)


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without PG* and SDRUN_* variables, no telemetry, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SDRUN_"))}
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    env.update(extra)
    return env


def measured_fields(m: Measured) -> dict[str, Any]:
    return {
        "exit_code": m.returncode,
        "wall_seconds": m.wall_seconds,
        "time_elapsed_seconds": m.time_elapsed_seconds,
        "peak_rss_mib_largest_process": (None if m.largest_process_kib is None
                                         else round(m.largest_process_kib / 1024, 1)),
        "peak_rss_mib_tree": round(m.tree_peak_bytes / MIB, 1) if m.samples else None,
        "rss_samples": m.samples,
    }


# ------------------------------------------------------------------------------------------------
# PostgreSQL helpers
# ------------------------------------------------------------------------------------------------


def pg_connect(cluster: PgCluster, db: str) -> Any:
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname=db)


def drop_database(cluster: PgCluster, db: str) -> None:
    con = pg_connect(cluster, "postgres")
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f'drop database if exists "{db}" with (force)')
    finally:
        con.close()


def database_name(job: str, scale: float) -> str:
    return re.sub(r"[^a-z0-9]", "_", f"bench_{job}_s{scale:g}".lower())


# ------------------------------------------------------------------------------------------------
# the jobs
# ------------------------------------------------------------------------------------------------


@dataclass
class Context:
    cluster: PgCluster
    sdrun: Path
    scale: float
    source: Path
    source_rows: dict[str, int]
    timeout: float
    keep_work: bool
    keep_prod: bool = False  # prod-again follows: keep prod's home and database
    prod_work: Path | None = None


def newest_report(home: Path) -> dict[str, Any] | None:
    reports = sorted((home / "runs").glob("*/report.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return None
    report: dict[str, Any] = json.loads(reports[-1].read_text(encoding="utf-8"))
    return report


def run_sdrun(job: str, ctx: Context, work: Path) -> dict[str, Any]:
    home = work / "home"
    extra = {"SDRUN_HOME": str(home)}
    result: dict[str, Any] = {}
    if job == "prod-again":  # prod's home and database, one quarter later
        if ctx.prod_work is None:
            return {"status": "skipped", "reason": "needs the prod job of the same scale first",
                    "rows": sum(ctx.source_rows.values())}
        home = ctx.prod_work / "home"
        db = database_name("prod", ctx.scale)
        result["database"] = db
        extra = {"SDRUN_HOME": str(home), **ctx.cluster.env(db)}
    else:
        home.mkdir()
    if job == "prod":
        db = database_name(job, ctx.scale)
        ctx.cluster.create_database(db)
        extra.update(ctx.cluster.env(db))
        if not ctx.keep_prod:
            result["database"] = db
    env = child_env(extra)
    src = str(ctx.source)
    if job == "profile":
        cmd = [str(ctx.sdrun), "profile", "--source", src]
    elif job == "dev":
        cmd = [str(ctx.sdrun), "full", "-q", "--source", src]
    elif job == "prod-again":
        cmd = [str(ctx.sdrun), "full", "-q", "--source", src, "--target", "prod", "--force"]
    else:
        setup = subprocess.run([str(ctx.sdrun), "setup-db"], env=env, cwd=work, capture_output=True, text=True,
                               check=False, timeout=600)
        if setup.returncode != 0:
            tail = (setup.stdout + setup.stderr).splitlines()[-TAIL_LINES:]
            return {**result, "status": "failed", "reason": f"sdrun setup-db exited {setup.returncode}",
                    "output_tail": tail}
        cmd = [str(ctx.sdrun), "full", "-q", "--source", src, "--target", "prod"]
    m = measure(cmd, env, work, work / "logs", job, ctx.timeout)
    result.update(command=cmd, **measured_fields(m))
    if job in ("prod", "prod-again") and m.returncode == 0:  # the dashboards' queries on what it deployed
        try:
            result["panels"] = panels.measure(PANEL_REPEAT, "grafana_ro", host="127.0.0.1", port=ctx.cluster.port,
                                              user="postgres", dbname=env["PGDATABASE"])
        except Exception as exc:  # noqa: BLE001 - recorded; the job's own figures stand
            result["panels_error"] = f"{type(exc).__name__}: {exc}"
    report = newest_report(home) if job != "profile" else None
    rows = sum(ctx.source_rows.values())
    if report is not None:
        steps = report.get("steps") or {}
        result["steps"] = {name: rec.get("seconds") for name, rec in steps.items() if isinstance(rec, dict)}
        tables = (steps.get("check") or {}).get("tables")
        if tables:
            rows = sum(int(n) for n in tables.values())
        result["run"] = {"run_id": report.get("run_id"), "outcome": report.get("outcome"),
                         "exit_code": report.get("exit_code"), "seconds": report.get("seconds"),
                         "error": report.get("error"), "tests": report.get("tests")}
        if isinstance(report.get("seconds"), int | float):
            result["outside_run_seconds"] = round(m.wall_seconds - float(report["seconds"]), 3)
    elif job != "profile":
        result["run"] = None
    result["rows"] = rows
    if m.returncode == 0:
        result["status"] = "ok"
    else:
        result["status"] = "failed"
        result["reason"] = "timed out" if m.returncode is None else f"exit code {m.returncode}"
        if report is not None and report.get("error"):
            result["reason"] += f": {report['error']}"
        result["output_tail"] = m.tail()
    return result


_PGLOADER_CHECKED: dict[str, str | None] = {}


def pgloader_missing() -> str | None:
    """None when pgloader is on PATH (installed by scripts/ensure-pgloader.sh when needed), else why not."""
    if "reason" in _PGLOADER_CHECKED:
        return _PGLOADER_CHECKED["reason"]
    reason = None
    if not shutil.which("pgloader"):
        print("pgloader not on PATH: bash scripts/ensure-pgloader.sh", file=sys.stderr, flush=True)
        done = subprocess.run(["bash", str(ENSURE_PGLOADER)], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not shutil.which("pgloader"):
            tail = " ".join((done.stdout + done.stderr).split())[-300:]
            reason = f"pgloader not installed: scripts/ensure-pgloader.sh exited {done.returncode}: {tail}"
    _PGLOADER_CHECKED["reason"] = reason
    return reason


SUMMARY_LINE = re.compile(
    r"^\s*(?P<name>\S(?:.*?\S)?)\s{2,}(?P<errors>\d+)\s+(?P<rows>\d+)\s+(?:(?P<bytes>[\d.]+ \w+)\s+)?(?P<time>\S+)\s*$"
)
ERROR_ENTRY = re.compile(
    r"Database error (?P<code>\w+): (?P<message>[^\n]*)\n(?:HINT: [^\n]*\n)?"
    r"CONTEXT: COPY (?P<table>[^,\n]+), line \d+, column (?P<column>[^:\n]+): (?P<value>[^\n]*)"
)


def parse_pgloader_summary(text: str, tables: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = {*tables, "Total import time"}
    out: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        match = SUMMARY_LINE.match(line)
        if match and match["name"] in wanted:
            out[match["name"]] = {"errors": int(match["errors"]), "rows": int(match["rows"]),
                                  "bytes": match["bytes"], "time": match["time"]}
    return out


def parse_pgloader_errors(log: str) -> list[dict[str, Any]]:
    """pgloader's data errors grouped by table, column and message, with up to 3 example values."""
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for match in ERROR_ENTRY.finditer(log):
        message = re.sub(r': "[^"]*"$', "", match["message"]).strip()
        key = (match["table"], match["column"], match["code"], message)
        group = groups.setdefault(key, {"table": key[0], "column": key[1], "sqlstate": key[2], "message": message,
                                        "count": 0, "examples": []})
        group["count"] += 1
        value = match["value"].strip()
        if value not in group["examples"] and len(group["examples"]) < 3:
            group["examples"].append(value)
    return sorted(groups.values(), key=lambda g: (-g["count"], g["table"], g["column"]))


def parse_slash(value: str, month_first: bool) -> dt.datetime | None:
    for fmt in SLASH_FORMATS:
        if month_first:
            fmt = fmt.replace("%d/%m", "%m/%d")
        try:
            return dt.datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def classify(source_value: str, loaded: bool, stored: Any) -> str:
    if not loaded:
        return OUTCOME_REJECTED
    if stored is None:
        return OUTCOME_NULL
    if isinstance(stored, dt.datetime):
        day_first, month_first = parse_slash(source_value, False), parse_slash(source_value, True)
        if day_first == stored:
            return OUTCOME_SAME if month_first == stored else OUTCOME_DAY_FIRST
        if month_first == stored:
            return OUTCOME_SWAPPED
    return f"stored as {stored}"


def pgloader_dates(ctx: Context, con: Any) -> dict[str, Any]:
    """Per checked date column: source values vs what arrived; non-ISO values traced by id."""
    columns: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    src = sqlite3.connect(f"file:{ctx.source}?mode=ro", uri=True)
    try:
        for table, id_col, col in DATE_CHECKS:
            q_col, q_tab = f'"{col}"', f'"{table}"'
            total, non_empty, iso = src.execute(
                f"select count(*), coalesce(sum({q_col} is not null and trim(cast({q_col} as text)) <> ''), 0), "
                f"coalesce(sum(cast({q_col} as text) glob ?), 0) from {q_tab}", (ISO_GLOB,)).fetchone()
            entry: dict[str, Any] = {"table": table, "column": col, "source_rows": total, "source_non_empty": non_empty,
                                     "source_iso": iso, "source_non_iso": non_empty - iso}
            with con.cursor() as cur:
                try:
                    cur.execute(f"select count(*), count({q_col}) from {q_tab}")
                    entry["loaded_rows"], entry["loaded_non_null"] = cur.fetchone()
                except Exception as exc:  # noqa: BLE001 - a table pgloader did not create
                    con.rollback()
                    entry["error"] = str(exc).strip().splitlines()[0]
                    columns.append(entry)
                    continue
            if id_col is not None:
                q_id = f'"{id_col}"'
                odd = src.execute(
                    f"select {q_id}, cast({q_col} as text) from {q_tab} where {q_col} is not null "
                    f"and trim(cast({q_col} as text)) <> '' and not cast({q_col} as text) glob ? and {q_id} in "
                    f"(select {q_id} from {q_tab} group by {q_id} having count(*) = 1) order by rowid",
                    (ISO_GLOB,)).fetchall()
                with con.cursor() as cur:
                    cur.execute(f"select {q_id}, {q_col} from {q_tab} where {q_id} = any(%s)", ([r[0] for r in odd],))
                    stored = {row[0]: row[1] for row in cur.fetchall()}
                outcomes: dict[str, int] = {}
                for row_id, value in odd:
                    outcome = classify(value, row_id in stored, stored.get(row_id))
                    kind = outcome if not outcome.startswith("stored as ") else "stored as another value"
                    outcomes[kind] = outcomes.get(kind, 0) + 1
                    examples.append({"table": table, "column": col, "id_column": id_col, "id": row_id,
                                     "source_value": value,
                                     "stored": None if row_id not in stored or stored[row_id] is None
                                     else str(stored[row_id]), "outcome": outcome})
                entry["non_iso_traced"] = len(odd)
                entry["non_iso_outcomes"] = outcomes
            columns.append(entry)
    finally:
        src.close()
    return {"columns": columns, "examples": pick_examples(examples)}


def pick_examples(examples: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """Up to n examples, slash dates first, each new outcome or kind of value before a repeated one."""

    def is_slash(e: dict[str, Any]) -> bool:
        return parse_slash(e["source_value"], False) is not None or parse_slash(e["source_value"], True) is not None

    ranked = sorted(examples, key=lambda e: not is_slash(e))
    chosen: list[dict[str, Any]] = []
    for novelty in (lambda e: e["outcome"], lambda e: (e["outcome"], is_slash(e)), lambda e: id(e)):
        seen = {novelty(e) for e in chosen}
        for e in ranked:
            if len(chosen) < n and e not in chosen and novelty(e) not in seen:
                chosen.append(e)
                seen.add(novelty(e))
    return chosen


def run_pgloader(job: str, ctx: Context, work: Path) -> dict[str, Any]:
    missing = pgloader_missing()
    if missing:
        return {"status": "skipped", "reason": missing, "rows": sum(ctx.source_rows.values())}
    db = database_name(job, ctx.scale)
    ctx.cluster.create_database(db)
    root_dir, summary = work / "pgloader", work / "summary.txt"
    options = PGLOADER_OPTIONS[job]
    cmd = ["pgloader", "--root-dir", str(root_dir), "--summary", str(summary), *options,
           f"sqlite://{ctx.source}", f"postgresql://postgres@127.0.0.1:{ctx.cluster.port}/{db}"]
    m = measure(cmd, child_env(ctx.cluster.env(db)), work, work / "logs", job, ctx.timeout)
    result: dict[str, Any] = {"database": db, "command": cmd, **measured_fields(m),
                              "rows": sum(ctx.source_rows.values())}
    summary_out = summary.read_text(errors="replace") if summary.exists() else m.stdout.read_text(errors="replace")
    log_path = root_dir / "pgloader.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else m.stdout.read_text(errors="replace")
    details: dict[str, Any] = {"options": options, "source_rows": ctx.source_rows,
                               "summary": parse_pgloader_summary(summary_out, ctx.source_rows),
                               "errors": parse_pgloader_errors(log)}
    details["logged_errors"] = sum(g["count"] for g in details["errors"])
    details["empty_value_errors"] = len(re.findall(r'^CONTEXT: COPY .*: ""$', log, re.MULTILINE))
    con = pg_connect(ctx.cluster, db)
    try:
        with con.cursor() as cur:
            cur.execute("show datestyle")
            details["datestyle"] = cur.fetchone()[0]
            loaded: dict[str, int | None] = {}
            for table in ctx.source_rows:
                try:
                    cur.execute(f'select count(*) from "{table}"')
                    loaded[table] = int(cur.fetchone()[0])
                except Exception:  # noqa: BLE001 - a table pgloader did not create
                    con.rollback()
                    loaded[table] = None
            details["loaded_rows"] = loaded
            details["rejected_rows"] = {t: ctx.source_rows[t] - n for t, n in loaded.items() if n is not None}
            result["rows"] = sum(n for n in loaded.values() if n is not None)  # throughput counts what arrived
            cur.execute("select table_name, column_name, data_type from information_schema.columns "
                        "where table_schema = 'public' and (column_name ilike '%time%' or column_name ilike '%date%') "
                        "order by table_name, ordinal_position")
            details["date_column_types"] = [{"table": t, "column": c, "type": ty} for t, c, ty in cur.fetchall()]
        con.rollback()
        details["dates"] = pgloader_dates(ctx, con)
    finally:
        con.close()
    result["pgloader"] = details
    if m.returncode == 0:
        result["status"] = "ok"
    else:
        result["status"] = "failed"
        result["reason"] = "timed out" if m.returncode is None else f"exit code {m.returncode}"
        result["output_tail"] = m.tail()
    return result


def run_job(job: str, ctx: Context) -> dict[str, Any]:
    """One measured job; never raises (a failure is recorded and printed, the benchmark goes on)."""
    work = Path(tempfile.mkdtemp(prefix=f"sdrun-bench-{job}-s{ctx.scale:g}-"))
    base: dict[str, Any] = {"scale": ctx.scale, "job": job, "loadavg_before": loadavg(),
                            "started_at": utc_now()}
    try:
        runner: Callable[[str, Context, Path], dict[str, Any]] = run_pgloader if job.startswith("pgloader") \
            else run_sdrun
        result = {**base, **runner(job, ctx, work)}
    except Exception as exc:  # noqa: BLE001 - record and go on with the next job
        result = {**base, "status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                  "rows": sum(ctx.source_rows.values())}
    result["loadavg_after"] = loadavg()
    wall = result.get("wall_seconds")
    if result["status"] == "ok" and wall and result.get("rows"):
        result["rows_per_second"] = round(result["rows"] / wall, 1)
        result["seconds_per_million_rows"] = round(wall / result["rows"] * 1e6, 2)
    if "database" in result:
        try:
            drop_database(ctx.cluster, result["database"])
        except Exception as exc:  # noqa: BLE001
            print(f"warning: could not drop database {result['database']}: {exc}", file=sys.stderr)
    if job == "prod" and ctx.keep_prod and result["status"] == "ok":
        ctx.prod_work = work  # prod-again runs in it; removed after that
    elif ctx.keep_work:
        result["work_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if job == "prod-again" and ctx.prod_work is not None and not ctx.keep_work:
        shutil.rmtree(ctx.prod_work, ignore_errors=True)
    return result


# ------------------------------------------------------------------------------------------------
# figures: text, targets, markdown
# ------------------------------------------------------------------------------------------------


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: Any, fmt: str = ",.0f", missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def main_steps(r: dict[str, Any], n: int = 4) -> str:
    if r.get("pgloader"):
        p = r["pgloader"]
        source = sum(p["source_rows"].values())
        return f"loaded {r['rows']:,} of {source:,} rows, {source - r['rows']:,} not loaded"
    steps = {k: v for k, v in (r.get("steps") or {}).items() if isinstance(v, int | float)}
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:n]
    text = ", ".join(f"{k} {v:.1f}" for k, v in top)
    if r.get("outside_run_seconds") is not None and r["job"].startswith("prod") and "preflight" not in steps:
        text += f"; before the run {r['outside_run_seconds']:.1f}"  # results from before preflight was a step of prod
    return text


ROW_COLUMNS = (("scale", 6), ("job", 16), ("status", 7), ("rows", 11), ("wall s", 8), ("rows/s", 9),
               ("tree MiB", 9), ("proc MiB", 9), ("load", 5))


def row_header() -> str:
    return " ".join(f"{name:>{width}}" if i != 1 else f"{name:<{width}}" for i, (name, width) in
                    enumerate(ROW_COLUMNS)) + "  main steps (s)"


def row_text(r: dict[str, Any]) -> str:
    values = (
        label(r["scale"]), r["job"], r["status"], _num(r.get("rows")), _num(r.get("wall_seconds"), ".1f"),
        _num(r.get("rows_per_second")), _num(r.get("peak_rss_mib_tree")), _num(r.get("peak_rss_mib_largest_process")),
        _num((r.get("loadavg_before") or [None])[0], ".1f"),
    )
    cells = [f"{v:<{w}}" if i == 1 else f"{v:>{w}}" for i, (v, (_, w)) in enumerate(zip(values, ROW_COLUMNS,
                                                                                          strict=True))]
    tail = (main_steps(r) or "-") if r["status"] == "ok" else (r.get("reason") or "")
    return " ".join(cells) + "  " + tail


def _ok(results: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    return sorted((r for r in median_runs(results) if r["job"] == job and r["status"] == "ok"),
                  key=lambda r: r["scale"])


def median_runs(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per job and scale: with `--repeat`, of the runs that went well the one with the median
    wall time (the lower of the two middle ones for an even count); the first run when none went well.
    The figures, steps, panels and targets come from these; every run is listed in the job's table."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["job"], r["scale"]), []).append(r)
    out = []
    for runs in groups.values():
        ok = sorted((r for r in runs if r["status"] == "ok" and r.get("wall_seconds") is not None),
                    key=lambda r: r["wall_seconds"])
        out.append(ok[(len(ok) - 1) // 2] if ok else runs[0])
    return out


def _spread(results: list[dict[str, Any]], job: str, scale: float) -> str:
    """' (3 runs: 38.2-41.0 s)' when the job ran more than once at that scale, else ''."""
    walls = sorted(r["wall_seconds"] for r in results
                   if r["job"] == job and r["scale"] == scale and r["status"] == "ok" and r.get("wall_seconds"))
    return f" ({len(walls)} runs: {walls[0]:.1f}-{walls[-1]:.1f} s)" if len(walls) > 1 else ""


def linearity(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per job: seconds per million rows per scale, the largest/smallest ratio and the trend with rows."""
    out: dict[str, dict[str, Any]] = {}
    for job in JOBS:
        runs = _ok(results, job)
        per = {label(r["scale"]): r["seconds_per_million_rows"] for r in runs if r.get("seconds_per_million_rows")}
        if not per:
            continue
        values = list(per.values())
        entry: dict[str, Any] = {"seconds_per_million_rows": per, "max_over_min": round(max(values) / min(values), 2)}
        if len(runs) >= 2:
            entry["largest_over_smallest_scale"] = round(values[-1] / values[0], 2)
        out[job] = entry
    return out


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets, each with a verdict: met, missed or not measured."""
    out: list[dict[str, Any]] = []
    for scale, limit in PROD_WALL_TARGETS.items():
        for job in ("prod", "prod-again"):
            when = "" if job == "prod" else " (next quarter's run, prod-again)"
            name = (f"prod at scale {label(scale)} under {limit / 60:g} min" if limit >= 60 else
                    f"prod at scale {label(scale)} under {limit:g} s") + when
            runs = [r for r in median_runs(results) if r["job"] == job and r["scale"] == scale]
            if not runs:
                if job == "prod":
                    out.append({"target": name, "verdict": "not measured", "detail": f"scale {label(scale)} not run"})
            elif _not_ok(results, job, scale):
                out.append({"target": name, "verdict": "missed", "detail": _not_ok(results, job, scale)})
            else:
                wall = runs[0]["wall_seconds"]
                out.append({"target": name, "verdict": "met" if wall < limit else "missed",
                            "detail": f"{wall:.1f} s" + _spread(results, job, scale)})
    for scale, (reference, ratio) in PROD_RATIO_TARGETS.items():
        name = f"prod at scale {label(scale)} at most {ratio:g}x {reference} (wall time, same source)"
        chosen = median_runs(results)
        prod = [r for r in chosen if r["job"] == "prod" and r["scale"] == scale and r["status"] == "ok"]
        ref = [r for r in chosen if r["job"] == reference and r["scale"] == scale and r["status"] == "ok"]
        if _not_ok(results, "prod", scale):
            out.append({"target": name, "verdict": "missed", "detail": _not_ok(results, "prod", scale)})
            continue
        if not prod or not ref:
            out.append({"target": name, "verdict": "not measured", "detail": "needs both jobs at that scale"})
            continue
        got = prod[0]["wall_seconds"] / ref[0]["wall_seconds"]
        out.append({"target": name, "verdict": "met" if got <= ratio else "missed",
                    "detail": f"{prod[0]['wall_seconds']:.1f} s / {ref[0]['wall_seconds']:.1f} s = {got:.2f}"
                              + _medians(results, scale, reference)})
    timed = [r for r in median_runs(results)
             if r["job"] == "prod" and r["scale"] == PANEL_TARGET_SCALE and r.get("panels")]
    name = f"every dashboard panel's p95 under {panels.P95_TARGET_MS:g} ms at scale {label(PANEL_TARGET_SCALE)}"
    if timed:
        sm = panels.summary(timed[0]["panels"])
        out.append({"target": name, "verdict": "met" if sm["over_target"] == 0 else "missed",
                    "detail": f"slowest p95 {sm['slowest_p95_ms']:.0f} ms ({sm['slowest']}); "
                              f"{sm['over_target']} of {sm['panels']} at {panels.P95_TARGET_MS:g} ms or more"})
    else:
        out.append({"target": name, "verdict": "not measured", "detail": "needs prod at that scale"})
    sdrun = [r for r in results if r["job"] in SDRUN_JOBS and r.get("peak_rss_mib_tree") is not None]
    if sdrun:
        worst = max(sdrun, key=lambda r: r["peak_rss_mib_tree"])
        over = [f"{r['job']}@{label(r['scale'])}" for r in sdrun if r["peak_rss_mib_tree"] >= MEMORY_TARGET_MIB]
        out.append({"target": "peak memory under 1 GiB at every scale (sdrun jobs, process tree sum)",
                    "verdict": "missed" if over else "met",
                    "detail": f"highest {worst['peak_rss_mib_tree']:.0f} MiB ({worst['job']} at scale "
                              f"{label(worst['scale'])})" + (f"; over: {', '.join(over)}" if over else "")})
    else:
        out.append({"target": "peak memory under 1 GiB at every scale", "verdict": "not measured", "detail": ""})
    lin = linearity(results)
    for job in SDRUN_JOBS:
        entry = lin.get(job)
        name = f"{job}: cost linear in rows (s per M rows, largest scale / smallest ≤ {LINEAR_TOLERANCE:g})"
        if not entry or "largest_over_smallest_scale" not in entry:
            out.append({"target": name, "verdict": "not measured", "detail": "needs two scales"})
            continue
        trend = entry["largest_over_smallest_scale"]
        per = ", ".join(f"scale {s}: {v:.1f}" for s, v in entry["seconds_per_million_rows"].items())
        out.append({"target": name, "verdict": "met" if trend <= LINEAR_TOLERANCE else "missed",
                    "detail": f"{per}; largest/smallest scale {trend:.2f}, max/min {entry['max_over_min']:.2f}"})
    return out


def _not_ok(results: list[dict[str, Any]], job: str, scale: float) -> str:
    """'' when every run of the job at that scale went well, else what happened to the others."""
    bad = [r["status"] for r in results if r["job"] == job and r["scale"] == scale and r["status"] != "ok"]
    return f"runs that did not end ok: {', '.join(bad)}" if bad else ""


def _medians(results: list[dict[str, Any]], scale: float, reference: str) -> str:
    """How a ratio of medians was made, when either job ran more than once."""
    prod, ref = _spread(results, "prod", scale), _spread(results, reference, scale)
    if not prod and not ref:
        return ""
    return f", medians; prod{prod or ' (1 run)'}, {reference}{ref or ' (1 run)'}"


def summary_text(data: dict[str, Any]) -> str:
    results = data["results"]
    lines = ["", "summary", row_header(), "-" * len(row_header())]
    lines += [row_text(r) for r in sorted(results, key=lambda r: (JOBS.index(r["job"]), r["scale"]))]
    lines += ["", "seconds per million rows (lower is better)"]
    for job, entry in linearity(results).items():
        per = "  ".join(f"scale {s}: {v:7.1f}" for s, v in entry["seconds_per_million_rows"].items())
        lines.append(f"  {job:<16} {per}   max/min {entry['max_over_min']:.2f}")
    lines += ["", "targets"]
    for t in targets(results):
        lines.append(f"  [{t['verdict']:>12}] {t['target']}: {t['detail']}")
    lines.append("tree MiB = max of the summed RSS of the process tree (0.2 s samples); proc MiB = GNU time %M, "
                 "the largest single process")
    return "\n".join(lines)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


JOB_TITLES = {
    "profile": "`sdrun profile --source S` (Gate 1 alone)",
    "dev": "`sdrun full -q --source S` (target dev, DuckDB)",
    "prod": "`sdrun full -q --source S --target prod` (PostgreSQL: preflight, canary, build, swap)",
    "pgloader": "`pgloader sqlite:///S postgresql://…` (plain copy, pgloader's defaults)",
    "prod-again": "the same again with `--force`, same `SDRUN_HOME` and database: next quarter's run (dbt's "
                  "parse state warm; the live version is backed up and swapped out)",
    "pgloader-text": "`pgloader --cast \"type timestamp to text drop typemod\" …` (real and integer too): every "
                     "column as text, every row copied: the \"just copying\" reference",
    "pgloader-resume": "`pgloader --with \"on error resume next\" …` (plain copy, bad rows rejected one by one)",
}


def render_markdown(data: dict[str, Any], source_name: str = "") -> str:
    results: list[dict[str, Any]] = data["results"]
    mach, ver, git = data["machine"], data["versions"], data["git"]
    out = [
        "# Benchmarks",
        "",
        "Wall time, throughput and peak memory of the pipeline on the demo sources (`orchestrator.demo.generator`, "
        "seed 1, three tables), next to a plain SQLite → PostgreSQL copy with "
        "pgloader as the \"just copying\" reference. Generated by `benchmarks/run.py` from "
        f"`{source_name or 'its results JSON'}`; do not edit by hand.",
        "",
        "Reproduce: `make bench` (scales 1, 2, 10 and 40; the first run generates the sources under "
        "`benchmarks/work/`, about 1 GB for scale 40), or a quick one: `.venv/bin/python benchmarks/run.py 1 2`. "
        "`--only profile,dev,prod,prod-again,pgloader,pgloader-text,pgloader-resume` chooses the jobs, "
        "`--out` the results folder, `--repeat N` runs each scale's jobs N times, interleaved (the figures and the "
        "targets then come from each job's median run; the job tables list every run); "
        "`.venv/bin/python benchmarks/run.py --markdown-from benchmarks/results/X.json` rewrites this page. "
        "pgloader comes from `bash scripts/ensure-pgloader.sh` (the benchmark runs it when pgloader is missing).",
        "",
        "The heavy models' SQL alone, next to its floor (a plain copy of the raw table), before and after each "
        "change: [benchmarks-models.md](benchmarks-models.md) (`benchmarks/models.py`). Earlier runs are in "
        "`benchmarks/results/`; [benchmarks-2026-11-22.md](benchmarks-2026-11-22.md) is the last full one (every "
        "job) before issue 17's changes.",
        "",
        "Each job is one subprocess with a fresh `SDRUN_HOME` and, for PostgreSQL, a fresh database of one private "
        "server (`pytest_tests/pgcluster.py`: fsync off, `shared_buffers` 128MB) shared by the whole benchmark. "
        "`prod`'s untimed `sdrun setup-db` runs first.",
        "",
        "- **wall s**: measured around the subprocess, interpreter start included.",
        "- **peak MiB (tree)**: the largest sum of the resident memory of the job's process tree, sampled every "
        "0.2 s with psutil (shared pages are counted once per process, so it overstates a little; a peak "
        "shorter than 0.2 s can be missed). The PostgreSQL server's own processes are not in the tree.",
        "- **peak MiB (process)**: GNU time's `%M`, the peak RSS of the largest *single* process of the tree, "
        "not the sum.",
        "- **rows**: the source's rows (for `dev` and `prod` the rows their `check` step counted); for pgloader "
        "the rows that arrived in PostgreSQL. rows/s = rows / wall s.",
        "",
        "## Machine",
        "",
        f"- run {data.get('started_at', '?')} → {data.get('finished_at') or 'unfinished'} on `{mach.get('host')}`: "
        f"{mach.get('cpu_model')}, {mach.get('cores')} cores, {mach.get('ram_gib')} GiB RAM, "
        f"Linux {mach.get('kernel')} ({mach.get('os')}), Python {mach.get('python')}",
        f"- sdrun {ver.get('sdrun')} at commit `{git.get('commit')}`"
        + (f" with uncommitted changes in {', '.join(f'`{f}`' for f in git['modified_tracked_files'])}"
           if git.get("modified_tracked_files") else ""),
        f"- duckdb {ver.get('duckdb')}, dbt-core {ver.get('dbt-core')}, dbt-duckdb {ver.get('dbt-duckdb')}, "
        f"dbt-postgres {ver.get('dbt-postgres')}; {ver.get('postgres')}; {ver.get('pgloader') or 'pgloader: none'}",
        f"- load average (1 min) before the jobs: {_load_range(results)}; see the caveat at the end",
        "- sources: " + "; ".join(f"scale {k}: {sum(v['rows'].values()):,} rows, {v['bytes'] / 1e6:,.0f} MB"
                                  for k, v in data.get("sources", {}).items()),
        "",
        "## Results per job",
    ]
    for job in JOBS:
        runs = sorted((r for r in results if r["job"] == job), key=lambda r: (r["scale"], r.get("round", 1)))
        if not runs:
            continue
        out += ["", f"### {job}: {JOB_TITLES[job]}", ""]
        rows = []
        for r in runs:
            note = (main_steps(r) or "-") if r["status"] == "ok" else f"**{r['status']}**: {r.get('reason', '')}"
            rows.append([label(r["scale"]) + (f" (run {r['round']})" if r.get("rounds", 1) > 1 else ""),
                         _num(r.get("rows")), _num(r.get("wall_seconds"), ".1f"),
                         _num(r.get("rows_per_second")), _num(r.get("seconds_per_million_rows"), ".1f"),
                         _num(r.get("peak_rss_mib_tree")), _num(r.get("peak_rss_mib_largest_process")),
                         _num((r.get("loadavg_before") or [None])[0], ".1f"), note])
        out += _md_table(["scale", "rows", "wall s", "rows/s", "s per M rows", "peak MiB (tree)",
                          "peak MiB (process)", "load", "main steps (s) / notes"], rows, "lrrrrrrrl")
    for job in ("prod", "prod-again", "dev"):
        out += _steps_table(results, job)
    out += _pgloader_section(results)
    out += _panels_section(results)
    out += ["", "## Targets", ""]
    out += _md_table(["target", "verdict", "measured"],
                     ([t["target"], t["verdict"], t["detail"]] for t in targets(results)), "lll")
    lin = linearity(results)
    if lin:
        scales = sorted({s for e in lin.values() for s in e["seconds_per_million_rows"]}, key=float)
        out += ["", "Seconds per million rows (cost linear in rows: the same figure at every scale; fixed costs "
                "such as starting dbt make the small scales dearer per row):", ""]
        out += _md_table(["job", *[f"scale {s}" for s in scales], "max/min"],
                         ([job, *[_num(e["seconds_per_million_rows"].get(s), ".1f") for s in scales],
                           f"{e['max_over_min']:.2f}"] for job, e in lin.items()))
    out += [
        "",
        "## Caveat: load average",
        "",
        f"The machine has {mach.get('cores')} cores and was shared while the benchmark ran; the 1-minute load "
        "average before each job is in the tables (`load`) and in the JSON (before and after). A load near or "
        "above the core count means other work competed for the CPU and the wall times are inflated; compare "
        "runs made at a low load, and rerun a figure that looks off before trusting it.",
        "",
    ]
    return "\n".join(out)


def _panels_section(results: list[dict[str, Any]]) -> list[str]:
    """Each dashboard panel's query on the version prod deployed (benchmarks/panels.py)."""
    runs = sorted((r for r in median_runs(results) if r["job"] == "prod" and r.get("panels")),
                  key=lambda r: r["scale"])
    if not runs:
        return []
    out = ["", "## Dashboard panels", "",
           f"After each `prod` job, every panel's query of the ten dashboards, expanded as Grafana expands it over "
           f"the dashboard's default range (the whole history), run as `grafana_ro` with the settings it gets at "
           f"login, once to warm and then {PANEL_REPEAT} times, the panels interleaved (`benchmarks/panels.py`; "
           f"alone: `.venv/bin/python benchmarks/panels.py` with PG* set).", ""]
    out += _md_table(["scale", "panels", "slowest p95 ms", "slowest panel", "p95 of the panels' p95 ms",
                      f"panels at {panels.P95_TARGET_MS:g} ms or more"],
                     ([label(r["scale"]), (sm := panels.summary(r["panels"]))["panels"], f"{sm['slowest_p95_ms']:.0f}",
                       sm["slowest"], f"{sm['p95_of_p95_ms']:.0f}", sm["over_target"]] for r in runs), "lrrlrr")
    for r in runs:
        out += ["", f"The ten slowest at scale {label(r['scale'])}:", "", panels.markdown(r["panels"], limit=10)]
    return out


def _load_range(results: list[dict[str, Any]]) -> str:
    loads = [r["loadavg_before"][0] for r in results if r.get("loadavg_before")]
    return f"{min(loads):.1f} to {max(loads):.1f}" if loads else "-"


def _steps_table(results: list[dict[str, Any]], job: str) -> list[str]:
    runs = [r for r in _ok(results, job) if r.get("steps")]
    if not runs:
        return []
    names: list[str] = []
    for r in runs:
        names += [n for n in r["steps"] if n not in names]
    rows = [[name, *[_num(r["steps"].get(name), ".1f") for r in runs]] for name in names]
    rows.append(["**run (report.json)**", *[_num((r.get("run") or {}).get("seconds"), ".1f") for r in runs]])
    # results from commits before preflight and the source backup became steps of the prod run
    outside = job.startswith("prod") and any("preflight" not in r["steps"] for r in runs)
    rows.append(["before the run: start-up, preflight, source backup" if outside
                 else "outside the run: interpreter start-up",
                 *[_num(r.get("outside_run_seconds"), ".1f") for r in runs]])
    rows.append(["**wall**", *[_num(r["wall_seconds"], ".1f") for r in runs]])
    intro = "Seconds per step (`report.json`)" + ("; `canary_*` is the 10% canary stage" if job.startswith("prod")
                                                 else "") + "."
    if outside:
        intro += (" In the sdrun these results come from, preflight and the source backup ran before the run "
                  "opened its report, so they are in \"before the run\".")
    return ["", f"## Steps of {job}", "", intro, "",
            *_md_table(["step", *[f"scale {label(r['scale'])}" for r in runs]], rows)]


def _pgloader_section(results: list[dict[str, Any]]) -> list[str]:
    runs = sorted((r for r in median_runs(results) if r.get("pgloader")),
                  key=lambda r: (JOBS.index(r["job"]), r["scale"]))
    skipped = [r for r in results if r["job"].startswith("pgloader") and r["status"] == "skipped"]
    if not runs and not skipped:
        return []
    out = ["", "## pgloader and the dates", ""]
    for r in skipped:
        out.append(f"- {r['job']} at scale {label(r['scale'])} skipped: {r.get('reason')}")
    if not runs:
        return out
    first = runs[0]["pgloader"]
    out += ["pgloader chose these types (information_schema.columns, columns named like time or date); "
            f"the server's DateStyle was `{first.get('datestyle')}`:", ""]
    out += _md_table(["table", "column", "type"],
                     ([c["table"], c["column"], c["type"]] for c in first["date_column_types"]), "lll")
    out += ["", "Rows per table (source → loaded; pgloader's summary counts the errors):", ""]
    rows = []
    for r in runs:
        p = r["pgloader"]
        for table, n in p["loaded_rows"].items():
            s = p["summary"].get(table, {})
            rows.append([r["job"], label(r["scale"]), table, _num(p["source_rows"].get(table)), _num(n),
                         _num(p["rejected_rows"].get(table)), _num(s.get("errors")), _num(s.get("rows"))])
    out += _md_table(["job", "scale", "table", "source rows", "loaded", "not loaded", "summary errors",
                      "summary rows"], rows, "lllrrrrr")
    out += ["", "Date columns: non-empty values in the source against non-NULL values that arrived; the source "
            "values that are not ISO (`YYYY-MM-DD…`) traced by id to what pgloader stored:", ""]
    rows = []
    for r in runs:
        for c in r["pgloader"]["dates"]["columns"]:
            outcomes = "; ".join(f"{k} {v:,}" for k, v in (c.get("non_iso_outcomes") or {}).items()) or \
                ("not traced (no id column)" if "non_iso_traced" not in c else "-")
            rows.append([r["job"], label(r["scale"]), f"{c['table']}.\"{c['column']}\"", _num(c["source_non_empty"]),
                         _num(c["source_non_iso"]), _num(c.get("loaded_non_null")), outcomes])
    out += _md_table(["job", "scale", "column", "source non-empty", "source non-ISO", "non-NULL loaded",
                      "non-ISO values became"], rows, "lllrrrl")
    firsts = [r for r in runs if r["scale"] == _first_scale(runs, r["job"])]
    for r in firsts:
        ex = r["pgloader"]["dates"]["examples"]
        if ex:
            out += ["", f"Examples ({r['job']}, scale {label(r['scale'])}):", ""]
            out += _md_table(["row", "source value", "pgloader stored", "outcome"],
                             ([f"{e['table']}.\"{e['id_column']}\" = {e['id']}, \"{e['column']}\"",
                               f"`{e['source_value']}`", f"`{e['stored']}`" if e["stored"] is not None else "-",
                               e["outcome"]] for e in ex), "llll")
    rows = [[r["job"], label(r["scale"]), f"{g['table']}.\"{g['column']}\"", f"{g['sqlstate']} {g['message']}",
             _num(g["count"]), ", ".join(f"`{v}`" for v in g["examples"])]
            for r in firsts for g in r["pgloader"]["errors"][:8]]
    if rows:
        out += ["", "Data errors in pgloader's log, grouped (first scale of each job, up to 8 groups):", ""]
        out += _md_table(["job", "scale", "column", "error", "count", "example values"], rows, "llllrl")
    out += ["", *_pgloader_findings(runs)]
    return out


def _first_scale(runs: list[dict[str, Any]], job: str) -> float:
    return float(min(r["scale"] for r in runs if r["job"] == job))


def _pgloader_findings(runs: list[dict[str, Any]]) -> list[str]:
    """Plain-language findings, each written only when the figures show it."""
    lines = ["What this shows:", ""]
    swapped = rejected = empties = empties_of = 0
    empties_scale = 0.0
    for r in runs:
        p = r["pgloader"]
        source = sum(p["source_rows"].values())
        summary_errors = sum(s["errors"] for t, s in p["summary"].items() if t != "Total import time")
        text = (f"- `{r['job']}`, scale {label(r['scale'])}: exit code {r['exit_code']} in {r['wall_seconds']:.1f} s, "
                f"{r['rows']:,} of {source:,} rows loaded")
        empty = [t for t, n in p["loaded_rows"].items() if n == 0]
        if empty:
            text += f"; tables left empty: {', '.join(empty)} (the first bad value aborted the table's COPY)"
        if summary_errors and summary_errors != p["logged_errors"]:
            text += (f"; its summary reports {summary_errors:,} errors for {p['logged_errors']:,} data errors in its "
                     f"log and {sum(p['rejected_rows'].values()):,} rows not loaded")
        outcomes: dict[str, int] = {}
        for c in p["dates"]["columns"]:
            for kind, n in (c.get("non_iso_outcomes") or {}).items():
                outcomes[kind] = outcomes.get(kind, 0) + n
        if outcomes:
            text += "; non-ISO dates traced by id: " + ", ".join(f"{k} {n:,}" for k, n in outcomes.items())
        lines.append(text + ".")
        swapped += outcomes.get(OUTCOME_SWAPPED, 0)
        if r["job"] == "pgloader-resume" and r["scale"] == _first_scale(runs, r["job"]):
            rejected = outcomes.get(OUTCOME_REJECTED, 0)
            empties, empties_of, empties_scale = (p.get("empty_value_errors", 0), sum(p["rejected_rows"].values()),
                                                  r["scale"])
    if swapped:
        lines.append("- `DD/MM/YYYY` values with a day of 12 or less are stored with day and month swapped "
                     f"(DateStyle `{runs[0]['pgloader'].get('datestyle')}`: PostgreSQL reads slash dates month-first), "
                     "silently: the row loads and nothing is logged.")
    if rejected:
        emptied = any(n == 0 for r in runs if r["job"] == "pgloader" for n in r["pgloader"]["loaded_rows"].values())
        lines.append("- The non-ISO values PostgreSQL cannot read as a timestamp (a day over 12 taken for a month, "
                     "31/02, text such as `n/a` or `#VALUE!`) cost their whole row: pgloader has no per-value "
                     "fallback" + ("; with its defaults the first bad value empties the whole table." if emptied
                                   else "."))
    if empties:
        lines.append(f"- Empty strings in date columns are errors too: {empties:,} of the {empties_of:,} rows "
                     f"`pgloader-resume` did not load at scale {label(empties_scale)}.")
    date_columns = {c["column"] for r in runs for c in r["pgloader"]["date_column_types"]}
    others = [g for r in runs if r["job"] == "pgloader-resume" and r["scale"] == _first_scale(runs, r["job"])
              for g in r["pgloader"]["errors"] if g["column"] not in date_columns]
    if others:
        lines.append("- Other values refused, each costing its row: " + "; ".join(
            f"{g['table']}.\"{g['column']}\" {g['message']} ({g['count']:,}, e.g. {', '.join(g['examples'])})"
            for g in others) + ".")
    lines.append("- sdrun reads the same values day-first, turns empties and sentinels into NULL, and quarantines "
                 "what it cannot parse with its raw value, keeping every row (see the README).")
    return lines


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_markdown(json_path: Path, docs: Path) -> None:
    data = json.loads(json_path.read_text(encoding="utf-8"))
    try:
        name = str(json_path.resolve().relative_to(ROOT))
    except ValueError:
        name = json_path.name
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(render_markdown(data, name), encoding="utf-8")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("scales", nargs="*", type=float, help="demo scales (default: 1 2 10 40)")
    parser.add_argument("--only", default=",".join(JOBS), help=f"comma-separated jobs among {', '.join(JOBS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results/)")
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown page (default docs/benchmarks.md)")
    parser.add_argument("--no-docs", action="store_true", help="do not write the markdown page")
    parser.add_argument("--markdown-from", type=Path, help="only rewrite the markdown page from this results JSON")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds before a job is killed (3 h)")
    parser.add_argument("--keep-work", action="store_true", help="keep each job's temporary folder")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the jobs of each scale this many times, interleaved; the figures and targets use "
                             "each job's median run (1)")
    parser.add_argument("--resume-max-scale", type=float, default=2.0,
                        help="run pgloader-resume only up to this scale (it takes about 75 s per scale unit; 2)")
    args = parser.parse_args(argv)
    jobs = [j.strip() for j in args.only.split(",") if j.strip()]
    unknown = [j for j in jobs if j not in JOBS]
    if unknown or not jobs:
        parser.error(f"--only: unknown job(s) {', '.join(unknown) or '(none given)'}; choose among {', '.join(JOBS)}")
    args.jobs = [j for j in JOBS if j in jobs]
    if any(s <= 0 for s in args.scales):
        parser.error("scales must be positive")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.scales = list(dict.fromkeys(args.scales)) or list(DEFAULT_SCALES)
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.markdown_from:
        write_markdown(args.markdown_from, args.docs)
        print(summary_text(json.loads(args.markdown_from.read_text(encoding="utf-8"))))
        print(f"\nwrote {args.docs}")
        return 0
    sdrun = Path(sys.executable).parent / "sdrun"
    if not sdrun.exists():
        found = shutil.which("sdrun")
        if not found:
            print("Error: sdrun not found next to this Python nor on PATH: run `make setup`", file=sys.stderr)
            return 1
        sdrun = Path(found)
    started = dt.datetime.now(dt.UTC)
    mach = machine()
    json_path = args.out / f"{started:%Y%m%dT%H%M%SZ}-{mach['host']}.json"
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "finished_at": None, "complete": False, "machine": mach, "git": git_info(),
                            "versions": {}, "scales": args.scales, "jobs": args.jobs, "sources": {}, "results": [],
                            "notes": {"peak_rss_mib_tree": "max over 0.2 s samples of the summed RSS of the job's "
                                      "process tree (psutil)",
                                      "peak_rss_mib_largest_process": "GNU time %M: peak RSS of the largest single "
                                      "process, not the sum"}}
    print(f"benchmark: scales {' '.join(label(s) for s in args.scales)}; jobs {', '.join(args.jobs)}; "
          f"{mach['cores']} cores, {mach['ram_gib']} GiB; results {json_path}", flush=True)
    cluster: PgCluster | None = None
    exit_code = 0
    try:
        for scale in args.scales:  # sources first: generating is not part of any measure
            data["sources"][label(scale)] = source_for(scale)
        if any(j.startswith("pgloader") for j in args.jobs):
            pgloader_missing()
        cluster = PgCluster().start()
        data["versions"] = versions(cluster)
        print(row_header(), flush=True)
        print("-" * len(row_header()), flush=True)
        for scale in args.scales:
            src = data["sources"][label(scale)]
            ctx = Context(cluster=cluster, sdrun=sdrun, scale=scale, source=Path(src["path"]), source_rows=src["rows"],
                          timeout=args.timeout, keep_work=args.keep_work, keep_prod="prod-again" in args.jobs)
            for round_, job in ((n, j) for n in range(1, args.repeat + 1) for j in args.jobs):  # interleaved
                if job == "pgloader-resume" and scale > args.resume_max_scale:
                    continue  # rejecting bad rows one by one is slow; its findings are the same at every scale
                result = {**run_job(job, ctx), "round": round_, "rounds": args.repeat}
                data["results"].append(result)
                write_json(json_path, data)
                print(row_text(result), flush=True)
                if result["status"] == "failed":
                    exit_code = 1
                    for line in result.get("output_tail") or []:
                        print(f"    | {line}", flush=True)
        data["complete"] = True
    except KeyboardInterrupt:
        print("\ninterrupted: the results so far are kept", file=sys.stderr)
        exit_code = 130
    finally:
        if cluster is not None:
            cluster.stop()
        data["finished_at"] = utc_now()
        data["targets"] = targets(data["results"])
        data["linearity"] = linearity(data["results"])
        write_json(json_path, data)
    print(summary_text(data))
    print(f"\nresults: {json_path}")
    if not args.no_docs and data["results"]:
        write_markdown(json_path, args.docs)
        print(f"docs:    {args.docs}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
