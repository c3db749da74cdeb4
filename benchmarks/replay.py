"""A prod build's nodes replayed one at a time on one core: what each costs PostgreSQL (not a test;
docs/benchmarks-models.md).

    python benchmarks/replay.py RUN_DIR                       # the session's own work_mem
    python benchmarks/replay.py RUN_DIR --work-mem 4MB --work-mem 64MB

RUN_DIR is a `sdrun full --target prod` run's folder (`$SDRUN_HOME/runs/<run id>`), kept with its
database: its raw tables and seeds went live with it (`raw`, `servicedesk_staging`). Reads PG* from the
environment. Each model's and data test's compiled SQL (run_results.json) is run in the order the
build started them, models as `CREATE TABLE` (views as views) plus ANALYZE into two scratch schemas,
tests as `count(*)` of their rows, with JIT off and no parallel workers, so that each node's wall time
is its CPU time on one core. Prints the seconds per node and the total for each `--work-mem`, side by
side, then drops the scratch schemas.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.targets.schemas import SchemaSet  # noqa: E402

BUILT, LIVE = SchemaSet.building(), SchemaSet.live()
STAGING, MARTS = "replay_staging", "replay_marts"
SCRATCH = {BUILT.staging: STAGING, BUILT.marts: MARTS}  # where the build wrote: where the replay writes


def nodes(run_dir: Path) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """The seeds' names, and (kind, schema the build wrote to, name, SQL) of each model and data test
    in the order the build started them; kind is the model's materialization (`table`, `view`) or
    `test`. From the run's run_results.json and its build's manifest."""
    results = json.loads((run_dir / "run_results.json").read_text())["results"]
    manifest = json.loads((run_dir / "dbt" / "target" / "manifest.json").read_text())["nodes"]
    seeds = sorted(n["name"] for n in manifest.values() if n["resource_type"] == "seed")

    def started(r: dict[str, Any]) -> str:
        return next((t["started_at"] for t in r["timing"] if t["name"] == "execute"), "")

    out = []
    for r in sorted(results, key=started):
        node = manifest.get(r["unique_id"])
        if node is None or not r.get("compiled_code") or node["resource_type"] not in ("model", "test"):
            continue
        kind = node["config"]["materialized"] if node["resource_type"] == "model" else "test"
        out.append((kind, node["schema"], node["name"], r["compiled_code"]))
    return seeds, out


def replay(cur: Any, seeds: list[str], items: list[tuple[str, str, str, str]], database: str,
           work_mem: str) -> dict[str, float]:
    cur.execute("set jit = off; set max_parallel_workers_per_gather = 0; select set_config('work_mem', %s, false)",
                (work_mem,))
    for schema in (STAGING, MARTS):
        cur.execute(sql.SQL("drop schema if exists {} cascade; create schema {}").format(
            sql.Identifier(schema), sql.Identifier(schema)))
    for seed in seeds:  # deployed with the live version: copied where the models look for them
        cur.execute(sql.SQL("create table {}.{} as select * from {}.{}").format(
            sql.Identifier(STAGING), sql.Identifier(seed), sql.Identifier(LIVE.staging), sql.Identifier(seed)))
    where = {f'"{database}"."{BUILT.raw}".': f'"{LIVE.raw}".',
             **{f'"{database}"."{built}".': f"{scratch}." for built, scratch in SCRATCH.items()}}
    seconds = {}
    for kind, schema, name, code in items:
        for old, new in where.items():
            code = code.replace(old, new)
        started = time.perf_counter()
        if kind in ("table", "view"):
            cur.execute(f"create {kind} {SCRATCH[schema]}.{name} as {code}")
            if kind == "table":
                cur.execute(f"analyze {SCRATCH[schema]}.{name}")
        else:
            cur.execute(f"select count(*) from ({code}) as t")
        seconds[name] = time.perf_counter() - started
    for schema in (STAGING, MARTS):
        cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--work-mem", action="append", help="work_mem of a replay (repeat for several)")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="list the nodes this slow in any replay")
    args = parser.parse_args()
    con = psycopg2.connect("")
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select current_database(), current_setting('work_mem')")
            database, own = cur.fetchone()
            seeds, items = nodes(args.run_dir)
            runs = {wm: replay(cur, seeds, items, database, wm) for wm in args.work_mem or [own]}
    finally:
        con.close()
    print("| node | " + " | ".join(f"work_mem {wm} (s)" for wm in runs) + " |")
    print("| --- | " + " | ".join("---:" for _ in runs) + " |")
    for _, _, name, _ in items:
        if any(r[name] >= args.min_seconds for r in runs.values()):
            print(f"| {name} | " + " | ".join(f"{r[name]:.2f}" for r in runs.values()) + " |")
    print("| **all nodes** | " + " | ".join(f"{sum(r.values()):.1f}" for r in runs.values()) + " |")


if __name__ == "__main__":
    main()
