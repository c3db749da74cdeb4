"""The heavy models' SQL alone on PostgreSQL, against the floor (not a test; docs/benchmarks-models.md).

    python benchmarks/models.py --raw raw                         # this checkout
    python benchmarks/models.py --raw raw --project old=/tmp/old  # side by side with another checkout

Reads PG* from the environment: the database must hold the raw tables of a source in schema `--raw`
(a `sdrun full --target prod` leaves them in `raw`). For each checkout (`label=DIR`, this one is
`new`), its seeds and models are built once into schema `bench_<label>` (dbt, target prod), then the
compiled SQL of each heavy model is timed alone as `CREATE TABLE AS`, `--repeat` times, the
checkouts interleaved, next to the floor: a plain copy of the raw table, and one with every
column trimmed. Prints a Markdown table of the medians (seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
MODELS = {
    "stg_servicedesk__tickets": "models/staging/servicedesk/stg_servicedesk__tickets.sql",
    "stg_servicedesk__comments": "models/staging/servicedesk/stg_servicedesk__comments.sql",
    "stg_servicedesk__timesheets": "models/staging/servicedesk/stg_servicedesk__timesheets.sql",
    "int_servicedesk__value_changes": "models/intermediate/int_servicedesk__value_changes.sql",
}
FLOOR_TABLES = {"stg_servicedesk__tickets": "tickets", "stg_servicedesk__comments": "comments",
                "stg_servicedesk__timesheets": "timesheets"}


def dbt(project: Path, schema: str, raw: str, *args: str) -> None:
    env = dict(os.environ, SDRUN_TARGET="prod", SDRUN_SCHEMA=schema, DBT_PROFILES_DIR=str(project / "profiles"),
               DBT_TARGET_PATH=str(target_dir(project)), DBT_LOG_PATH=str(target_dir(project)),
               PGOPTIONS="-c jit=off", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "dbt"), "-q", *args, "--project-dir", str(project), "--vars", f"{{raw_schema: {raw}}}"]
    subprocess.run(command, env=env, check=True, cwd=project, stdout=subprocess.DEVNULL)


def target_dir(project: Path) -> Path:
    """dbt's target folder for one checkout, outside it (the checkouts stay clean)."""
    return Path(tempfile.gettempdir()) / "sdrun-models-bench" / hashlib.sha256(str(project).encode()).hexdigest()[:12]


def compiled(project: Path, model: str) -> str:
    return (target_dir(project) / "compiled" / "servicedesk" / MODELS[model]).read_text()


def timed(cur: object, sql: str) -> float:
    t0 = time.perf_counter()
    cur.execute("drop table if exists bench_scratch.t")  # type: ignore[attr-defined]
    cur.execute(f"create table bench_scratch.t as {sql}")  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", default="raw")
    ap.add_argument("--project", action="append", default=[], help="label=DIR, another checkout")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    projects = {"new": ROOT} | {p.split("=", 1)[0]: Path(p.split("=", 1)[1]) for p in a.project}
    for label, project in projects.items():
        dbt(project, f"bench_{label}", a.raw, "seed")
        dbt(project, f"bench_{label}", a.raw, "run", "-s", "stg_servicedesk__tickets", "stg_servicedesk__comments",
            "stg_servicedesk__timesheets")
        dbt(project, f"bench_{label}", a.raw, "compile", "-s", *MODELS)
    con = psycopg2.connect(options="-c jit=off")
    con.autocommit = True
    cur = con.cursor()
    cur.execute("create schema if not exists bench_scratch")
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(a.repeat):
        for model in MODELS:
            for label, project in projects.items():
                times.setdefault((model, label), []).append(timed(cur, compiled(project, model)))
            if model in FLOOR_TABLES:
                table = f'{a.raw}."{FLOOR_TABLES[model]}"'
                cur.execute("select column_name from information_schema.columns where table_schema = %s "
                            "and table_name = %s and column_name <> 'source_row'", (a.raw, FLOOR_TABLES[model]))
                cols = [r[0] for r in cur.fetchall()]
                trims = ", ".join(f'btrim("{c}") as "{c}"' for c in cols)
                times.setdefault((model, "floor: copy"), []).append(timed(cur, f"select * from {table}"))
                times.setdefault((model, "floor: trims"), []).append(
                    timed(cur, f"select source_row, {trims} from {table}"))
    cur.execute("drop schema bench_scratch cascade")
    labels = [*projects, "floor: copy", "floor: trims"]
    print("| model | " + " | ".join(labels) + " |")
    print("| --- |" + " ---: |" * len(labels))
    for model in MODELS:
        cells = [f"{statistics.median(times[(model, lab)]):.2f}" if (model, lab) in times else "-" for lab in labels]
        print(f"| {model} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
