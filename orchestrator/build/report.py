"""What a run did, in numbers: read back from the warehouse after the build.

The same plain SQL runs on DuckDB and PostgreSQL; `query` is any function that takes SQL and
returns rows as tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.build.dbt import DbtResult

Query = Callable[[str], Sequence[Sequence[Any]]]

MARTS = {"tickets": "tickets", "comments": "comments", "timesheets": "timesheets"}
# The vocabularies mapped through a seed: (name, the export's value in the tickets mart, its flag).
VOCABULARIES = [("status", "status", "is_status_mapped"), ("priority", "priority_raw", "is_priority_mapped")]
SEED_FIX = {
    "status": "add '{key}' to seeds/status_map.csv with its status_group (open, in progress, waiting, resolved, "
    "closed, cancelled)",
    "priority": "add '{key}' to seeds/priority_map.csv with its priority (P1-P4)",
}


def warehouse_figures(query: Query, schema: str, raw_schema: str,
                      counted: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    """The run's figures read back from the warehouse. `counted`: per table, its raw rows and its
    mart's rows when the run already knows them (the load's counts, the rows the build wrote): not
    counted again."""
    tables: dict[str, dict[str, Any]] = {}
    for table, mart in MARTS.items():
        if counted is not None and table in counted:
            rows_in, rows_out = counted[table]
        else:
            rows_in = query(f'select count(*) from {raw_schema}."{table}"')[0][0]
            rows_out = query(f'select count(*) from {schema}."{mart}"')[0][0]
        tables[table] = {
            "rows_in": rows_in,
            "rows_out": rows_out,
            "rows_excluded": 0,
            "values_nulled": 0,
            "values_cleaned": 0,
        }
    for table, action, n in query(
        f"select table_name, action, count(distinct source_row) from {schema}.quarantine group by 1, 2"
    ):
        key = "rows_excluded" if action == "row_excluded" else "rows_with_values_nulled"
        tables[table][key] = n
    for table, n in query(
        f"select table_name, count(*) from {schema}.quarantine where action = 'value_nulled' group by 1"
    ):
        tables[table]["values_nulled"] = n
    for table, n in query(f"select table_name, count(*) from {schema}.audit_changes group by 1"):
        tables[table]["values_cleaned"] = n
    by_rule = {
        rule: n for rule, n in query(f"select rule, count(*) from {schema}.audit_changes group by 1 order by 2 desc, 1")
    }
    by_reason = {
        reason: n
        for reason, n in query(f"select reason, count(*) from {schema}.quarantine group by 1 order by 2 desc, 1")
    }
    by_table_rule: dict[str, dict[str, int]] = {}
    for table, rule, n in query(
        f"select table_name, rule, count(*) from {schema}.audit_changes group by 1, 2 order by 1, 3 desc"
    ):
        by_table_rule.setdefault(table, {})[rule] = n
    by_table_reason: dict[str, dict[str, int]] = {}
    for table, reason, n in query(
        f"select table_name, reason, count(*) from {schema}.quarantine group by 1, 2 order by 1, 3 desc"
    ):
        by_table_reason.setdefault(table, {})[reason] = n
    unmapped = {
        vocab: [{"value": v, "rows": n} for v, n in query(
            f"select {raw}, count(*) from {schema}.tickets where not {flag} group by 1 order by 2 desc, 1 limit 20")]
        for vocab, raw, flag in VOCABULARIES
    }  # fmt: skip
    return {
        "tables": tables,
        "unmapped": unmapped,
        "values_cleaned_by_rule": by_rule,
        "values_cleaned_by_table": by_table_rule,
        "quarantined_by_reason": by_reason,
        "quarantined_by_table": by_table_reason,
    }


def test_figures(result: DbtResult) -> dict[str, Any]:
    tests = result.tests()
    counts: dict[str, Any] = {"total": len(tests), "passed": 0, "failed": 0, "warned": 0, "errored": 0, "skipped": 0}
    key = {"pass": "passed", "fail": "failed", "warn": "warned", "error": "errored", "skipped": "skipped"}
    for t in tests:
        counts[key.get(t.status, "errored")] += 1
    counts["failing"] = [
        {"name": t.name, "status": t.status, "failures": t.failures, "message": t.message}
        for t in tests
        if t.status in ("fail", "error")
    ]
    counts["warnings"] = [{"name": t.name, "failures": t.failures} for t in tests if t.status == "warn"]
    return counts


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A short summary for people."""
    lines = [
        f"Run {report['run_id']} ({report['target']}): {report['outcome']} in {report['seconds']:.1f}s",
    ]
    src = report["source"]
    if src.get("sha256_before"):
        state = "unchanged" if src.get("unchanged") else "CHANGED"
        lines.append(f"  source  {src['path']}  sha256 {src['sha256_before'][:12]}… {state}")
    else:
        lines.append(f"  source  {src['path']}  (not readable)")
    prof = report.get("profile")
    if prof:
        if prof.get("halted"):
            lines.append(f"  profile     HALTED: {len(prof['trips'])} breaker rule(s) tripped; see {prof['html']}")
            lines.extend(f"    {trip}" for trip in prof["trips"])
        else:
            lines.append(f"  profile     quality score {prof['score']:.1f}/100; report {prof['html']}")
    if prof and not prof.get("halted"):
        lines.extend(date_order_lines(prof.get("date_orders", []), prof.get("warnings", [])))
    wh = report.get("warehouse")
    if wh:
        for table, t in wh["tables"].items():
            lines.append(
                f"  {table:<11} {t['rows_in']:>9,} rows in → {t['rows_out']:>9,} out, "
                f"{t['rows_excluded']:,} excluded, {t['values_nulled']:,} values nulled, "
                f"{t['values_cleaned']:,} values cleaned"
            )
        if wh["values_cleaned_by_rule"]:
            lines.append("  cleaned     " + ", ".join(f"{k} {v:,}" for k, v in wh["values_cleaned_by_rule"].items()))
        if wh["quarantined_by_reason"]:
            lines.append("  quarantined " + ", ".join(f"{k} {v:,}" for k, v in wh["quarantined_by_reason"].items()))
        for vocab, values in (wh.get("unmapped") or {}).items():
            for item in values[:5]:
                fix = SEED_FIX[vocab].format(key=str(item["value"]).lower().replace("'", "''"))
                lines.append(f"  unknown     {vocab} {item['value']!r} ({item['rows']:,} tickets, kept): {fix}")
            if len(values) > 5:
                lines.append(f"  unknown     {vocab}: {len(values) - 5} more (report.json, warehouse.unmapped)")
    tests = report.get("tests")
    if tests:
        lines.append(
            f"  tests       {tests['passed']} passed, {tests['warned']} warned, "
            f"{tests['failed'] + tests['errored']} failed"
        )
        for t in tests["failing"]:
            lines.append(f"    FAILED {t['name']}" + (f" ({t['failures']} failing rows)" if t["failures"] else ""))
    steps = report.get("steps", {})
    if steps:
        lines.append("  steps       " + ", ".join(f"{k} {v.get('seconds', 0):.1f}s" for k, v in steps.items()))
    if report.get("error"):
        lines.append(f"  error       {report['error']}")
    lines.append(f"  report      {report['report_path']}")
    return lines


def date_order_lines(orders: list[dict[str, Any]], warnings: list[str]) -> list[str]:
    """One line per date column and day/month shape: the order used and why (profile.decide_orders)."""
    lines = [f"  dates       {o['table']}.{o['column']} [{o['shape']}]: {o['reason']}" for o in orders]
    lines += [f"  WARNING     {w}" for w in warnings]
    return lines
