"""Gate 0, preflight: is this machine and this input fit for a run? Nothing is written anywhere.

`run_checks(source, target_name, settings)` returns one `Check` per question, each PASS, WARN or
FAIL with a detail for people; any FAIL stops `sdrun full` (exit 1) before anything is loaded.

- source: exists, is SQLite (header), passes `PRAGMA quick_check`, has every expected table and
  column (missing ones named: FAIL; extra ones reported: WARN). An XLSX folder is checked after import.
- disk: on every filesystem the run writes to, free space is at least twice the source plus the
  warehouse, and above SDRUN_MIN_FREE_DISK_MB.
- memory: available memory above SDRUN_MIN_FREE_MEMORY_MB (WARN under DuckDB's memory limit).
- DuckDB extensions: installed, or installable offline from their PyPI packages.
- dbt: the project parses (`dbt parse`, for this target and these vars). In `sdrun full` the parse
  runs beside the source's steps (`BackgroundParse`) and is waited for before anything is loaded.
- PostgreSQL targets (canary, prod), from the libpq variables (PGHOST, PGPORT, ...): the connection,
  the server version, the right to create schemas, `pg_dump` present with a major version at least
  the server's. The password is never printed.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.build.dbt import DeriveFrom, run_dbt, start_worker
from orchestrator.build.gate import parse_cache
from orchestrator.core import health
from orchestrator.core.errors import EnvironmentProblem, SdrunError, SourceError
from orchestrator.core.redact import redact
from orchestrator.core.settings import PROJECT_DIR, Settings, duckdb_memory_limit
from orchestrator.source.contract import check_sqlite_file, connect_readonly, inspect_schema
from orchestrator.targets import check_name, engine, get_target
from orchestrator.targets.postgres import pg_tool
from orchestrator.targets.schemas import SchemaSet

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass
class Check:
    name: str
    status: str  # PASS, WARN, FAIL
    detail: str
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PreflightFailed(EnvironmentProblem):
    """At least one preflight check failed (exit 1)."""

    def __init__(self, checks: list[Check]) -> None:
        failed = [c for c in checks if c.status == FAIL]
        super().__init__(
            f"preflight: {len(failed)} check(s) failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
        )
        self.checks = checks


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAIL]


def raise_on_fail(checks: list[Check]) -> None:
    if failed(checks):
        raise PreflightFailed(checks)


# -- source ------------------------------------------------------------------------------------


def source_checks(source: Path) -> list[Check]:
    source = Path(source)
    if not source.exists():
        return [Check("source.exists", FAIL, f"{source}: file not found")]
    if source.is_dir():
        xlsx = sorted(p.name for p in source.glob("*.xlsx"))
        if not xlsx:
            return [Check("source.exists", FAIL, f"{source}: a folder without .xlsx exports")]
        return [
            Check(
                "source.exists",
                PASS,
                f"{source}: XLSX export folder ({', '.join(xlsx)}); its tables are checked once imported",
            )
        ]
    out = [Check("source.exists", PASS, f"{source} ({source.stat().st_size:,} bytes)")]
    try:
        check_sqlite_file(source)
    except SourceError as exc:
        return [*out, Check("source.sqlite", FAIL, str(exc))]
    out.append(Check("source.sqlite", PASS, "SQLite 3 database, header intact"))
    try:
        con = connect_readonly(source)
        try:
            rows = [r[0] for r in con.execute("pragma quick_check")]
            if rows != ["ok"]:
                shown = "; ".join(rows[:3]) + (f" (+{len(rows) - 3} more)" if len(rows) > 3 else "")
                return [*out, Check("source.integrity", FAIL, f"{source}: PRAGMA quick_check: {shown}")]
            out.append(Check("source.integrity", PASS, "PRAGMA quick_check: ok"))
            out.append(_schema_check(source, con))
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        out.append(Check("source.integrity", FAIL, f"{source}: unreadable SQLite database ({exc})"))
    return out


def _schema_check(source: Path, con: sqlite3.Connection) -> Check:
    found = inspect_schema(con)
    rows, extra_tables, extra_cols = found.tables, found.extra_tables, found.extra_columns
    if found.problems:
        return Check("source.schema", FAIL, f"{source}: " + "; ".join(found.problems))
    counts = ", ".join(f"{t} {n:,}" for t, n in rows.items())
    notes = []
    if extra_tables:
        notes.append(f"extra table(s) ignored: {', '.join(extra_tables)}")
    for t, cols in extra_cols.items():
        notes.append(f"extra column(s) in {t} ignored: {', '.join(repr(c) for c in cols)}")
    if notes:
        return Check("source.schema", WARN, f"expected tables and columns present ({counts}); " + "; ".join(notes))
    if not any(rows.values()):
        return Check("source.schema", WARN, "expected tables and columns present, but every table is empty")
    return Check("source.schema", PASS, f"expected tables and columns present ({counts} rows)")


# -- machine -----------------------------------------------------------------------------------


def disk_check(source: Path, target_name: str, settings: Settings) -> Check:
    source = Path(source)
    src_bytes = 0
    if source.is_file():
        src_bytes = source.stat().st_size
    elif source.is_dir():
        src_bytes = sum(p.stat().st_size for p in source.glob("*.xlsx"))
    wh_bytes = settings.warehouse.stat().st_size if target_name == "dev" and settings.warehouse.is_file() else 0
    need_mb = 2 * (src_bytes + wh_bytes) / health.MB
    floor_mb = health.ResourceLimits.from_env().min_free_disk_mb
    folders = [settings.runs_dir, settings.backups_dir]
    if target_name == "dev":
        folders.insert(0, settings.warehouse.parent)
    worst: tuple[float, Path] | None = None
    seen: set[int] = set()
    for folder in folders:
        anchor = health.existing_ancestor(folder)
        if anchor.stat().st_dev in seen:
            continue
        seen.add(anchor.stat().st_dev)
        free = health.free_disk_mb(anchor)
        if worst is None or free < worst[0]:
            worst = (free, anchor)
    assert worst is not None
    free, where = worst
    basis = f"2 × (source {src_bytes / health.MB:,.1f} MB + warehouse {wh_bytes / health.MB:,.1f} MB)"
    if free < need_mb:
        return Check("disk", FAIL, f"{free:,.0f} MB free on {where}, {basis} = {need_mb:,.0f} MB needed")
    if free < floor_mb:
        return Check(
            "disk",
            FAIL,
            f"{free:,.0f} MB free on {where}, under the {floor_mb:,.0f} MB minimum (SDRUN_MIN_FREE_DISK_MB)",
        )
    return Check(
        "disk",
        PASS,
        f"{free:,.0f} MB free on {where} (needs {max(need_mb, floor_mb):,.0f} MB: "
        f"{basis}, at least SDRUN_MIN_FREE_DISK_MB {floor_mb:,.0f})",
    )


def _size_mb(text: str) -> float | None:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]i?B)\s*", text, re.IGNORECASE)
    if not m:
        return None
    scale = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[m.group(2)[0].lower()]
    return float(m.group(1)) * scale


def memory_check() -> Check:
    floor = health.ResourceLimits.from_env().min_free_memory_mb
    avail = health.available_memory_mb()
    limit = _size_mb(duckdb_memory_limit())
    if avail < floor:
        return Check(
            "memory", FAIL, f"{avail:,.0f} MB available, under the {floor:,.0f} MB minimum (SDRUN_MIN_FREE_MEMORY_MB)"
        )
    if limit is not None and avail < limit + floor:
        return Check(
            "memory",
            WARN,
            f"{avail:,.0f} MB available: less than DuckDB's memory limit "
            f"{duckdb_memory_limit()} plus the {floor:,.0f} MB minimum; lower SDRUN_DUCKDB_MEMORY_LIMIT",
        )
    return Check(
        "memory", PASS, f"{avail:,.0f} MB available (DuckDB limit {duckdb_memory_limit()}, minimum {floor:,.0f} MB)"
    )


def extensions_check(target_name: str, source: Path) -> Check:
    import duckdb

    from orchestrator.core import extensions

    needed = ["sqlite_scanner"]
    if engine(target_name) == "postgres":
        needed.append("postgres_scanner")
    if Path(source).is_dir():
        needed.append("excel")
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        have = extensions.installed(con)
        ok: list[str] = []
        missing: list[str] = []
        optional: list[str] = []
        for name in extensions.EXTENSIONS:
            if name in have:
                try:
                    con.execute(f"LOAD {name}")
                    ok.append(f"{name} (installed)")
                    continue
                except duckdb.Error as exc:
                    problem = f"{name}: installed but does not load ({str(exc).splitlines()[0]})"
            else:
                try:
                    extensions.packaged_file(name)
                    ok.append(f"{name} (from its package)")
                    continue
                except (EnvironmentProblem, ImportError) as exc:
                    problem = f"{name}: not installed and not available offline ({exc})"
            (missing if name in needed else optional).append(problem)
    finally:
        con.close()
    if missing:
        return Check("duckdb.extensions", FAIL, "; ".join(missing) + "; run `sdrun setup` (make setup)")
    if optional:
        return Check(
            "duckdb.extensions",
            WARN,
            f"present: {', '.join(ok)}; not needed for this run but missing: " + "; ".join(optional),
        )
    return Check("duckdb.extensions", PASS, f"present offline (duckdb {duckdb.__version__}): {', '.join(ok)}")


def _build_settings(target_name: str, settings: Settings, dbt_vars: dict[str, Any] | None
                    ) -> tuple[dict[str, str], dict[str, Any], SchemaSet]:
    """The environment and vars of the dbt build this preflight precedes (same profile, same vars:
    dbt keeps the partial parse only when both are unchanged), and the schemas it builds into."""
    target = get_target(target_name, settings)
    return target.dbt_env(), {**(dbt_vars or {}), **target.dbt_vars()}, target.schemas


def _parse_cache_for(settings: Settings, target_name: str) -> Path | None:
    """The partial-parse state the target's build uses too (build/gate.py), so that the build parses
    no more than what changed."""
    try:
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # the disk/permission checks report it; parse without the cache
        return None
    return parse_cache(settings, target_name)


def dbt_parse_check(
    target_name: str, settings: Settings, dbt_vars: dict[str, Any] | None = None, project_dir: Path | None = None,
    like: str | None = None,
) -> Check:
    """`like`: a target this run's dbt process parsed already; its manifest, moved into this target's
    schemas, stands for this parse when it can (build/dbt.py `DeriveFrom`)."""
    env, build_vars, schemas = _build_settings(target_name, settings, dbt_vars)
    own_project = project_dir is None or Path(project_dir).resolve() == PROJECT_DIR
    derive_from = None
    if like is not None and own_project:
        like_env, like_vars, like_schemas = _build_settings(like, settings, dbt_vars)
        derive_from = DeriveFrom(like, like_env, like_vars, dict(zip(like_schemas.all(), schemas.all(), strict=True)))
    errors: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["info"].get("level") == "error":
            errors.append(event["info"]["msg"].strip())

    with tempfile.TemporaryDirectory(prefix="sdrun-preflight-") as tmp:
        result = run_dbt(
            # no manifest.json: it would go to this temporary folder (0.24 CPU-seconds beside the profile);
            # the partial-parse state is written all the same, and each build writes its own manifest.json
            ["parse", "--no-write-json"],
            work_dir=Path(tmp),
            env=env,
            vars=build_vars or None,
            project_dir=project_dir,
            parse_cache=_parse_cache_for(settings, target_name) if own_project else None,
            on_event=on_event,
            derive_from=derive_from,
        )
        if result.returncode != 0 and not errors:
            errors = (Path(tmp) / "dbt.log").read_text(encoding="utf-8").strip().splitlines()[-3:]
    if result.returncode != 0:
        first = " ".join(" ".join(errors).split())[:400]
        return Check("dbt.parse", FAIL, f"dbt parse failed (exit {result.returncode}): {first}")
    return Check("dbt.parse", PASS, f"the dbt project parses for target {target_name}")


class BackgroundParse:
    """The dbt.parse check started now, on a thread: dbt parses in the run's dbt process
    (build/dbt.py `dbt_session`) while this process backs up, checks and profiles the source, and
    `check()` waits for it. Nothing else may use the dbt process until then.

    `then`: other targets this run builds (prod's canary stage), made next on the same thread when
    the check passed, so that their builds find their manifest ready too: a copy of this parse moved
    into their schemas (a full parse of this project takes about 2 CPU-seconds, beside the profile),
    or a parse of their own. Their outcome is not a check: a target that does not parse fails its own
    build, as it would without this."""

    def __init__(self, target_name: str, settings: Settings, dbt_vars: dict[str, Any] | None,
                 then: tuple[str, ...] = ()) -> None:
        self.started = time.perf_counter()
        start_worker()  # by this thread: the pool's thread ends after the parse, and the process with it

        def parse_all() -> Check:
            got = dbt_parse_check(target_name, settings, dbt_vars)
            got.seconds = round(time.perf_counter() - self.started, 3)
            for other in then if got.status == PASS else ():
                try:
                    dbt_parse_check(other, settings, dbt_vars, like=target_name)
                except Exception:  # noqa: BLE001  (its build parses again, and says what is wrong)
                    break
            return got

        pool = ThreadPoolExecutor(1, thread_name_prefix="dbt-parse")
        self._future: Future[Check] = pool.submit(parse_all)
        pool.shutdown(wait=False)

    def check(self) -> Check:
        return self._future.result()


# -- PostgreSQL --------------------------------------------------------------------------------


def pg_where() -> str:
    """Where the libpq variables point, for people (never the password)."""
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    user = os.environ.get("PGUSER", "postgres")
    db = os.environ.get("PGDATABASE", user)
    return redact(f"postgresql://{user}@{host}:{port}/{db}")


def find_pg_dump() -> str | None:
    """pg_dump as the backup will run it (targets.postgres.pg_tool); None when there is none."""
    try:
        return pg_tool("pg_dump")
    except SdrunError:
        return None


def pg_dump_major(exe: str) -> int | None:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False, timeout=30)
    m = re.search(r"\b(\d+)(?:\.\d+)?", out.stdout)
    return int(m.group(1)) if out.returncode == 0 and m else None


def postgres_checks() -> list[Check]:
    import psycopg2

    out: list[Check] = []
    where = pg_where()
    server_major: int | None = None
    t0 = time.perf_counter()
    try:
        con = psycopg2.connect(
            "", application_name="sdrun-preflight", connect_timeout=os.environ.get("PGCONNECT_TIMEOUT", "10")
        )
    except psycopg2.Error as exc:
        first = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        out.append(
            Check(
                "postgres.connection",
                FAIL,
                f"{where}: cannot connect ({first}); set PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE",
                round(time.perf_counter() - t0, 3),
            )
        )
        out.append(Check("postgres.version", FAIL, "not checked: no connection"))
        out.append(Check("postgres.create_schema", FAIL, "not checked: no connection"))
    else:
        try:
            con.autocommit = True
            out.append(Check("postgres.connection", PASS, f"connected to {where}", round(time.perf_counter() - t0, 3)))
            server_major = con.server_version // 10000
            with con.cursor() as cur:
                cur.execute("show server_version")
                version = cur.fetchone()[0]
                status = PASS if server_major >= 13 else WARN
                out.append(
                    Check(
                        "postgres.version",
                        status,
                        f"PostgreSQL {version}" + ("" if status == PASS else " (older than 13, untested)"),
                    )
                )
                cur.execute(
                    "select current_user, has_database_privilege(current_database(), 'CREATE'), "
                    "(select rolsuper from pg_roles where rolname = current_user)"
                )
                user, can_create, superuser = cur.fetchone()
                if can_create or superuser:
                    out.append(
                        Check(
                            "postgres.create_schema",
                            PASS,
                            f"role {user} may create schemas in database {con.info.dbname}",
                        )
                    )
                else:
                    out.append(
                        Check(
                            "postgres.create_schema",
                            FAIL,
                            f"role {user} lacks CREATE on database {con.info.dbname}: "
                            f"GRANT CREATE ON DATABASE {con.info.dbname} TO {user}",
                        )
                    )
        finally:
            con.close()
    exe = find_pg_dump()
    if exe is None:
        out.append(
            Check(
                "postgres.pg_dump",
                FAIL,
                "pg_dump not found: install the PostgreSQL client tools (package postgresql-client)",
            )
        )
        return out
    major = pg_dump_major(exe)
    if major is None:
        out.append(Check("postgres.pg_dump", FAIL, f"{exe} --version gives no version"))
    elif server_major is None:
        out.append(Check("postgres.pg_dump", WARN, f"{exe} is version {major}; server version unknown"))
    elif major < server_major:
        out.append(
            Check(
                "postgres.pg_dump",
                FAIL,
                f"{exe} is version {major}, older than the server "
                f"({server_major}): pg_dump cannot back up a newer server; install postgresql-client-"
                f"{server_major}",
            )
        )
    else:
        out.append(Check("postgres.pg_dump", PASS, f"{exe} version {major} (server {server_major})"))
    return out


# -- all ---------------------------------------------------------------------------------------


def _timed(fn: Callable[[], Check | list[Check]]) -> list[Check]:
    t0 = time.perf_counter()
    got = fn()
    checks = got if isinstance(got, list) else [got]
    if len(checks) == 1 and not checks[0].seconds:
        checks[0].seconds = round(time.perf_counter() - t0, 3)
    return checks


def run_checks(
    source: Path,
    target_name: str,
    settings: Settings | None = None,
    *,
    dbt_vars: dict[str, Any] | None = None,
    project_dir: Path | None = None,
    on_check: Callable[[Check], None] | None = None,
    parse_beside: bool = False,
) -> list[Check]:
    """Every check, in order; never raises for a failed check (see `raise_on_fail`). With
    `parse_beside` the dbt.parse check is left out: the caller runs it (BackgroundParse)."""
    check_name(target_name)
    settings = settings or Settings.from_env()
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: source_checks(source),
        lambda: disk_check(source, target_name, settings),
        memory_check,
        lambda: extensions_check(target_name, source),
    ]
    if not parse_beside:
        steps.append(lambda: dbt_parse_check(target_name, settings, dbt_vars, project_dir))
    if engine(target_name) == "postgres":
        steps.append(postgres_checks)
    checks: list[Check] = []
    for step in steps:
        for c in _timed(step):
            checks.append(c)
            if on_check is not None:
                on_check(c)
    return checks


def to_json(checks: list[Check], source: Path, target_name: str) -> dict[str, Any]:
    return {
        "source": str(source),
        "target": target_name,
        "ok": not failed(checks),
        "counts": {s: sum(1 for c in checks if c.status == s) for s in (PASS, WARN, FAIL)},
        "checks": [c.to_dict() for c in checks],
    }
