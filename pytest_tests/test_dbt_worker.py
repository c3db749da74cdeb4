"""The run's dbt process (orchestrator/build/dbt_worker.py): its shortcut for dbt's CTE injection
must give exactly what dbt's own `inject_ctes_into_sql` gives, and leave every other query to it;
the canary's manifest it copies from prod's parse must be what dbt parses for the canary; a Jinja
text it compiled once must render as dbt renders it; the JSON schemas it keeps between processes
must be the ones dbt builds."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dbt.compilation import inject_ctes_into_sql
from dbt.contracts.graph.nodes import InjectedCTE

from orchestrator.build.dbt_worker import _compiled_once, derive_manifest, inject_after_leading_with
from orchestrator.core.settings import PROFILES_DIR, PROJECT_DIR
from orchestrator.targets.schemas import SchemaSet

CTES = [
    InjectedCTE(id="model.x.status_map", sql=' __dbt__cte__status_map as (\nselect cast(\'a\' as text) as "raw"\n)'),
    InjectedCTE(id="source.x.tickets", sql=" __dbt__cte__tickets as (\nselect 1 as source_row\n)"),
]

# What dbt compiles the staging models to, in small: comments, then WITH and the model's own CTEs.
HANDLED = {
    "comments-then-with": "-- One row per source row.\n-- The export has no id.\n\nwith\n\nsource as (\n"
    "    select * from \"db\".\"raw\".\"tickets\"\n),\n\nfinal as (select * from source)\n\nselect * from final",
    "upper-case": "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
    "block-comment": "/* a comment, with a multi-line\n   body */\n  with a as (select 1) select * from a",
    "comment-says-with": "-- with recursive, said only in a comment\nwith a as (select 'with') select * from a",
    "with-then-comment": "with -- a comment after the keyword\n a as (select 1) select * from a",
    "tabs-and-crlf": "\t\r\n-- c\r\nwith\ta as (select 1)\r\nselect * from a",
    "comment-before-recursive": "with /* c */ recursive t(n) as (select 1) select * from t",
    "nothing-after": "with   ",
}
LEFT_TO_DBT = {
    "select-first": "select 1 as x",
    "recursive": "with recursive t(n) as (select 1 union all select n + 1 from t where n < 3) select * from t",
    "two-statements": "with a as (select 1) select * from a; select 2",
    "withheld": "withheld as (select 1) select 2",
    "with-dollar": "with$x as (select 1) select 2",
    "comment-only": "-- with",
}


@pytest.mark.parametrize("sql", list(HANDLED.values()), ids=list(HANDLED))
def test_the_shortcut_gives_what_dbt_gives(sql: str) -> None:
    ours = inject_after_leading_with(sql, CTES)
    assert ours is not None
    assert ours == inject_ctes_into_sql(sql, CTES)


@pytest.mark.parametrize("sql", list(LEFT_TO_DBT.values()), ids=list(LEFT_TO_DBT))
def test_other_queries_are_left_to_dbt(sql: str) -> None:
    assert inject_after_leading_with(sql, CTES) is None


def test_the_shortcut_on_the_staging_models() -> None:
    """The project's staging models, each with its Jinja lines removed: their comments, then WITH and
    their CTEs, as dbt compiles them."""
    models = sorted((Path(__file__).parents[1] / "models" / "staging" / "servicedesk").glob("stg_*.sql"))
    assert len(models) == 3
    for path in models:
        sql = "\n".join(line for line in path.read_text().splitlines() if "{" not in line and "}" not in line)
        ours = inject_after_leading_with(sql, CTES)
        assert ours is not None, path
        assert ours == inject_ctes_into_sql(sql, CTES), path


def _parse(target: str, schemas: SchemaSet, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """dbt's own parse of this project for a PostgreSQL target building into `schemas`."""
    from dbt.cli.main import dbtRunner

    for name, value in {"SDRUN_TARGET": target, **schemas.dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                        "DO_NOT_TRACK": "1", "DBT_VERSION_CHECK": "false", "PGDATABASE": "servicedesk"}.items():
        monkeypatch.setenv(name, value)
    res = dbtRunner().invoke(["parse", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR),
                              "--target-path", str(tmp / target), "--log-path", str(tmp / target),
                              "--no-partial-parse", "--vars", json.dumps(schemas.dbt_vars()), "--quiet"])
    assert res.success, res.exception
    return res.result


def _built(manifest: Any) -> dict[str, dict[str, Any]]:
    """What a build reads of each node, source and unit test (all but when and where it was parsed)."""
    volatile = {"created_at", "root_path", "build_path", "compiled_path", "original_file_path", "path"}
    return {uid: {k: v for k, v in node.to_dict().items() if k not in volatile}
            for uid, node in (*manifest.nodes.items(), *manifest.sources.items(), *manifest.unit_tests.items())}


def test_the_canarys_manifest_copied_from_prods_parse_is_its_own_parse(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prod, canary = SchemaSet.building(), SchemaSet.canary()
    parsed_prod = _parse("prod", prod, tmp_path, monkeypatch)
    parsed_canary = _parse("canary", canary, tmp_path, monkeypatch)
    derived = derive_manifest(parsed_prod, dict(zip(prod.all(), canary.all(), strict=True)))
    assert derived is not None
    ours, dbts = _built(derived), _built(parsed_canary)
    assert ours.keys() == dbts.keys() and len(ours) > 100
    assert {uid for uid in ours if ours[uid] != dbts[uid]} == set()
    assert derived.flat_graph["nodes"]["model.servicedesk.tickets"]["schema"] == canary.marts
    assert _built(parsed_prod)["model.servicedesk.tickets"]["schema"] == prod.marts  # the parse is not moved
    # a schema the map does not name: no copy (the canary parses), never a node left in prod's schemas
    assert derive_manifest(parsed_prod, {prod.staging: canary.staging, prod.raw: canary.raw}) is None


def test_each_jinja_text_is_compiled_once_per_environment_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_compiled_once`: a text dbt renders again gets the code compiled the first time, in an
    environment built anew as dbt builds one for each render; the native environment (values as
    Python objects) keeps code of its own; what renders is what dbt renders without the cache."""
    from dbt.clients.jinja import get_rendered
    from dbt_common.clients import jinja as dbt_jinja

    text = "{% set n = 2 %}{{ [n, n + 1] }}"
    plain = {native: get_rendered(text, {}, native=native) for native in (False, True)}
    monkeypatch.setattr(dbt_jinja.MacroFuzzEnvironment, "compile", dbt_jinja.MacroFuzzEnvironment.compile)
    _compiled_once()

    def code(native: bool) -> Any:
        return dbt_jinja.get_environment(native=native).compile(text)

    assert code(False) is code(False)
    assert code(True) is code(True)
    assert code(False) is not code(True)
    assert dbt_jinja.get_environment(capture_macros=True).compile(text) is code(False)
    assert {native: get_rendered(text, {}, native=native) for native in (False, True)} == plain
    assert plain == {False: "[2, 3]", True: [2, 3]}
    with pytest.raises(Exception, match="Unexpected end of template"):  # a text that does not compile
        dbt_jinja.get_environment().compile("{% if x %}")
    with pytest.raises(Exception, match="Unexpected end of template"):  # and again: nothing was kept
        dbt_jinja.get_environment().compile("{% if x %}")


# One process's parse with the schemas kept (build/dbt_worker.py `_json_schemas_kept`): how many classes
# mashumaro built a JSON schema for, and the parse's nodes.
_PARSE_KEEPING_SCHEMAS = """
import json, sys
import dbt_common.dataclass_schema as ds
from orchestrator.build.dbt_worker import _json_schemas_kept, schema_cache_file
built = []
dbts = ds.build_json_schema
ds.build_json_schema = lambda cls, *a, **k: (built.append(cls.__qualname__), dbts(cls, *a, **k))[1]
write = _json_schemas_kept(schema_cache_file())
from dbt.cli.main import dbtRunner
res = dbtRunner().invoke(["parse", "--project-dir", sys.argv[1], "--profiles-dir", sys.argv[2], "--target-path",
                          sys.argv[3], "--log-path", sys.argv[3], "--no-partial-parse", "--no-write-json", "--quiet"])
write()
print(json.dumps({"ok": res.success, "built": len(built), "nodes": sorted(res.result.nodes) if res.success else []}))
"""


def test_the_json_schemas_kept_between_processes_are_dbts(tmp_path: Path) -> None:
    """A parse in a new process reads the schemas an earlier one built (none built again) and parses the
    same nodes; each kept schema is what mashumaro builds for its class; an unreadable file is rebuilt."""
    from mashumaro.jsonschema import build_json_schema

    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SDRUN_TARGET": "dev", "DO_NOT_TRACK": "1",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}

    def parse() -> dict[str, Any]:
        proc = subprocess.run([sys.executable, "-c", _PARSE_KEEPING_SCHEMAS, str(PROJECT_DIR), str(PROFILES_DIR),
                               str(tmp_path / "target")], cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["ok"]
        return out

    first = parse()
    files = list((tmp_path / "cache" / "sdrun").glob("dbt-json-schemas-*.json"))
    assert first["built"] > 10 and len(files) == 1
    second = parse()
    assert second["built"] == 0 and second["nodes"] == first["nodes"] and len(first["nodes"]) > 100
    kept = json.loads(files[0].read_text())
    assert len(kept) == first["built"]
    for key, schema in kept.items():
        module, _, name = key.rpartition(".")  # dbt validates with classes defined at the top of their modules
        cls = getattr(importlib.import_module(module), name)
        assert json.loads(json.dumps(build_json_schema(cls).to_dict())) == schema, key
    files[0].write_text("{not json")
    assert parse()["built"] == first["built"]
    assert json.loads(files[0].read_text()).keys() == kept.keys()
