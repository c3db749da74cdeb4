"""Fault injection on `sdrun full --target prod`, against a private PostgreSQL of this module's own.

Each fault hits a real run of the real CLI: SIGKILL at the start of every step and in the middle of
the load and of the build; the PostgreSQL server stopped during the load; the disk filling up (the
run's folders, and PostgreSQL's own storage); the source replaced by a truncated or non-SQLite file,
before and during the run. After each one the test checks that

- the live schema still serves the last good data (same content, readable by the dashboards' role),
- the source file's SHA-256 is unchanged (the source is never written),
- nothing of the failed run keeps running (dbt dies with sdrun),
- the next run completes with no manual repair, and leaves nothing behind.

Every deploy of this module builds from the same source, so "the last good data" is one content
fingerprint taken after the first deploy. Bounded in time: a small source (scale 0.05), and the
recovery runs skip the canary stage unless the fault hit the canary.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import pytest

from pytest_tests.helpers import SDRUN, query
from pytest_tests.pgcluster import PgCluster

Records = list[dict[str, Any]]

CANARY_STEPS = ["preflight", "source_backup", "check", "profile", "parse", "prepare",
                "canary_load", "canary_build", "canary_verify", "canary_report"]
DEPLOY_STEPS = ["load", "build", "verify", "report", "compare", "backup", "swap", "smoke", "prune"]
# a run killed before prepare, where its ledger row starts, leaves no row
NO_LEDGER_YET = {"preflight", "source_backup", "check", "profile", "parse", "prepare"}
PUBLISHING = {"smoke", "prune"}  # killed here, the new version is already live (and verified)


# ------------------------------------------------------------------------------------------------
# the module's PostgreSQL, database and source
# ------------------------------------------------------------------------------------------------


@dataclass
class World:
    cluster: PgCluster
    env: dict[str, str]
    source: Path
    source_sha: str
    content: str  # fingerprint of the last good live data
    mounts: list[Path]

    @property
    def runs(self) -> Path:
        return Path(self.env["SDRUN_HOME"]) / "runs"

    @property
    def backups(self) -> Path:
        return Path(self.env["SDRUN_HOME"]) / "backups"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def live_content(env: dict[str, str], user: str | None = None) -> str:
    """What the dashboards see: every mart table's rows, hashed."""
    parts = []
    for table in ("tickets", "comments", "timesheets", "quarantine", "daily_summary"):
        rows = query(env, f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                          f"from servicedesk.{table} t", user=user)
        parts.append(f"{table}:{rows[0][0]}:{rows[0][1]}")
    return ";".join(parts)


def live_version(env: dict[str, str]) -> str | None:
    rows = query(env, "select version from sdrun_meta.versions where state = 'live'")
    return rows[0][0] if rows else None


def schemas(env: dict[str, str]) -> set[str]:
    return {r[0] for r in query(env, "select nspname from pg_namespace where nspname not like 'pg\\_%' "
                                     "and nspname not in ('information_schema', 'public')")}


def run_sdrun(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SDRUN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def mount_tmpfs(where: Path, size: str, owner: str | None = None) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)], check=True)
    if owner:
        shutil.chown(where, owner, owner)


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture(scope="module")
def world(demo_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cluster = PgCluster().start()
    mounts: list[Path] = []
    try:
        cluster.create_database("faults")
        home = tmp_path_factory.mktemp("faults-home")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SDRUN_"))}
        env.update(cluster.env("faults"), SDRUN_HOME=str(home), GRAFANA_RO_PASSWORD="any")
        source = home / "export.db"
        shutil.copyfile(demo_source, source)
        assert run_sdrun(env, "setup-db").returncode == 0
        first = run_sdrun(env, "full", "--source", str(source), "--target", "prod", "--skip-canary", "-q")
        assert first.returncode == 0, first.stdout + first.stderr
        yield World(cluster, env, source, sha256(source), live_content(env), mounts)
    finally:
        try:
            cluster.stop_server()
        finally:
            for m in mounts:
                subprocess.run(["umount", "-l", str(m)], check=False)
            cluster.stop()


# ------------------------------------------------------------------------------------------------
# starting a run and hitting it at a chosen moment
# ------------------------------------------------------------------------------------------------


def records_of(run_dir: Path) -> Records:
    log = run_dir / "log.jsonl"
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # the line being written
            break
    return out


def message_in(step: str, text: str) -> Callable[[Records], bool]:
    return lambda records: any(r.get("step") == step and text in r["message"] for r in records)


def paused_at(point: str) -> Callable[[Records], bool]:
    return lambda records: any(r.get("point") == point for r in records)


def resume(world: World, run_id: str, point: str) -> None:
    (world.runs / run_id / f"paused.{point.replace(':', '_')}").unlink()


def run_until(world: World, args: list[str], when: Callable[[Records], bool] | str, *,
              env: dict[str, str] | None = None, timeout: float = 180) -> tuple[subprocess.Popen[str], str]:
    """Start `sdrun full --target prod ...`; return as soon as its log satisfies `when` (the run id too).
    A string `when` is a failpoint (orchestrator/core/failpoints.py): the run waits there until `resume`."""
    env = dict(env or world.env)
    if isinstance(when, str):
        env["SDRUN_PAUSE_AT"] = when
        when = paused_at(when)
    known = set(world.runs.iterdir()) if world.runs.exists() else set()
    proc = subprocess.Popen([SDRUN, "full", "--source", str(world.source), "--target", "prod", "-q", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(world.runs.iterdir()) - known if world.runs.exists() else set()
        for run_dir in new:
            if when(records_of(run_dir)):
                return proc, run_dir.name
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before the fault could be injected:\n{out}\n{err}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the run never reached the moment of the fault")


def sigkill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def nothing_of_the_run_still_running(run_id: str) -> None:
    """dbt (and anything else started for the run) died with it."""
    deadline = time.monotonic() + 10
    alive: list[str] = []
    while time.monotonic() < deadline:
        alive = []
        for p in psutil.process_iter(["cmdline"]):
            try:
                if any(run_id in part for part in p.info["cmdline"] or []):
                    alive.append(" ".join(p.info["cmdline"])[:200])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if not alive:
            return
        time.sleep(0.2)
    pytest.fail(f"still running after the run died: {alive}")


# ------------------------------------------------------------------------------------------------
# what must hold after every fault
# ------------------------------------------------------------------------------------------------


def assert_last_good_data_served(world: World, allowed_versions: set[str | None]) -> None:
    assert live_version(world.env) in allowed_versions
    assert live_content(world.env) == world.content
    assert live_content(world.env, user="grafana_ro") == world.content  # the dashboards' role reads it
    assert sha256(world.source) == world.source_sha


def assert_next_run_completes(world: World, *, canary: bool = False, failed_run: str | None = None) -> dict[str, Any]:
    """The next run needs no repair by hand: it clears what the failed run left, builds, swaps in."""
    before = live_version(world.env)
    args = ["full", "--source", str(world.source), "--target", "prod", "--force", "-q"]
    r = run_sdrun(world.env, *args, *([] if canary else ["--skip-canary"]))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report_path = next(line.split()[-1] for line in r.stdout.splitlines() if line.strip().startswith("report "))
    report = json.loads(Path(report_path).read_text())
    assert report["outcome"] == "ok" and live_version(world.env) not in (None, before)
    assert live_content(world.env) == world.content
    # nothing left behind: the live set, the kept versions, the ledger, no canary or half-built schema
    kept = {r[0] for r in query(world.env, "select version from sdrun_meta.versions where state = 'kept'")}
    expected = {"servicedesk", "servicedesk_staging", "raw", "sdrun_meta"}
    expected |= {name for v in kept for name in (f"servicedesk_{v}", f"servicedesk_{v}_staging", f"raw_{v}")}
    assert schemas(world.env) == expected
    assert not query(world.env, "select run_id from sdrun_meta.runs where outcome = 'running'")
    assert all((d / "manifest.json").exists() for d in world.backups.glob("pg-*")), "a half-written backup"
    if failed_run is not None:
        outcome = query(world.env, "select outcome from sdrun_meta.runs where run_id = %s", (failed_run,))
        assert outcome and outcome[0][0] in ("killed", "failed"), outcome
    assert sha256(world.source) == world.source_sha
    return report


# ------------------------------------------------------------------------------------------------
# SIGKILL at every step boundary, in the middle of the load and of the build
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", CANARY_STEPS + DEPLOY_STEPS)
def test_sigkill_at_the_start_of_each_step(world: World, step: str) -> None:
    canary = step in CANARY_STEPS
    before = live_version(world.env)
    proc, run_id = run_until(world, ["--force", *([] if canary else ["--skip-canary"])], f"step:{step}")
    sigkill(proc)
    nothing_of_the_run_still_running(run_id)
    allowed = {before, run_id.lower()} if step in PUBLISHING else {before}
    assert_last_good_data_served(world, allowed)
    assert_next_run_completes(world, canary=canary,
                              failed_run=run_id if step not in NO_LEDGER_YET else None)


def test_sigkill_in_the_middle_of_the_load(world: World) -> None:
    before = live_version(world.env)
    proc, run_id = run_until(world, ["--force", "--skip-canary"], "load:tickets")
    tables = query(world.env, "select tablename from pg_tables where schemaname = 'raw_next__load'")
    assert tables == [("tickets",)]  # one table copied, the others not yet
    sigkill(proc)
    nothing_of_the_run_still_running(run_id)
    assert_last_good_data_served(world, {before})
    assert_next_run_completes(world, failed_run=run_id)


def test_sigkill_in_the_middle_of_the_build(world: World) -> None:
    before = live_version(world.env)
    proc, run_id = run_until(world, ["--force", "--skip-canary"], message_in("build", "OK created"))
    sigkill(proc)
    nothing_of_the_run_still_running(run_id)
    assert "servicedesk_next_staging" in schemas(world.env), "the build had begun writing the new version"
    assert_last_good_data_served(world, {before})
    assert_next_run_completes(world, failed_run=run_id)


# ------------------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM: the run stops within seconds and says so (issue 15, cases 1 and 2)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_a_signal_in_the_middle_of_the_load_stops_the_run_as_interrupted(world: World, sig: int, code: int) -> None:
    """Mid-load, DuckDB's connection to PostgreSQL holds the `__load` schema: the run must still stop
    within seconds, release the deploy lock, and record `interrupted` everywhere (never `ok`)."""
    before = live_version(world.env)
    proc, run_id = run_until(world, ["--force", "--skip-canary"], "load:tickets")
    t0 = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == code, out + err
    assert time.monotonic() - t0 < 30, "the run took too long to stop"
    assert "run ok" not in err and "interrupted by" in err
    report = json.loads((world.runs / run_id / "report.json").read_text())
    assert (report["outcome"], report["exit_code"]) == ("interrupted", code)
    assert report["steps"]["load"]["status"] == "interrupted"
    metrics = (world.runs / run_id / "metrics.prom").read_text()
    assert 'sdrun_run_outcome{target="prod",outcome="interrupted"} 1' in metrics
    assert query(world.env, "select outcome from sdrun_meta.runs where run_id = %s", (run_id,)) == [("interrupted",)]
    assert not query(world.env, "select 1 from pg_locks where locktype = 'advisory' and granted")  # lock released
    nothing_of_the_run_still_running(run_id)
    assert_last_good_data_served(world, {before})
    assert_next_run_completes(world)


# ------------------------------------------------------------------------------------------------
# PostgreSQL stopped during the load
# ------------------------------------------------------------------------------------------------


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


def test_postgres_stopped_during_the_load(world: World) -> None:
    before = live_version(world.env)
    proc, run_id = run_until(world, ["--force", "--skip-canary"], "load:tickets")
    world.cluster.stop_server("immediate")
    try:
        resume(world, run_id, "load:tickets")
        out, err = proc.communicate(timeout=120)
    finally:
        world.cluster.start_server()
    assert proc.returncode == 1, out + err
    line = one_error_line(err)
    assert "loading raw into PostgreSQL" in line, line
    report = json.loads((world.runs / run_id / "report.json").read_text())
    assert report["outcome"] == "failed" and report["steps"]["load"]["status"] == "failed"
    assert report["source"]["unchanged"] is True
    nothing_of_the_run_still_running(run_id)
    assert_last_good_data_served(world, {before})
    assert_next_run_completes(world, failed_run=run_id)


# ------------------------------------------------------------------------------------------------
# the disk filling up
# ------------------------------------------------------------------------------------------------


def test_free_disk_under_the_threshold_stops_before_anything_is_written(world: World) -> None:
    before = live_version(world.env)
    known = set(schemas(world.env))
    r = run_sdrun({**world.env, "SDRUN_MIN_FREE_DISK_MB": str(10**9)}, "full", "--source", str(world.source),
                  "--target", "prod", "--force", "-q")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "SDRUN_MIN_FREE_DISK_MB" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert schemas(world.env) == known
    assert_last_good_data_served(world, {before})
    assert_next_run_completes(world)


@pytest.mark.skipif(not can_mount(), reason="mounting a small filesystem needs root")
def test_the_backups_disk_filling_up_during_the_run(world: World, tmp_path: Path) -> None:
    """The run's backup folder is a real 64 MB filesystem that something else fills while dbt builds:
    the check before the next step stops the run; nothing is published."""
    small = tmp_path / "small"
    mount_tmpfs(small, "64m")
    world.mounts.append(small)
    env = {**world.env, "SDRUN_BACKUPS_DIR": str(small), "SDRUN_MIN_FREE_DISK_MB": "16"}
    before = live_version(world.env)
    proc, run_id = run_until(world, ["--force", "--skip-canary"], "step:build", env=env)
    filler = small / "filler"
    subprocess.run(["fallocate", "-l", "56M", str(filler)], check=True)
    resume(world, run_id, "step:build")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, out + err
    line = one_error_line(err)
    assert str(small) in line and "SDRUN_MIN_FREE_DISK_MB" in line and "nothing was published" in line, line
    assert_last_good_data_served(world, {before})
    assert not {s for s in schemas(world.env) if "_next" in s}  # the unpublished version is dropped
    filler.unlink()  # space comes back
    r = run_sdrun(env, "full", "--source", str(world.source), "--target", "prod", "--force", "--skip-canary", "-q")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert list(small.glob("pg-*/manifest.json"))
    assert live_content(world.env) == world.content


@pytest.mark.skipif(not can_mount(), reason="mounting a small filesystem needs root")
def test_postgres_running_out_of_disk_during_the_build(world: World) -> None:
    """New tables go to a tablespace on a 3 MB filesystem: the raw copy fits, the build does not.
    PostgreSQL fails the statement ('No space left on device'); live stays; once there is room, the next
    run completes. (Kept last among the PostgreSQL faults: the live version then lives on that tablespace.)"""
    assert world.cluster.base is not None
    space = world.cluster.base / "small_tablespace"  # a folder the server's user can reach
    mount_tmpfs(space, "3m", owner=world.cluster.user)
    world.mounts.append(space)
    query(world.env, f"create tablespace small location '{space}'")
    query(world.env, "alter database faults set default_tablespace = small")
    before = live_version(world.env)
    r = run_sdrun(world.env, "full", "--source", str(world.source), "--target", "prod", "--force", "--skip-canary",
                  "-q")
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r.stderr)
    assert "No space left on device" in r.stdout + r.stderr + line or "could not extend" in line, line
    assert_last_good_data_served(world, {before})
    subprocess.run(["mount", "-o", "remount,size=256m", str(space)], check=True)
    assert_next_run_completes(world)


# ------------------------------------------------------------------------------------------------
# the source replaced by a truncated or non-SQLite file
# ------------------------------------------------------------------------------------------------


def _truncated(good: Path, bad: Path) -> None:
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 3])


def _not_sqlite(good: Path, bad: Path) -> None:
    bad.write_text("TKT-Ticket ID,TKT-Title\nT1,hello\n")


@pytest.mark.parametrize("make_bad", [_truncated, _not_sqlite], ids=["truncated", "not-sqlite"])
def test_source_replaced_before_the_run(world: World, tmp_path: Path, make_bad: Callable[[Path, Path], None]) -> None:
    before = live_version(world.env)
    bad = tmp_path / "export.db"
    make_bad(world.source, bad)
    bad_sha = sha256(bad)
    r = run_sdrun(world.env, "full", "--source", str(bad), "--target", "prod", "--force", "-q")
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r.stderr)
    assert str(bad) in line, line
    assert sha256(bad) == bad_sha  # not "repaired" either
    assert_last_good_data_served(world, {before})


@pytest.mark.parametrize("make_bad", [_truncated, _not_sqlite, None], ids=["truncated", "not-sqlite", "other-export"])
def test_source_replaced_during_the_run(world: World, tmp_path: Path,
                                        make_bad: Callable[[Path, Path], None] | None) -> None:
    """The file is swapped (renamed over) after it was checked and copied, before the build: whatever
    it now holds, nothing is published (the SHA-256 is compared again before the swap)."""
    before = live_version(world.env)
    keep = tmp_path / "original.db"
    shutil.copyfile(world.source, keep)
    other = tmp_path / "other.db"
    if make_bad is None:  # a valid export, but not the one that was checked
        con = sqlite3.connect(keep)
        con.execute("vacuum into ?", (str(other),))
        con.close()
        con = sqlite3.connect(other)
        con.execute("""update tickets set "TKT-Title" = 'changed'""")
        con.commit()
        con.close()
    else:
        make_bad(keep, other)
    proc, run_id = run_until(world, ["--force", "--skip-canary"], "step:build")
    os.replace(other, world.source)
    resume(world, run_id, "step:build")
    try:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 1, out + err
        line = one_error_line(err)
        assert str(world.source) in line and "nothing was published" in line, line
        assert live_version(world.env) == before and live_content(world.env) == world.content
        assert not {s for s in schemas(world.env) if "_next" in s}
    finally:
        os.replace(keep, world.source)  # the operator puts the right export back
    assert_next_run_completes(world, failed_run=run_id)


# ------------------------------------------------------------------------------------------------
# Somebody else's objects, grants and snapshots across the swap (issue 15, cases 4, 5, 7 and 13)
# ------------------------------------------------------------------------------------------------


@dataclass
class UserWorld:
    env: dict[str, str]
    a: Path  # two different exports, so a view left on the old version shows other numbers
    b: Path


@pytest.fixture(scope="module")
def users(world: World, demo_source: Path, tmp_path_factory: pytest.TempPathFactory) -> UserWorld:
    """A database of its own on the module's server: an analyst's objects and roles live here."""
    from orchestrator.demo.generator import generate

    world.cluster.create_database("userobjects")
    home = tmp_path_factory.mktemp("users-home")
    env = {**world.env, **world.cluster.env("userobjects"), "SDRUN_HOME": str(home)}
    b = home / "other.db"
    generate(b, scale=0.05, seed=11)
    assert run_sdrun(env, "setup-db").returncode == 0
    deploy(env, demo_source)
    return UserWorld(env, demo_source, b)


def deploy(env: dict[str, str], source: Path, *extra: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    # two different exports replace each other on purpose: the shrink gate is overridden (--allow-shrink)
    r = run_sdrun(env, "full", "--source", str(source), "--target", "prod", "--skip-canary", "--force",
                  "--allow-shrink", "-q", *extra)
    assert r.returncode == code, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def execute(env: dict[str, str], statements: str) -> None:
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"], user=env["PGUSER"])
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(statements)
    finally:
        con.close()


def can_read(env: dict[str, str], role: str, statement: str) -> bool:
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"], user=env["PGUSER"])
    try:
        with con.cursor() as cur:
            cur.execute(f"set role {role}")
            try:
                cur.execute(statement)
                return True
            except psycopg2.errors.InsufficientPrivilege:
                return False
    finally:
        con.close()


OPEN = "select count(*) from servicedesk.tickets where status_group not in ('closed', 'resolved', 'cancelled')"


def test_user_views_tables_and_grants_follow_the_live_data_across_swap_and_rollback(users: UserWorld) -> None:
    env = users.env
    execute(env, """
        create schema reports;
        create view reports.open_tickets as select ticket_id, status_group from servicedesk.tickets
            where status_group not in ('closed', 'resolved', 'cancelled');
        create view reports.open_count as select count(*) as n from reports.open_tickets;
        create table servicedesk.analyst_notes (ticket_id text, note text);
        insert into servicedesk.analyst_notes values ('T1', 'only copy');
        create view servicedesk.analyst_view as select count(*) as n from servicedesk.tickets;
        create role tickets_only; create role two_columns;
        grant usage on schema servicedesk to tickets_only, two_columns;
        grant select on servicedesk.tickets to tickets_only;
        grant select (ticket_id, status_group) on servicedesk.tickets to two_columns;
    """)
    try:
        open_a = query(env, OPEN)[0][0]
        r = deploy(env, users.b)
        open_b = query(env, OPEN)[0][0]
        assert open_a != open_b, "the two exports must differ for this test to mean anything"
        assert "re-pointed to the new version: reports.open_tickets" in r.stdout
        assert "servicedesk.analyst_notes (table)" in r.stdout

        def follows_live(expected_open: int) -> None:
            assert query(env, "select count(*) from reports.open_tickets")[0][0] == expected_open
            assert query(env, "select n from reports.open_count")[0][0] == expected_open
            assert query(env, "select n from servicedesk.analyst_view")[0][0] == \
                query(env, "select count(*) from servicedesk.tickets")[0][0]
            assert query(env, "select note from servicedesk.analyst_notes") == [("only copy",)]
            # grants exactly as they were: no wider, no narrower
            assert can_read(env, "tickets_only", "select count(*) from servicedesk.tickets")
            for table in ("quarantine", "audit_changes", "comments"):
                assert not can_read(env, "tickets_only", f"select count(*) from servicedesk.{table}"), table
                assert not can_read(env, "two_columns", f"select count(*) from servicedesk.{table}"), table
            assert can_read(env, "two_columns", "select ticket_id, status_group from servicedesk.tickets")
            assert not can_read(env, "two_columns", "select * from servicedesk.tickets")
            assert not can_read(env, "tickets_only", "select count(*) from sdrun_meta.runs")  # nor the ledger
            assert live_content(env, user="grafana_ro")  # the dashboards' role still reads every mart

        follows_live(open_b)
        r = run_sdrun(env, "rollback")
        assert r.returncode == 0, r.stdout + r.stderr
        follows_live(open_a)
        ledger = query(env, "select outcome, version from sdrun_meta.runs where target = 'rollback'")
        assert ledger == [("ok", live_version(env))]
    finally:
        execute(env, "drop schema if exists reports cascade; drop table if exists servicedesk.analyst_notes; "
                     "drop view if exists servicedesk.analyst_view; drop owned by tickets_only, two_columns; "
                     "drop role if exists tickets_only; drop role if exists two_columns")


def test_prune_names_what_depends_on_an_old_version_and_drops_nothing_of_it(users: UserWorld) -> None:
    env = {**users.env, "SDRUN_KEEP_VERSIONS": "1"}
    deploy(env, users.a)
    kept = [r[0] for r in query(env, "select version from sdrun_meta.versions where state = 'kept'")]
    assert len(kept) == 1
    old = kept[0]
    execute(env, f"create schema reports; create view reports.old_numbers as "
                 f"select count(*) as n from servicedesk_{old}.tickets; "
                 f"create table servicedesk_{old}_staging.scratch (x int); "
                 f"insert into servicedesk_{old}_staging.scratch values (1)")
    try:
        r = deploy(env, users.a)
        assert f"version {old} NOT dropped" in r.stdout
        report = json.loads(Path(next(line.split()[-1] for line in r.stdout.splitlines()
                                      if line.strip().startswith("report "))).read_text())
        why = report["steps"]["prune"]["blocked"][old]
        assert f"view reports.old_numbers depends on servicedesk_{old}.tickets" in why
        assert f"servicedesk_{old}_staging.scratch (table) was not built by sdrun" in why
        assert query(env, "select n from reports.old_numbers")[0][0] > 0  # nothing of it dropped
        assert query(env, f"select x from servicedesk_{old}_staging.scratch") == [(1,)]
        assert query(env, "select state from sdrun_meta.versions where version = %s", (old,)) == [("kept",)]
        execute(env, f"drop schema reports cascade; drop table servicedesk_{old}_staging.scratch")
        deploy(env, users.a)
        assert query(env, "select state from sdrun_meta.versions where version = %s", (old,)) == [("dropped",)]
        assert not {s for s in schemas(env) if old in s}
    finally:
        execute(env, "drop schema if exists reports cascade")


def test_what_cannot_be_re_pointed_stops_the_swap_named_and_nothing_changes(users: UserWorld) -> None:
    env = users.env
    before, content = live_version(env), live_content(env)
    execute(env, "create schema reports; create materialized view reports.frozen as select count(*) as n "
                 "from servicedesk.tickets; "
                 "create function servicedesk.helper() returns int language sql as 'select 1'")
    try:
        r = deploy(env, users.b, code=1)
        line = one_error_line(r.stderr)
        assert "swap refused, nothing changed" in line
        assert "materialized view reports.frozen depends on servicedesk.tickets" in line
        assert "function servicedesk.helper()" in line
        assert live_version(env) == before and live_content(env) == content
        assert query(env, "select n from reports.frozen")[0][0] > 0
        run_id = json.loads(sorted((Path(env["SDRUN_HOME"]) / "runs").glob("*/report.json"))[-1].read_text())["run_id"]
        assert query(env, "select outcome from sdrun_meta.runs where run_id = %s", (run_id,)) == [("failed",)]
        assert not {s for s in schemas(env) if "_next" in s}
    finally:
        execute(env, "drop schema if exists reports cascade; drop function if exists servicedesk.helper()")


def test_the_swap_waits_for_snapshots_older_than_the_new_version(users: UserWorld) -> None:
    """A REPEATABLE READ transaction whose snapshot predates the new tables' rows would read them as
    empty after the swap: the swap waits for it, within SDRUN_SWAP_WAIT, else refuses naming it."""
    env = users.env
    reader = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"],
                              user=env["PGUSER"], application_name="analyst-rr")
    reader.set_session(isolation_level="REPEATABLE READ")
    try:
        with reader.cursor() as cur:
            cur.execute("select count(*) from servicedesk.tickets")  # its snapshot is taken here
            before, content = live_version(env), live_content(env)
            r = deploy({**env, "SDRUN_SWAP_WAIT": "2"}, users.b, code=1)
            line = one_error_line(r.stderr)
            assert f"pid {reader.get_backend_pid()}" in line and "analyst-rr" in line and "SDRUN_SWAP_WAIT" in line
            assert live_version(env) == before and live_content(env) == content
            # the same reader, ending its transaction while the swap waits: the swap goes ahead after it
            proc = subprocess.Popen([SDRUN, "full", "--source", str(users.b), "--target", "prod", "--skip-canary",
                                     "--force", "--allow-shrink", "-q"], env={**env, "SDRUN_SWAP_WAIT": "120"},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and proc.poll() is None:
                waiting = query(env, "select count(*) from pg_stat_activity where application_name = 'sdrun' "
                                     "and query like '%%backend_xmin%%'")[0][0]
                if waiting:
                    break
                time.sleep(0.2)
            assert proc.poll() is None, "the swap did not wait"
            cur.execute("select count(*) from servicedesk.tickets")
            assert cur.fetchone()[0] > 0
            reader.commit()
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, out[-2000:] + err[-2000:]
            assert live_version(env) != before
            report = json.loads(Path(next(line.split()[-1] for line in out.splitlines()
                                          if line.strip().startswith("report "))).read_text())
            assert report["steps"]["swap"]["waited_for_snapshots_s"] > 0
            cur.execute("select count(*) from servicedesk.tickets")  # a new snapshot: the new rows
            assert cur.fetchone()[0] == query(env, "select count(*) from servicedesk.tickets")[0][0] > 0
    finally:
        reader.close()
