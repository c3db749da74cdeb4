"""Gate 1 as a run step and as `sdrun profile`: the JSON and HTML reports, the gate that raises
GateHalted when the breaker trips, and the readable summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.core.errors import GateHalted
from orchestrator.profile.config import Thresholds
from orchestrator.profile.scan import profile_source

# --- output -----------------------------------------------------------------------------------------


def write_json(profile: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(profile, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_html(profile: dict[str, Any], path: Path) -> None:
    from orchestrator.profile.html import render_html

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_html(profile), encoding="utf-8")
    tmp.replace(path)


def run_gate(
    source: Path, out_dir: Path, thresholds: Thresholds | None = None, *, day_first: bool | None = None
) -> dict[str, Any]:
    """Gate 1: profile the source, write out_dir/profile.json and out_dir/profile.html, and raise
    GateHalted (exit 3) with one reason per tripped rule when the breaker trips. `day_first` defaults
    to the dbt project's `vars.day_first` (pass the run's override when there is one)."""
    thresholds = thresholds or Thresholds.from_env()
    profile = profile_source(source, day_first=day_first, thresholds=thresholds)
    write_json(profile, Path(out_dir) / "profile.json")
    write_html(profile, Path(out_dir) / "profile.html")
    trips = [t["message"] for t in profile["breaker"]["trips"]]
    if trips:
        raise GateHalted(f"Gate 1 (profile) halted the run: {len(trips)} rule(s) tripped", reasons=trips, itemize=True)
    return profile


def _n(value: int) -> str:
    return f"{value:,}" if value else "·"


def print_summary(profile: dict[str, Any], file: Any = None) -> None:
    """A readable summary for a terminal: the score, then one rich table per source table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=file, highlight=False)
    if not console.is_terminal:
        console.width = 160
    s, sc = profile["summary"], profile["score"]
    order = "day-first" if profile["settings"]["day_first"] else "month-first"
    console.print(
        f"[bold]{profile['source']['path']}[/bold]: {s['tables']} tables, {s['columns']} columns, "
        f"{s['rows']:,} rows; {s['values']:,} values read in {profile.get('elapsed_seconds', 0):.2f} s; "
        f"configured order {order}"
    )
    dims = ", ".join(
        f"{k} {v['score']:.1f}" if v["score"] is not None else f"{k} n/a" for k, v in sc["dimensions"].items()
    )
    console.print(f"Quality score [bold]{sc['overall']:.1f}[/bold] of 100 ({dims})")
    for t in profile["tables"]:
        facts = [f"{t['row_count']:,} rows"]
        if t.get("key"):
            k = t["key"]
            facts.append(f"key {k['column']}: {k['duplicate_keys']:,} duplicated ({k['surplus_rows']:,} surplus rows)")
        for r in t.get("references", []):
            facts.append(f"{r['column']} → {r['references']['table']}: {r['orphan_rows']:,} orphans")
        table = Table(title=f"[bold]{t['name']}[/bold] — {'; '.join(facts)}", title_justify="left", box=None)
        for h, justify in (("column", "left"), ("declared", "left"), ("storage", "left"), ("detected", "left"),
                           ("fit", "right"), ("null", "right"), ("empty", "right"), ("blank", "right"),
                           ("sentinel", "right"), ("distinct", "right"), ("date formats · order", "left"),
                           ("min … max", "left")):  # fmt: skip
            table.add_column(h, justify=justify)  # type: ignore[arg-type]
        for c in t["columns"]:
            d = c["dates"]
            fmts = ""
            if d and d["formats"]:
                fmts = "; ".join(f"{f['format']} {f['count']:,}" for f in d["formats"][:3])
                if len(d["formats"]) > 3:
                    fmts += f"; +{len(d['formats']) - 3} more"
                if d["unparseable"]:
                    fmts += f"; [red]unparseable {d['unparseable']:,}[/red]"
                if d["verdict"]:
                    fmts += f" · {d['verdict']}"
            storage = ", ".join(c["storage_classes"])
            detected = c["detected_type"] + (" [red]mismatch[/red]" if c["type_mismatch"] else "")
            span = "" if c["min"] is None else f"{c['min']} … {c['max']}"
            table.add_row(
                c["name"], c["declared_type"] or "-", storage, detected, f"{c['confidence']:.1%}",
                _n(c["null"]), _n(c["empty"]), _n(c["whitespace_only"]), _n(c["sentinel"]),
                f"{c['distinct_count']:,}", fmts, span,
            )  # fmt: skip
        console.print(table)
        for c in t["columns"]:
            for o in (c["dates"] or {}).get("orders", []):
                style = "yellow" if o["warn"] else "red" if o["decided_by"] == "conflict" else "dim"
                text = escape(f"{c['name']} [{o['shape']}] read {o['reason']}")
                console.print(f"  [{style}]{text}[/{style}]")
    b = profile.get("breaker")
    if b and b["halted"]:
        console.print(f"[bold red]Circuit breaker: {len(b['trips'])} rule(s) tripped, nothing may be loaded[/]")
    elif b:
        console.print("[green]Circuit breaker: no rule tripped[/green]")

