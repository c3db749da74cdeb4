"""Fixtures shared by the test suite. Real engines only: SQLite and DuckDB files, a private PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo export (scale 0.05, seed 7) shared by the session; never modified."""
    from orchestrator.demo_data import generate

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    generate(path, scale=0.05, seed=7)
    return path
