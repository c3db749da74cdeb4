"""Every dashboard panel's query on the live marts, timed (not a test; docs/benchmarks.md).

    python benchmarks/panels.py [--repeat 20] [--json out.json]

Reads PG* from the environment: the database a `sdrun full --target prod` deployed to. Each panel's
SQL is expanded as Grafana expands it (orchestrator.build.grafana_macros) over its dashboard's default
range (the history dashboards open on every date the marts can hold), run as `grafana_ro` the way the
datasource logs in, once to warm the cache and then `--repeat` times, the panels interleaved. Prints a
Markdown table of each panel's median, p95 and max in milliseconds, slowest first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.build.grafana_macros import expand, time_range  # noqa: E402

DASHBOARDS = ROOT / "grafana" / "dashboards"
P95_TARGET_MS = 100.0  # issue 17: every panel's p95 under this at scale 10


def panel_queries(now: datetime, folder: Path = DASHBOARDS) -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expanded SQL) for every target of every panel."""
    out = []
    for path in sorted(folder.glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        start, end = time_range(d["time"], now)
        for p in d["panels"]:
            for t in p.get("targets", []):
                if t.get("rawSql"):
                    out.append((path.stem, p["title"], expand(t["rawSql"], start, end)))
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(repeat: int, role: str | None, folder: Path = DASHBOARDS, **connect: Any) -> list[dict[str, Any]]:
    """Each panel's median, p95 and max in ms; `connect`: psycopg2's (default: the PG* variables)."""
    queries = panel_queries(datetime.now(UTC), folder)
    con = psycopg2.connect(**connect)
    con.autocommit = True
    times: list[list[float]] = [[] for _ in queries]
    try:
        with con.cursor() as cur:
            if role:  # as the datasource logs in: the role, and the settings it gets at login (its work_mem)
                cur.execute(f"set role {role}")
                cur.execute("select unnest(setconfig) from pg_db_role_setting s join pg_roles r on r.oid = s.setrole "
                            "where r.rolname = %s and s.setdatabase in (0, (select oid from pg_database "
                            "where datname = current_database())) order by s.setdatabase", (role,))
                for (setting,) in cur.fetchall():
                    name, value = setting.split("=", 1)
                    cur.execute("select set_config(%s, %s, false)", (name, value))
            for _, _, sql in queries:  # warm: the first run of each reads from disk and plans cold
                cur.execute(sql)
                cur.fetchall()
            for _ in range(repeat):
                for i, (_, _, sql) in enumerate(queries):
                    t0 = time.perf_counter()
                    cur.execute(sql)
                    cur.fetchall()
                    times[i].append((time.perf_counter() - t0) * 1000)
    finally:
        con.close()
    return [{"dashboard": d, "panel": title, "median_ms": round(statistics.median(ts), 2),
             "p95_ms": round(p95(ts), 2), "max_ms": round(max(ts), 2)}
            for (d, title, _), ts in zip(queries, times, strict=True)]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    worst = max(rows, key=lambda r: r["p95_ms"])
    return {"panels": len(rows), "slowest_p95_ms": worst["p95_ms"],
            "slowest": f"{worst['dashboard']}: {worst['panel']}",
            "p95_of_p95_ms": p95([r["p95_ms"] for r in rows]),
            "over_target": sum(1 for r in rows if r["p95_ms"] >= P95_TARGET_MS)}


def markdown(rows: list[dict[str, Any]], limit: int | None = None) -> str:
    lines = ["| dashboard | panel | median ms | p95 ms | max ms |", "| --- | --- | ---: | ---: | ---: |"]
    for r in sorted(rows, key=lambda r: -r["p95_ms"])[:limit]:
        lines.append(f"| {r['dashboard']} | {r['panel']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['max_ms']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--role", default="grafana_ro", help="the datasource's role ('' for the login role)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--dashboards", type=Path, default=DASHBOARDS,
                    help="another version's dashboards (e.g. `git archive` of an older commit's grafana/dashboards)")
    a = ap.parse_args()
    rows = measure(a.repeat, a.role or None, a.dashboards)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown(rows))
    s = summary(rows)
    print(f"\n{s['panels']} panel queries; slowest p95 {s['slowest_p95_ms']:.1f} ms ({s['slowest']}); "
          f"p95 over panels' p95 {s['p95_of_p95_ms']:.1f} ms; {s['over_target']} at {P95_TARGET_MS:g} ms or more")


if __name__ == "__main__":
    main()
