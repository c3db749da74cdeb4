"""The day/month order of every date column and shape, from the evidence of the whole export:
its own evidence first, then the column's other shapes, the same shape elsewhere, the export's
other date columns, and only then the project's `day_first` (with a warning)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from orchestrator.profile.config import iter_columns
from orchestrator.profile.forms import order_shape_key, order_shape_label

# --- day/month order: per column and per shape, from the evidence of the whole export ---------------


def decide_orders(
    scans: list[dict[str, Any]], day_first: bool, day_first_from: str
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The day/month order of every shape (order_shape_key) of every date column holding
    day/month/year values, keyed (table, column, shape). A shape follows, in this order:

    1. its own evidence: values that can only be day-first (20/05/2025) or only month-first
       (05/20/2025); both at once is a conflict (the breaker halts: order_conflict);
    2. when it has none (every value is 12 or less in both fields): the column's other shapes,
       when they all point one way;
    3. else the export's other date columns of the same shape, when they all point one way; else all
       of the export's other date columns, when they all point one way;
    4. else the project's `day_first`, with a warning: the export gives no evidence at all."""
    decided: dict[tuple[str, str, str], dict[str, Any]] = {}
    pending: list[tuple[str, str, str]] = []
    for sc in scans:
        by_shape: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for g in sc["groups"]:
            if g["kind"] == "dmy":
                by_shape[order_shape_key(g["shape"])].append(g)
        for shape, groups in by_shape.items():
            key = (sc["table"], sc["info"].name, shape)
            first = sum(g["first_over_12"] for g in groups)
            second = sum(g["second_over_12"] for g in groups)
            ev = {"first_over_12": first, "second_over_12": second, "ambiguous": sum(g["ambiguous"] for g in groups)}
            if not (first or second or ev["ambiguous"]):
                continue  # no value of this shape is a valid date either way: nothing to decide
            first_ex = min((g["first_ex"] for g in groups if g["first_ex"]), default=None)
            second_ex = min((g["second_ex"] for g in groups if g["second_ex"]), default=None)
            d = {"table": sc["table"], "column": sc["info"].name, "shape": shape, "label": order_shape_label(shape),
                 "evidence": ev, "examples": {"day_first": first_ex, "month_first": second_ex},
                 "values": sum(g["n"] for g in groups), "dated": sc["dated"], "warn": False}  # fmt: skip
            if first and second:
                d.update(day_first=day_first, decided_by="conflict", reason=(
                    f"conflicting evidence: {first:,} values can only be day-first (e.g. {first_ex}) and {second:,} "
                    f"only month-first (e.g. {second_ex})"))  # fmt: skip
            elif first or second:
                n, ex, order = (first, first_ex, "day-first") if first else (second, second_ex, "month-first")
                field = "first" if first else "second"
                d.update(
                    day_first=bool(first),
                    decided_by="evidence",
                    reason=(f"{order}: {n:,} value(s) with a {field} field over 12 (e.g. {ex}) and none the other way"),
                )
            else:
                pending.append(key)
            decided[key] = d
    evidenced = {k: d for k, d in decided.items() if d.get("decided_by") == "evidence"}
    for key in pending:
        d = decided[key]
        table, column, shape = key
        n = d["evidence"]["ambiguous"]
        none = f"{n:,} values are 12 or less in both fields"
        own = {v["day_first"] for k, v in evidenced.items() if k[:2] == (table, column)}
        alike = [v for k, v in evidenced.items() if k[2] == shape and v["dated"]]
        export = [v for v in evidenced.values() if v["dated"]]
        if len(own) == 1:
            (df,) = own
            d.update(
                day_first=df,
                decided_by="column",
                reason=(f"{_order(df)}: no evidence of its own ({none}); the column's other shapes are {_order(df)}"),
            )
            continue
        for others, what in ((alike, "dates of this shape"), (export, "date columns")):
            orders = {v["day_first"] for v in others}
            if len(orders) == 1 and not own:
                (df,) = orders
                names = sorted({f"{v['table']}.{v['column']}" for v in others})
                shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                d.update(day_first=df, decided_by="export", reason=(
                    f"{_order(df)}: no evidence in this column ({none}); the export's other {what} are "
                    f"{_order(df)} ({shown})"))  # fmt: skip
                break
        else:
            d.update(day_first=day_first, decided_by="default", warn=True, reason=(
                f"{_order(day_first)}: the export gives no evidence ({none}); the project's "
                f"day_first={str(day_first).lower()} decides ({day_first_from}); set --var "
                f"day_first={str(not day_first).lower()} if this export is {_order(not day_first)}"))  # fmt: skip
    return decided


def _order(day_first: bool) -> str:
    return "day-first" if day_first else "month-first"


def date_orders(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the `date_orders` table the raw load writes (orchestrator/targets/raw.py)."""
    return [
        {"table": t["name"], "column": c["name"], "shape": o["shape"], "day_first": o["day_first"],
         "reason": o["reason"]}
        for t, c in iter_columns(profile) if c["dates"] for o in c["dates"]["orders"]
    ]  # fmt: skip


