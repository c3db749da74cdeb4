"""The Grafana provisioning: valid dashboard JSON, and every panel's SQL run on PostgreSQL marts.

Panels are run as Grafana runs them: macros expanded by orchestrator.grafana_macros (a port of
Grafana's PostgreSQL macro engine), as the read-only role `grafana_ro`, against the live marts and
the run ledger that `sdrun full --target prod` built from the demo data. The time range covers the
demo quarter (2025-04-01 ..) up to now, so both the marts and today's ledger rows are in range.
"""

from __future__ import annotations

import json
import runpy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

from orchestrator.grafana_macros import MacroError, expand
from orchestrator.settings import PROJECT_DIR

from .helpers import sdrun

GRAFANA = PROJECT_DIR / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
PANEL_TYPES = {"timeseries", "stat", "table", "barchart", "piechart", "bargauge", "gauge", "text"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def provisioned_datasource() -> dict[str, Any]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "servicedesk.yml").read_text())
    assert doc["apiVersion"] == 1 and len(doc["datasources"]) == 1
    return doc["datasources"][0]


# ------------------------------------------------------------------------------------------------
# the files
# ------------------------------------------------------------------------------------------------


def test_datasource_reads_its_settings_from_the_environment() -> None:
    ds = provisioned_datasource()
    assert ds["type"] == "grafana-postgresql-datasource" and ds["uid"] == "servicedesk-pg"
    assert ds["user"].startswith("$") and ds["url"].startswith("$")
    assert ds["secureJsonData"]["password"] == "${GRAFANA_RO_PASSWORD}"
    assert ds["jsonData"]["database"].startswith("$")
    assert "password" not in ds and "password" not in ds["jsonData"]


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "servicedesk.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(m.endswith(":" + provider["options"]["path"]) or f":{provider['options']['path']}:" in m for m in mounts)
    assert any("grafana/provisioning" in m for m in mounts)


def test_ten_dashboards_with_valid_grafana_json() -> None:
    assert len(DASHBOARD_FILES) == 10
    uid = provisioned_datasource()["uid"]
    uids, titles = set(), set()
    for path in DASHBOARD_FILES:
        d = load(path)
        where = path.name
        assert isinstance(d["title"], str) and d["title"], where
        assert isinstance(d["uid"], str) and 0 < len(d["uid"]) <= 40, where
        assert d["uid"] not in uids and d["title"] not in titles, where
        uids.add(d["uid"])
        titles.add(d["title"])
        assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36, where
        assert "id" not in d or d["id"] is None, where  # provisioned dashboards get their id from Grafana
        assert {"from", "to"} <= d["time"].keys(), where
        assert d["panels"], where
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), where
        cells: set[tuple[int, int]] = set()
        for p in d["panels"]:
            at = f"{where} panel {p['id']} {p.get('title')!r}"
            assert p["type"] in PANEL_TYPES, at
            g = p["gridPos"]
            assert {"h", "w", "x", "y"} <= g.keys() and all(isinstance(g[k], int) for k in "hwxy"), at
            assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, at
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not mine & cells, f"{at} overlaps another panel"
            cells |= mine
            assert p["datasource"]["uid"] == uid, at
            assert p["targets"], at
            for t in p["targets"]:
                assert t["refId"] and t["rawQuery"] is True and t["format"] in ("table", "time_series"), at
                assert t["datasource"]["uid"] == uid, at
                assert t["rawSql"].strip().lower().startswith(("select", "with")), at
                if t["format"] == "time_series":
                    assert '"time"' in expand(t["rawSql"], *RANGE) or "$__time" in t["rawSql"], at


def test_json_is_what_the_generator_writes() -> None:
    script = runpy.run_path(str(PROJECT_DIR / "scripts" / "build_dashboards.py"))
    assert script["main"](check=True) == 0


# ------------------------------------------------------------------------------------------------
# the macros, as Grafana expands them (cases from Grafana's own macro tests)
# ------------------------------------------------------------------------------------------------

T0 = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "WHERE $__timeFilter(time_column)",
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        ),
        ("GROUP BY $__timeGroup(time_column,'5m')", "GROUP BY floor(extract(epoch from time_column)/300)*300"),
        (
            "select $__timeGroup(time_column, '5m'), 1",
            'select floor(extract(epoch from time_column)/300)*300 AS "time", 1',
        ),
        ("select $__timeGroupAlias(d, '1d', 0)", 'select floor(extract(epoch from d)/86400)*86400 AS "time"'),
        ("select $__time(time_column)", 'select time_column AS "time"'),
        ("select $__timeEpoch(time)", 'select extract(epoch from time) as "time"'),
        ("select $__timeFrom(), $__timeTo()", "select '2018-04-12T18:00:00Z', '2018-04-12T18:05:00Z'"),
        ("WHERE $__unixEpochFilter(time)", "WHERE time >= 1523556000 AND time <= 1523556300"),
        ("select $__unixEpochGroupAlias(t, '1h')", 'select floor((t)/3600)*3600 AS "time"'),
        ("select $__unixEpochNanoFrom()", "select 1523556000000000000"),
        ("select $__interval_ms, '$__interval'", "select 3600000, '1h'"),
    ],
)
def test_macros_expand_like_grafana(sql: str, expected: str) -> None:
    assert expand(sql, T0, T1) == expected


def test_unknown_macro_or_variable_is_an_error() -> None:
    with pytest.raises(MacroError):
        expand("select $__nope(x)", T0, T1)
    with pytest.raises(MacroError):
        expand("select * from t where team = '$team'", T0, T1)


# ------------------------------------------------------------------------------------------------
# every panel on PostgreSQL
# ------------------------------------------------------------------------------------------------

RANGE = (datetime(2025, 4, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1))


@pytest.fixture(scope="module")
def grafana_db(pg_env: dict[str, str], demo_source: Path) -> dict[str, str]:
    """The demo data deployed to prod on a private PostgreSQL, the way an operator does it."""
    home = Path(pg_env["SDRUN_HOME"])
    res = sdrun("setup-db", home=home, env=pg_env)
    assert res.returncode == 0, res.stderr
    res = sdrun("full", "--target", "prod", "--skip-canary", "--source", str(demo_source), "-q", home=home, env=pg_env)
    assert res.returncode == 0, res.stdout + res.stderr
    return pg_env


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[p.stem for p in DASHBOARD_FILES])
def test_every_panel_runs_on_postgres_and_returns_rows(grafana_db: dict[str, str], path: Path) -> None:
    env = grafana_db
    con = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], dbname=env["PGDATABASE"])
    con.autocommit = True
    failures = []
    try:
        with con.cursor() as cur:
            cur.execute("set role grafana_ro")  # what the datasource logs in as: read-only, marts and ledger
            for p in load(path)["panels"]:
                for t in p["targets"]:
                    sql = expand(t["rawSql"], *RANGE)
                    try:
                        cur.execute(sql)
                        rows = cur.fetchall()
                    except psycopg2.Error as exc:
                        failures.append(f"{p['title']!r}: {str(exc).splitlines()[0]}")
                        continue
                    if not rows:
                        failures.append(f"{p['title']!r}: no rows")
                    elif p["type"] == "stat" and rows[0][-1] is None:
                        failures.append(f"{p['title']!r}: NULL")
                    elif t["format"] == "time_series":
                        names = [c.name for c in cur.description]
                        if names[0] != "time":
                            failures.append(f"{p['title']!r}: first column {names[0]!r}, not time")
    finally:
        con.close()
    assert not failures, f"{path.name}: " + "; ".join(failures)
