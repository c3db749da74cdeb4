"""The run's dbt process (orchestrator/build/dbt_worker.py): its shortcut for dbt's CTE injection
must give exactly what dbt's own `inject_ctes_into_sql` gives, and leave every other query to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt.compilation import inject_ctes_into_sql
from dbt.contracts.graph.nodes import InjectedCTE

from orchestrator.build.dbt_worker import inject_after_leading_with

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
