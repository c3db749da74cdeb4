"""Gate 0, preflight: every check passes on a good input and fails on an input or machine made to fail it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from orchestrator.core.settings import PROJECT_DIR, Settings
from orchestrator.run import preflight

from .helpers import sdrun, ticket, write_source


def statuses(checks: list[preflight.Check]) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def settings_for(home: Path) -> Settings:
    return Settings(
        home=home,
        runs_dir=home / "runs",
        warehouse=home / "warehouse" / "servicedesk.duckdb",
        backups_dir=home / "backups",
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def test_good_source_passes_every_check_json(demo_source: Path, tmp_path: Path) -> None:
    proc = sdrun("preflight", "--source", str(demo_source), "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True
    names = [c["name"] for c in doc["checks"]]
    assert names == [
        "source.exists",
        "source.sqlite",
        "source.integrity",
        "source.schema",
        "disk",
        "memory",
        "duckdb.extensions",
        "dbt.parse",
    ]
    assert all(c["status"] in ("PASS", "WARN") for c in doc["checks"]), doc["checks"]
    assert not (tmp_path / "backups").exists()  # preflight writes nothing


def test_missing_source_fails_with_exit_1(tmp_path: Path) -> None:
    proc = sdrun("preflight", "--source", str(tmp_path / "nope.db"), home=tmp_path)
    assert proc.returncode == 1
    assert "FAIL  source.exists" in proc.stdout
    assert proc.stderr.startswith("Error: preflight: 1 check(s) failed: source.exists")


def test_not_sqlite_fails(tmp_path: Path) -> None:
    bad = tmp_path / "export.db"
    bad.write_text("ticket id,title\n1,printer\n")
    got = statuses(preflight.source_checks(bad))
    assert got == {"source.exists": "PASS", "source.sqlite": "FAIL"}


def test_corrupt_source_fails_quick_check(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    con = sqlite3.connect(db)
    con.execute("create table t (a text, b text)")
    con.execute("create index t_a on t (a)")
    con.executemany("insert into t values (?, ?)", [(f"key {i:06d}", "x" * 50) for i in range(20_000)])
    con.commit()
    con.close()
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    for p in range(3, len(raw) // page - 2, 7):  # scribble over b-tree pages, keep the header intact
        raw[p * page + 8 : p * page + 64] = b"\xff" * 56
    db.write_bytes(bytes(raw))
    checks = preflight.source_checks(db)
    got = statuses(checks)
    assert got["source.sqlite"] == "PASS"
    assert got["source.integrity"] == "FAIL", checks
    assert str(db) in checks[-1].detail


def test_missing_tables_and_columns_are_named(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src.db", [ticket("1")], skip_tables=("comments",))
    con = sqlite3.connect(src)
    con.execute('alter table timesheets drop column "TS-Hours"')
    con.commit()
    con.close()
    check = preflight.source_checks(src)[-1]
    assert (check.name, check.status) == ("source.schema", "FAIL")
    assert "missing table(s) comments" in check.detail
    assert "table timesheets lacks column(s) 'TS-Hours'" in check.detail


def test_extra_tables_and_columns_are_reported_as_warnings(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src.db", [ticket("1")])
    con = sqlite3.connect(src)
    con.execute('alter table tickets add column "TKT-Region" text')
    con.execute("create table attachments (id text)")
    con.commit()
    con.close()
    check = preflight.source_checks(src)[-1]
    assert (check.name, check.status) == ("source.schema", "WARN")
    assert "attachments" in check.detail and "'TKT-Region'" in check.detail


def test_disk_check_fails_under_the_threshold(
    demo_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    assert preflight.disk_check(demo_source, "dev", settings).status == "PASS"
    monkeypatch.setenv("SDRUN_MIN_FREE_DISK_MB", str(10**12))
    check = preflight.disk_check(demo_source, "dev", settings)
    assert check.status == "FAIL" and "SDRUN_MIN_FREE_DISK_MB" in check.detail


def test_memory_check_fails_under_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    assert preflight.memory_check().status in ("PASS", "WARN")
    monkeypatch.setenv("SDRUN_MIN_FREE_MEMORY_MB", str(10**12))
    check = preflight.memory_check()
    assert check.status == "FAIL" and "SDRUN_MIN_FREE_MEMORY_MB" in check.detail


def test_extensions_check_fails_when_not_available_offline(demo_source: Path, tmp_path: Path) -> None:
    """A machine where the extension is neither installed (empty HOME) nor shipped by its package."""
    shadow = tmp_path / "shadow" / "duckdb_extension_sqlite_scanner"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    home = tmp_path / "empty-home"
    home.mkdir()
    code = (
        "import json; from orchestrator.run.preflight import extensions_check; "
        f"c = extensions_check('dev', {str(demo_source)!r}); print(json.dumps(c.to_dict()))"
    )
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(tmp_path / "shadow")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    check = json.loads(out.stdout)
    assert check["status"] == "FAIL"
    assert "sqlite_scanner" in check["detail"] and "sdrun setup" in check["detail"]


def test_dbt_parse_check_fails_on_a_broken_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for item in ("dbt_project.yml", "models", "macros", "seeds", "tests"):
        src = PROJECT_DIR / item
        if src.is_dir():
            shutil.copytree(src, project / item, ignore=shutil.ignore_patterns("target", "logs"))
        elif src.is_file():
            shutil.copy(src, project / item)
    (project / "models" / "marts" / "broken.sql").write_text("select * from {{ ref('no_such_model') }}\n")
    check = preflight.dbt_parse_check("dev", settings_for(tmp_path), project_dir=project)
    assert check.status == "FAIL"
    assert "no_such_model" in check.detail


def test_postgres_checks_fail_on_a_closed_port_without_leaking_the_password(demo_source: Path, tmp_path: Path) -> None:
    env = {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(closed_port()),
        "PGUSER": "sdrun",
        "PGDATABASE": "servicedesk",
        "PGPASSWORD": "s3cret-Pa55word",
        "PGCONNECT_TIMEOUT": "3",
    }
    proc = sdrun("preflight", "--source", str(demo_source), "--target", "canary", "--json", home=tmp_path, env=env)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    got = {c["name"]: c for c in doc["checks"]}
    assert got["postgres.connection"]["status"] == "FAIL"
    assert f"127.0.0.1:{env['PGPORT']}" in got["postgres.connection"]["detail"]
    assert got["postgres.create_schema"]["status"] == "FAIL"
    assert "postgres.pg_dump" in got
    assert "s3cret-Pa55word" not in proc.stdout + proc.stderr
    assert proc.stderr.startswith("Error: preflight:")


@pytest.mark.parametrize("where", ["PGHOST", "PGDATABASE"])
def test_a_password_in_a_uri_or_conninfo_is_never_written(demo_source: Path, tmp_path: Path, where: str) -> None:
    """Issue 15, case 8: libpq takes a URI or a conninfo string in PGHOST/PGDATABASE; its password
    appears in no output: stdout, stderr, preflight --json, report.json, log.jsonl."""
    port = closed_port()
    forms = {"PGHOST": f"postgresql://sdrun:Ur1-Secret-77@127.0.0.1:{port}/servicedesk",
             "PGDATABASE": f"host=127.0.0.1 port={port} dbname=servicedesk password=Kv-Secret-77"}
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "sdrun", "PGDATABASE": "servicedesk",
           "PGCONNECT_TIMEOUT": "3", where: forms[where]}
    secret = "Ur1-Secret-77" if where == "PGHOST" else "Kv-Secret-77"
    pre = sdrun("preflight", "--source", str(demo_source), "--target", "canary", "--json", home=tmp_path, env=env)
    run = sdrun("full", "--source", str(demo_source), "--target", "canary", home=tmp_path, env=env)
    assert pre.returncode == 1 and run.returncode == 1, pre.stderr + run.stderr
    written = [pre.stdout, pre.stderr, run.stdout, run.stderr]
    written += [p.read_text() for p in (tmp_path / "runs").glob("*/*.json*")]
    assert len(written) >= 6  # report.json and log.jsonl of the run too
    assert all(secret not in text for text in written), [t for t in written if secret in t][0][:2000]
    assert "***" in pre.stdout


def test_unknown_target_is_a_usage_error(demo_source: Path, tmp_path: Path) -> None:
    proc = sdrun("preflight", "--source", str(demo_source), "--target", "staging", home=tmp_path)
    assert proc.returncode == 2
    assert "unknown target 'staging'" in proc.stderr


def test_postgres_checks_pass_on_a_real_server() -> None:
    """The private throwaway cluster (pytest_tests/pgcluster.py): connection, version, CREATE, pg_dump."""
    from .pgcluster import PgCluster

    try:
        cluster = PgCluster().start()
    except (RuntimeError, OSError) as exc:  # no server binaries on this machine
        pytest.skip(f"no PostgreSQL cluster: {exc}")
    saved = {k: os.environ.get(k) for k in cluster.env()}
    try:
        os.environ.update(cluster.env())
        checks = {c.name: c for c in preflight.postgres_checks()}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cluster.stop()
    assert checks["postgres.connection"].status == "PASS"
    assert checks["postgres.version"].status == "PASS"
    assert checks["postgres.create_schema"].status == "PASS"
    # pg_dump must be at least the server's major version: PASS, or a clear FAIL naming both versions.
    dump = checks["postgres.pg_dump"]
    assert dump.status == "PASS" or ("older than the server" in dump.detail and dump.status == "FAIL"), dump
