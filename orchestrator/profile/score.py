"""The quality score (docs/profile.md has every formula) and the circuit breaker: the rules that
halt a run before anything is loaded."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.profile.config import Thresholds

# --- score ------------------------------------------------------------------------------------------

FORMULAS = {
    "completeness": "present cells / all cells",
    "validity": "present values that fit their column's detected type / present values",
    "uniqueness": "(rows of keyed tables - surplus duplicate rows) / rows of keyed tables",
    "consistency": "values in their column's main format / parsed values of date and real columns",
    "integrity": "references that resolve / rows holding a reference",
}


def quality_score(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Five dimensions, each 100 × good / all over the units it counts (docs/profile.md);
    the score is the mean of the dimensions that apply to this file."""
    cells = present = valid = typed = consistent = keyed_rows = surplus = refs = orphans = 0
    for t in tables:
        for c in t["columns"]:
            cells += t["row_count"]
            present += c["present"]
            kind = c["detected_type"]
            valid += c["present"] if kind in ("text", "empty") else c["fit"]
            if kind in ("date", "timestamp") and c["dates"]:
                # among the values that parse: unparseable ones already count against validity
                formats = c["dates"]["formats"]
                typed += c["dates"]["parsed"]
                consistent += max((f["count"] for f in formats), default=0)
            elif kind == "real" and c["numeric"]:
                n = c["numeric"]
                typed += n["integers"] + n["decimal_point"] + n["decimal_comma"]
                consistent += n["integers"] + max(n["decimal_point"], n["decimal_comma"])
        if t.get("key"):
            keyed_rows += t["row_count"]
            surplus += t["key"]["surplus_rows"]
        for r in t.get("references", []):
            refs += r["rows_with_reference"]
            orphans += r["orphan_rows"]
    parts = {
        "completeness": (present, cells),
        "validity": (valid, present),
        "uniqueness": (keyed_rows - surplus, keyed_rows),
        "consistency": (consistent, typed),
        "integrity": (refs - orphans, refs),
    }
    dims: dict[str, dict[str, Any]] = {}
    for name, (good, total) in parts.items():
        formula = FORMULAS[name]
        dims[name] = {
            "score": round(100.0 * good / total, 2) if total else None,
            "good": good,
            "total": total,
            "applicable": bool(total),
            "formula": f"100 × {formula}",
        }
    applicable = [d["score"] for d in dims.values() if d["score"] is not None]
    overall = round(sum(applicable) / len(applicable), 2) if applicable else 100.0
    return {"overall": overall, "dimensions": dims}


def _summary(profile: dict[str, Any]) -> dict[str, Any]:
    cols = [c for t in profile["tables"] for c in t["columns"]]
    return {
        "tables": len(profile["tables"]),
        "columns": len(cols),
        "rows": sum(t["row_count"] for t in profile["tables"]),
        "values": sum(t["row_count"] * len(t["columns"]) for t in profile["tables"]),
        "date_columns": sum(1 for c in cols if c["detected_type"] in ("date", "timestamp")),
        "type_mismatches": sum(1 for c in cols if c["type_mismatch"]),
    }


# --- circuit breaker --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trip:
    rule: str
    message: str
    table: str | None = None
    column: str | None = None
    figure: float | None = None
    threshold: float | None = None


def evaluate_breaker(profile: dict[str, Any], thresholds: Thresholds) -> list[Trip]:
    trips: list[Trip] = []
    mismatched: list[str] = []
    n_columns = 0
    for t in profile["tables"]:
        for c in t["columns"]:
            n_columns += 1
            where = f"{t['name']}.{c['name']}"
            if c["type_mismatch"]:
                mismatched.append(f"{where} (declared {c['declared_type']}, holds {c['detected_type']})")
            d = c["dates"]
            is_date = {c["detected_type"], c["declared_family"]} & {"date", "timestamp"}
            if is_date and c["present"]:
                bad = c["present"] - (d["parsed"] if d else 0)
                share = bad / c["present"]
                if share > thresholds.max_unparseable_date_share:
                    trips.append(Trip(
                        "unparseable_dates",
                        f"{where}: {share:.1%} of date values cannot be parsed ({bad:,} of {c['present']:,}; "
                        f"limit {thresholds.max_unparseable_date_share:.0%})",
                        t["name"], c["name"], round(share, 6), thresholds.max_unparseable_date_share,
                    ))  # fmt: skip
            if thresholds.halt_on_order_conflict and d and d["is_date_column"]:
                for o in d["orders"]:
                    if o["decided_by"] == "conflict":
                        ev = o["evidence"]
                        trips.append(Trip(
                            "order_conflict",
                            f"{where}: dates shaped {o['label']} hold values that can only be day-first and values "
                            f"that can only be month-first ({o['reason']}): no single reading fits; correct the "
                            f"export or write the two kinds in different forms",
                            t["name"], c["name"], min(ev["first_over_12"], ev["second_over_12"]), 0,
                        ))  # fmt: skip
    share = len(mismatched) / n_columns if n_columns else 0.0
    if share > thresholds.max_type_mismatch_share:
        more = f" and {len(mismatched) - 5} more" if len(mismatched) > 5 else ""
        shown = ", ".join(mismatched[:5]) + more
        trips.append(Trip(
            "type_mismatch",
            f"{share:.1%} of columns are type-mismatched ({len(mismatched)} of {n_columns}; "
            f"limit {thresholds.max_type_mismatch_share:.0%}): {shown}",
            None, None, round(share, 6), thresholds.max_type_mismatch_share,
        ))  # fmt: skip
    score = profile["score"]["overall"]
    if score < thresholds.min_score:
        dims = {k: v["score"] for k, v in profile["score"]["dimensions"].items() if v["score"] is not None}
        worst = min(dims, key=lambda k: dims[k])
        trips.append(Trip(
            "min_score",
            f"quality score {score:.1f} is under {thresholds.min_score:g} (lowest dimension: {worst} "
            f"{dims[worst]:.1f})",
            None, None, score, thresholds.min_score,
        ))  # fmt: skip
    return trips


def breaker_trips(profile: dict[str, Any], thresholds: Thresholds) -> list[str]:
    """One line per tripped rule, naming table.column and the figure; empty when the run may go on."""
    return [t.message for t in evaluate_breaker(profile, thresholds)]


def apply_breaker(profile: dict[str, Any], thresholds: Thresholds, *, day_first: bool) -> list[str]:
    """Evaluate the breaker and record thresholds, trips and the configured order in `profile["breaker"]`
    (the order decides only shapes the export gives no evidence for: profile.decide_orders)."""
    trips = evaluate_breaker(profile, thresholds)
    profile["breaker"] = {
        "thresholds": asdict(thresholds),
        "day_first": day_first,
        "halted": bool(trips),
        "trips": [asdict(t) for t in trips],
    }
    return [t.message for t in trips]


