"""Fixtures shared by the test suite. Real engines only: SQLite and DuckDB files, a private PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo export (scale 0.05, seed 7) shared by the session; never modified."""
    from orchestrator.demo.generator import generate

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    generate(path, scale=0.05, seed=7)
    return path


# ------------------------------------------------------------------------------------------------
# PostgreSQL: one private cluster for the session (pytest_tests/pgcluster.py), a database per module
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    """A private PostgreSQL server started for this session and stopped at its end (also on failure)."""
    from pytest_tests.pgcluster import PgCluster

    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def pg_env(pg_cluster, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment for `sdrun` against a fresh database of its own (named after the test module)."""
    import os

    db = "t_" + request.module.__name__.rsplit(".", 1)[-1].lower()[:40]
    pg_cluster.create_database(db)
    home = tmp_path_factory.mktemp("sdrun-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SDRUN_"))}
    env.update(pg_cluster.env(db))
    env["SDRUN_HOME"] = str(home)
    return env
