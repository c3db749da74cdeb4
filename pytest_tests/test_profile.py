"""Gate 1, the profiler: counts equal to what was injected, the day/month verdict, type mismatches, every
breaker rule, the real BPIC 2014 sample, the JSON schema and the `sdrun profile` command.

Every source here is a real SQLite file written by the test (or by the demo generator); every profile
is computed by DuckDB reading it. Nothing is mocked.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orchestrator.core.errors import EXIT_GATE, GateHalted, SourceError, UsageError
from orchestrator.profile import Thresholds, profile_source, run_gate
from orchestrator.profile.config import project_settings
from orchestrator.profile.score import breaker_trips, evaluate_breaker

PROJECT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((PROJECT / "docs" / "profile.schema.json").read_text())
REAL_SAMPLE = Path("/work/shared/realdata/bpic2014_rabobank_sample")
SDRUN = str(Path(sys.executable).with_name("sdrun"))
SENTINELS = ["n/a", "na", "#n/a", "#n/b", "-", "--", "null", "none", "?", "(blank)"]


# --- helpers -----------------------------------------------------------------------------------------


def make_db(path: Path, tables: dict[str, tuple[Sequence[tuple[str, str]], Iterable[Sequence[Any]]]]) -> Path:
    """A SQLite file: {table: ([(column, declared type)], rows)}; values stored as given."""
    con = sqlite3.connect(path)
    for name, (cols, rows) in tables.items():
        con.execute(f'create table "{name}" ({", ".join(f"{chr(34)}{c}{chr(34)} {t}" for c, t in cols)})')
        con.executemany(f'insert into "{name}" values ({", ".join("?" * len(cols))})', list(rows))
    con.commit()
    con.close()
    return path


def column(profile: dict[str, Any], table: str, name: str) -> dict[str, Any]:
    t = next(t for t in profile["tables"] if t["name"] == table)
    return next(c for c in t["columns"] if c["name"] == name)


def table_of(profile: dict[str, Any], table: str) -> dict[str, Any]:
    return next(t for t in profile["tables"] if t["name"] == table)


def formats(col: dict[str, Any]) -> dict[str, int]:
    return {f["format"]: f["count"] for f in col["dates"]["formats"]}


def rules(profile: dict[str, Any], **thresholds: Any) -> list[str]:
    return [t.rule for t in evaluate_breaker(profile, Thresholds(**thresholds))]


def validate(profile: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(profile, default=str))
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sdrun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SDRUN, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


# --- the demo source: counts equal the injected ones -------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    from orchestrator.demo.generator import generate

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    summary = generate(path, scale=0.2, seed=3)
    return summary, profile_source(path, day_first=True, sentinels=SENTINELS)


def test_demo_counts_equal_injected_defects_per_column(demo: tuple[Any, dict[str, Any]]) -> None:
    summary, profile = demo
    checked = 0
    for table, per_column in summary.injected.items():
        t = table_of(profile, table)
        for name, kinds in per_column.items():
            if name == "_table":
                for kind, n in kinds.items():
                    if kind == "duplicate_key":
                        assert t["key"]["surplus_rows"] == n, (table, kind)
                        assert t["key"]["duplicate_keys"] == n, (table, kind)  # each repeated once
                    elif kind == "orphan_ticket":
                        assert sum(r["orphan_rows"] for r in t["references"]) == n, (table, kind)
                    else:
                        pytest.fail(f"injected table defect {kind!r} has no profiler check")
                    checked += 1
                continue
            c = column(profile, table, name)
            for kind, n in kinds.items():
                where = f"{table}.{name} {kind}"
                if kind == "sentinel":
                    assert c["sentinel"] == n, where
                elif kind == "empty":
                    assert c["empty"] == n, where
                elif kind == "whitespace":
                    # ' closed' (a case variant with a leading space) is untrimmed too
                    variants = kinds.get("case_variant", 0)
                    assert n <= c["untrimmed"] <= n + variants, where
                elif kind in ("case_variant", "unknown_status", "priority_spelling"):
                    continue  # vocabulary, not a value class: the dbt seeds map it; not a profile figure
                elif kind == "real_hours":
                    assert c["storage_classes"]["real"] >= n, where  # SQLite REALs, many decimals
                elif kind == "us_12h":
                    got = sum(f["count"] for f in c["dates"]["formats"] if f["strptime"] == "%m/%d/%Y %I:%M:%S %p")
                    assert got == n, where
                    (order,) = [o for o in c["dates"]["orders"] if o["shape"] == "/ 12h"]
                    assert (order["day_first"], order["decided_by"]) == (False, "evidence"), where
                elif kind == "month_name":
                    assert sum(f["count"] for f in c["dates"]["formats"] if "%b" in f["strptime"]) == n, where
                elif kind == "iso_offset":
                    assert sum(f["count"] for f in c["dates"]["formats"] if f["strptime"].endswith("%z")) == n, where
                elif kind == "dd_mm_yyyy":
                    got = sum(f["count"] for f in c["dates"]["formats"] if f["strptime"] == "%d/%m/%Y %H:%M")
                    assert got == n, where
                elif kind == "unparseable":
                    assert c["dates"]["unparseable"] == n, where
                elif kind == "decimal_comma":
                    assert c["numeric"]["decimal_comma"] == n, where
                    assert c["storage_classes"]["text"] == n, where  # '1,5' is no number to SQLite
                elif kind == "non_numeric":
                    assert c["value_classes"]["text"] == n, where
                else:
                    pytest.fail(f"injected defect {kind!r} has no profiler check")
                checked += 1
            if "whitespace" not in kinds:
                assert c["untrimmed"] == 0, f"{table}.{name}"
    assert checked >= 20
    # genuine NULLs, per column, and no NULL anywhere else
    for t in profile["tables"]:
        for c in t["columns"]:
            assert c["null"] == summary.nulls.get(t["name"], {}).get(c["name"], 0), c["name"]
            assert c["storage_classes"].get("null", 0) == c["null"]


def test_demo_formats_per_column_are_exact(demo: tuple[Any, dict[str, Any]]) -> None:
    summary, profile = demo
    verdicts = set()
    for name in ("TKT-Created Time", "TKT-Actual Response Date", "TKT-Actual Resolution Date", "TKT-Closed Time"):
        c = column(profile, "tickets", name)
        injected = summary.injected["tickets"].get(name, {})
        dd_mm = injected.get("dd_mm_yyyy", 0)
        bad = injected.get("unparseable", 0)
        foreign = injected.get("us_12h", 0) + injected.get("iso_offset", 0)
        fm = formats(c)
        # everything else is the export's ISO format; the day-first values are their own format
        assert fm["YYYY-MM-DD HH:MM:SS"] == c["present"] - dd_mm - bad - foreign, name
        assert sum(fm.values()) == c["present"] - bad
        assert c["dates"]["parsed"] == c["present"] - bad
        for f in c["dates"]["formats"]:
            assert 1 <= len(f["examples"]) <= 3
        # day-first values are the only 24-hour evidence; US 12-hour values are their own shape
        twentyfour = {o["shape"]: o for o in c["dates"]["orders"]}.get("/ 24h")
        if dd_mm:
            assert twentyfour is not None and twentyfour["day_first"], name
            ev = twentyfour["evidence"]
            assert ev["second_over_12"] == 0
            assert ev["first_over_12"] + ev["ambiguous"] == dd_mm, name
        evidence = c["dates"]["order_evidence"]
        us = injected.get("us_12h", 0)
        assert (evidence["second_over_12"] > 0) == bool(us), name
        if not us:
            expected = "day-first" if evidence["first_over_12"] else "ambiguous" if dd_mm else None
            assert c["dates"]["verdict"] == expected, name
        verdicts.add(c["dates"]["verdict"])
        assert c["detected_type"] == "timestamp" and not c["type_mismatch"]
    assert "day-first" in verdicts
    ts = column(profile, "timesheets", "TS-Date")
    assert ts["detected_type"] == "date"
    assert formats(ts) == {"YYYY-MM-DD": ts["present"] - summary.injected["timesheets"]["TS-Date"]["unparseable"]}
    assert ts["dates"]["verdict"] is None  # ISO dates carry no day/month question
    assert ts["min"] >= "2025-04-01" and ts["max"] <= "2025-07-01"


def test_demo_types_storage_and_keys(demo: tuple[Any, dict[str, Any]]) -> None:
    summary, profile = demo
    detected = {(t["name"], c["name"]): c["detected_type"] for t in profile["tables"] for c in t["columns"]}
    assert detected[("comments", "CT-VISIBLE-CUSTOMER")] == "integer"
    assert detected[("timesheets", "TS-Hours")] == "real"
    assert detected[("tickets", "TKT-SLA Met")] == "boolean"
    assert detected[("tickets", "TKT-Ticket ID")] == "integer"
    assert detected[("comments", "CT-COMMENT")] == "text"
    assert profile["summary"]["type_mismatches"] == 0
    vis = column(profile, "comments", "CT-VISIBLE-CUSTOMER")
    assert vis["storage_classes"] == {"integer": summary.rows["comments"]}
    assert (vis["min"], vis["max"]) == (0, 1)
    hours = column(profile, "timesheets", "TS-Hours")
    assert hours["storage_classes"]["real"] + hours["storage_classes"]["text"] == summary.rows["timesheets"]
    assert 0 < hours["min"] < hours["max"] <= 8
    for t in profile["tables"]:
        assert t["row_count"] == summary.rows[t["name"]]
    assert table_of(profile, "tickets")["key"]["column"] == "TKT-Ticket ID"
    assert table_of(profile, "comments")["key"]["duplicate_keys"] == 0
    assert table_of(profile, "timesheets")["key"] is None  # no key of its own


def test_demo_data_does_not_trip_the_breaker(demo: tuple[Any, dict[str, Any]]) -> None:
    _, profile = demo
    assert breaker_trips(profile, Thresholds()) == []
    assert profile["breaker"] == {
        "thresholds": {"max_unparseable_date_share": 0.2, "max_type_mismatch_share": 0.1, "min_score": 80.0,
                       "halt_on_order_conflict": True},
        "day_first": True, "halted": False, "trips": [],
    }  # fmt: skip
    assert profile["score"]["overall"] >= 95
    assert all(d["applicable"] for d in profile["score"]["dimensions"].values())
    validate(profile)


# --- crafted sources: formats, evidence, verdicts ------------------------------------------------------


def test_every_format_counted_with_examples_on_a_crafted_column(tmp_path: Path) -> None:
    values = (
        ["13/02/2024 08:05:09"] * 7 + ["01/03/2024 10:00:00"] * 5  # DD/MM/YYYY HH:MM:SS, 7 day-first evidence
        + ["2024-03-04"] * 4                                       # YYYY-MM-DD
        + ["5-3-2024 9:07", "25-12-2024 14:59", "1-1-2024 0:00"]   # D-M-YYYY H:MM (25-12 joins it)
        + ["2024-03-04T10:11:12Z"] * 2                             # ISO with T and Z
        + ["4 Mar 2024"] * 2                                       # D Mon YYYY
        + ["31/02/2024 10:00:00", "TBC", "not a date"]             # unparseable
        + ["", "", "   ", "\t", "N/A", "n/a", "#N/B", None]       # missing
    )  # fmt: skip
    path = make_db(tmp_path / "f.db", {"t": ([("when", "TEXT")], [(v,) for v in values])})
    c = column(profile_source(path, day_first=True, sentinels=SENTINELS), "t", "when")
    assert formats(c) == {
        "DD/MM/YYYY HH:MM:SS": 12,
        "YYYY-MM-DD": 4,
        "D-M-YYYY H:MM": 3,
        "YYYY-MM-DDTHH:MM:SSZ": 2,
        "D Mon YYYY": 2,
    }
    first = c["dates"]["formats"][0]
    assert first["strptime"] == "%d/%m/%Y %H:%M:%S"
    assert set(first["examples"]) == {"01/03/2024 10:00:00", "13/02/2024 08:05:09"}
    assert c["dates"]["order_evidence"] == {"first_over_12": 8, "second_over_12": 0, "ambiguous": 7}
    assert c["dates"]["verdict"] == "day-first"
    assert (c["null"], c["empty"], c["whitespace_only"], c["sentinel"]) == (1, 2, 2, 3)
    assert c["sentinel_values"] == {"#N/B": 1, "N/A": 1, "n/a": 1}
    assert c["present"] == 26 and c["dates"]["unparseable"] == 3
    assert set(c["dates"]["unparseable_examples"]) >= {"31/02/2024 10:00:00"}
    assert c["detected_type"] == "timestamp"
    assert c["confidence"] == pytest.approx(23 / 26, abs=1e-6)
    assert (c["min"], c["max"]) == ("2024-01-01 00:00:00", "2024-12-25 14:59:00")


def test_unparseable_examples_are_the_same_for_the_same_export(tmp_path: Path) -> None:
    """One unparseable value per shape, the first three in sort order: the groups come out of DuckDB in
    no fixed order, and before the examples changed from one profile of an export to the next."""
    bad = ["31/02/2024 10:00:00", "2024-13-45", "00/00/0000 0:00", "2024-06-31 09:00:00", "32.13.2024"]
    values = ["2024-03-04 10:11:12"] * 200 + [v for v in bad for _ in range(3)]
    path = make_db(tmp_path / "f.db", {"t": ([("when", "TEXT")], [(v,) for v in values])})
    shown = {tuple(column(profile_source(path, sentinels=SENTINELS), "t", "when")["dates"]["unparseable_examples"])
             for _ in range(5)}  # fmt: skip
    assert shown == {("00/00/0000 0:00", "2024-06-31 09:00:00", "2024-13-45")}


def test_day_month_verdicts(tmp_path: Path) -> None:
    rows = [
        ("25/01/2024", "01/25/2024", "01/02/2024", "25/01/2024", "2024-01-25"),
        ("13/12/2024", "12/13/2024", "12/11/2024", "01/25/2024", "2024-12-13"),
        ("05/06/2024", "06/05/2024", "03/04/2024", "05/06/2024", "2024-06-05"),
    ]
    cols = [("df", "TEXT"), ("mf", "TEXT"), ("amb", "TEXT"), ("both", "TEXT"), ("iso", "TEXT")]
    path = make_db(tmp_path / "o.db", {"t": (cols, rows)})
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    verdict = {c["name"]: c["dates"]["verdict"] for c in table_of(p, "t")["columns"]}
    assert verdict == {"df": "day-first", "mf": "month-first", "amb": "ambiguous", "both": "conflicting", "iso": None}
    mf = column(p, "t", "mf")
    assert mf["dates"]["parsed_as"] == "month-first" and mf["dates"]["unparseable"] == 0
    assert formats(mf) == {"MM/DD/YYYY": 3}
    assert (mf["min"], mf["max"]) == ("2024-01-25", "2024-12-13")
    both = column(p, "t", "both")["dates"]["order_evidence"]
    assert both == {"first_over_12": 1, "second_over_12": 1, "ambiguous": 1}


def test_types_decimal_comma_booleans_excel_and_mismatch(tmp_path: Path) -> None:
    n = 10
    rows = [
        (f"{i},5", i, "Y" if i % 2 else "N", 45292 + i + 0.5, f"agent {i}", f"2024-01-0{i % 9 + 1}") for i in range(n)
    ]
    cols = [("hours", "TEXT"), ("count", "INTEGER"), ("flag", "TEXT"), ("stamp", "DATETIME"),
            ("when", "TIMESTAMP"), ("day", "DATE")]  # fmt: skip
    path = make_db(tmp_path / "t.db", {"t": (cols, rows)})
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    hours = column(p, "t", "hours")
    assert hours["detected_type"] == "real" and hours["numeric"]["decimal_comma"] == n
    assert (hours["min"], hours["max"]) == (0.5, 9.5)
    assert column(p, "t", "count")["detected_type"] == "integer"
    assert column(p, "t", "count")["storage_classes"] == {"integer": n}
    assert column(p, "t", "flag")["detected_type"] == "boolean"
    stamp = column(p, "t", "stamp")  # Excel serial days stored as REAL in a DATETIME column
    assert stamp["storage_classes"] == {"real": n}
    assert stamp["detected_type"] == "timestamp" and not stamp["type_mismatch"]
    assert formats(stamp) == {"Excel serial day number": n}
    assert stamp["min"] == "2024-01-01 12:00:00"
    # the declared type is reported, never trusted: a TIMESTAMP column holding text is a mismatch
    when = column(p, "t", "when")
    assert (when["declared_type"], when["detected_type"], when["type_mismatch"]) == ("TIMESTAMP", "text", True)
    assert when["storage_classes"] == {"text": n}
    assert column(p, "t", "day")["detected_type"] == "date" and not column(p, "t", "day")["type_mismatch"]
    assert p["summary"]["type_mismatches"] == 1
    validate(p)


def test_keys_and_orphans_for_any_file(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "k.db")
    con.executescript(
        """
        create table parent (code TEXT PRIMARY KEY, label TEXT);
        create table child (id INTEGER PRIMARY KEY, code TEXT REFERENCES parent(code), note TEXT);
        insert into parent values ('A', 'x'), ('B', 'y'), ('C', 'z');
        insert into child values (1, 'A', ''), (2, 'B', ''), (3, 'Z', ''), (4, 'Z', ''), (5, ' A ', ''), (6, NULL, '');
        """
    )
    con.commit()
    con.close()
    p = profile_source(tmp_path / "k.db", day_first=True, sentinels=SENTINELS)
    child = table_of(p, "child")
    assert child["key"] is None  # INTEGER PRIMARY KEY is the rowid: no duplicate possible
    assert child["references"] == [{
        "column": "code", "references": {"table": "parent", "column": "code"}, "from": "declared foreign key",
        "rows_with_reference": 5, "orphan_rows": 2, "examples": ["Z"],
    }]  # fmt: skip
    parent_key = table_of(p, "parent")["key"]
    assert parent_key["column"] == "code" and parent_key["from"] == "declared primary key"
    assert parent_key["duplicate_keys"] == 0
    assert p["score"]["dimensions"]["integrity"]["score"] == pytest.approx(60.0)


def test_duplicate_keys_in_servicedesk_tables(tmp_path: Path) -> None:
    # missing keys ('', a sentinel, padded or not) repeat too, and are no duplicates
    tickets = [(tid, "t", "2025-05-01 10:00:00") for tid in ("1", "2", "2", "3", "3", "3", " 4", "4",
                                                             "", "", "N/A", " n/a ")]
    comments = [(f"c{i}", tid, "2025-05-02 10:00:00") for i, tid in enumerate(["1", "2", "9", "9", "N/A", ""])]
    timesheets = [("1",), ("7",)]
    path = make_db(tmp_path / "sd.db", {
        "tickets": ([("TKT-Ticket ID", "TEXT"), ("TKT-Title", "TEXT"), ("TKT-Created Time", "TIMESTAMP")], tickets),
        "comments": ([("CT-COMMENT-ID", "TEXT"), ("CT-TKT-ID", "TEXT"), ("CT-CREATED-TIME", "TIMESTAMP")], comments),
        "timesheets": ([("TS-Crm ID", "TEXT")], timesheets),
    })  # fmt: skip
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    key = table_of(p, "tickets")["key"]
    assert (key["duplicate_keys"], key["duplicate_rows"], key["surplus_rows"]) == (3, 7, 4)
    refs = table_of(p, "comments")["references"]
    assert [(r["column"], r["rows_with_reference"], r["orphan_rows"]) for r in refs] == [("CT-TKT-ID", 4, 2)]
    refs = table_of(p, "timesheets")["references"]
    assert [(r["column"], r["orphan_rows"]) for r in refs] == [("TS-Crm ID", 1)]
    assert p["score"]["dimensions"]["uniqueness"]["score"] == pytest.approx(100 * (18 - 4) / 18, abs=0.01)


# --- every breaker rule trips on a source made to trip it ---------------------------------------------


def _dates_ok(n: int) -> list[str]:
    return [f"2025-05-{d % 28 + 1:02d} 10:00:00" for d in range(n)]


def test_rule_unparseable_dates(tmp_path: Path) -> None:
    values = _dates_ok(70) + ["soon"] * 25 + ["31/02/2025"] * 5  # 30% cannot be parsed
    rows = [(str(i), v) for i, v in enumerate(values)]
    path = make_db(tmp_path / "u.db", {"t": ([("id", "TEXT"), ("when", "TEXT")], rows)})
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    assert rules(p) == ["unparseable_dates"]
    (line,) = breaker_trips(p, Thresholds())
    assert line.startswith("t.when: 30.0% of date values cannot be parsed (30 of 100")
    assert rules(p, max_unparseable_date_share=0.3) == []


def test_rule_type_mismatch(tmp_path: Path) -> None:
    cols = [("a", "TEXT"), ("b", "TEXT"), ("c", "TEXT"), ("d", "TEXT"), ("e", "REAL"), ("f", "INTEGER")]
    rows = [("x", "y", "z", "w", "pending", "about three") for _ in range(20)]
    p = profile_source(make_db(tmp_path / "m.db", {"t": (cols, rows)}), day_first=True, sentinels=SENTINELS)
    assert rules(p) == ["type_mismatch"]
    (line,) = breaker_trips(p, Thresholds())
    assert "33.3% of columns are type-mismatched (2 of 6; limit 10%)" in line
    assert "t.e (declared REAL, holds text)" in line and "t.f (declared INTEGER, holds text)" in line
    assert rules(p, max_type_mismatch_share=0.5) == []


def test_rule_min_score(tmp_path: Path) -> None:
    cols = [("a", "TEXT"), ("b", "TEXT"), ("c", "TEXT")]
    rows = [("x", "", None), ("y", "N/A", ""), ("z", "  ", "-"), ("w", "", "")]
    p = profile_source(make_db(tmp_path / "s.db", {"t": (cols, rows)}), day_first=True, sentinels=SENTINELS)
    assert p["score"]["dimensions"]["completeness"]["score"] == pytest.approx(100 * 4 / 12, abs=0.01)
    assert rules(p) == ["min_score"]
    (line,) = breaker_trips(p, Thresholds())
    score = p["score"]["overall"]
    assert line.startswith(f"quality score {score:.1f} is under 80 (lowest dimension: completeness 33.3")
    assert rules(p, min_score=50) == []


def test_order_follows_the_evidence_of_each_shape(tmp_path: Path) -> None:
    """Month-first evidence is followed (no halt), whatever the configured order; a second shape in
    the same column (12-hour US values among day-first 24-hour ones) has its own evidence."""
    us = ["02/13/2025 10:00", "03/28/2025 11:30", "04/05/2025 09:00", "12/01/2025 08:00"]
    mixed = [
        "20/05/2025 8:42",
        "13/01/2025 9:00",
        "04/05/2025 10:00",
        "04/17/2025 10:55:00 PM",
        "05/06/2025 1:00:00 AM",
    ]
    path = make_db(
        tmp_path / "o.db", {"t": ([("us", "TEXT"), ("mixed", "TEXT")], list(zip(us + [None], mixed, strict=True)))}
    )
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    assert rules(p) == []
    us_col, mixed_col = p["tables"][0]["columns"]
    assert us_col["dates"]["verdict"] == "month-first" and us_col["dates"]["parsed"] == 4
    ((shape, df, by),) = [(o["shape"], o["day_first"], o["decided_by"]) for o in us_col["dates"]["orders"]]
    assert (shape, df, by) == ("/ 24h", False, "evidence")
    orders = {o["shape"]: o for o in mixed_col["dates"]["orders"]}
    assert (orders["/ 24h"]["day_first"], orders["/ 24h"]["decided_by"]) == (True, "evidence")
    assert (orders["/ 12h"]["day_first"], orders["/ 12h"]["decided_by"]) == (False, "evidence")
    assert orders["/ 12h"]["examples"]["month_first"] == "04/17/2025 10:55:00 PM"
    assert mixed_col["dates"]["parsed"] == 5 and mixed_col["dates"]["parsed_as"] == "mixed"
    assert {(d["column"], d["shape"], d["day_first"]) for d in p["date_orders"]} == {
        ("us", "/ 24h", False),
        ("mixed", "/ 24h", True),
        ("mixed", "/ 12h", False),
    }
    assert p["warnings"] == []


def test_order_without_evidence_inherits_or_warns(tmp_path: Path) -> None:
    """A shape with no evidence follows its column, then the export; with none anywhere, the
    configured order decides and the profile warns."""
    path = make_db(tmp_path / "i.db", {
        "a": ([("when", "TEXT"), ("other", "TEXT")],
              [("05/20/2025 8:42", "01/02/2025"), ("04/05/2025", "03/04/2025"), ("01/02/2025 9:00", None)]),
    })  # fmt: skip
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    when, other = p["tables"][0]["columns"]
    orders = {o["shape"]: o for o in when["dates"]["orders"]}
    assert (orders["/ 24h"]["day_first"], orders["/ 24h"]["decided_by"]) == (False, "evidence")
    assert (orders["/ date"]["day_first"], orders["/ date"]["decided_by"]) == (False, "column")
    ((o,),) = [other["dates"]["orders"]]
    assert (o["day_first"], o["decided_by"]) == (False, "export") and "a.when" in o["reason"]
    assert p["warnings"] == []
    none = make_db(tmp_path / "n.db", {"a": ([("when", "TEXT")], [("04/05/2025",), ("01/02/2025 9:00",)])})
    for day_first in (True, False):
        q = profile_source(none, day_first=day_first, sentinels=SENTINELS)
        assert {o["day_first"] for o in q["tables"][0]["columns"][0]["dates"]["orders"]} == {day_first}
        assert len(q["warnings"]) == 2 and "gives no evidence" in q["warnings"][0]
        assert rules(q) == []


def test_rule_order_conflict(tmp_path: Path) -> None:
    """One shape holding values that can only be day-first and values that can only be month-first."""
    values = ["20/05/2025 10:00", "13/01/2025 11:30", "05/20/2025 09:00", "04/05/2025 08:00"]
    path = make_db(tmp_path / "o.db", {"t": ([("when", "TEXT")], [(v,) for v in values])})
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    assert p["tables"][0]["columns"][0]["dates"]["verdict"] == "conflicting"
    assert rules(p) == ["unparseable_dates", "order_conflict"]  # the month-first values fit no reading
    line = breaker_trips(p, Thresholds())[-1]
    assert line.startswith("t.when: dates shaped NN/NN/YYYY with a 24-hour time hold values that can only be day-first")
    assert (
        "2 values can only be day-first (e.g. 13/01/2025 11:30) and 1 only month-first (e.g. 05/20/2025 09:00)" in line
    )
    assert rules(p, halt_on_order_conflict=False) == ["unparseable_dates"]


def test_thresholds_from_environment() -> None:
    env = {"SDRUN_BREAKER_MIN_SCORE": "90", "SDRUN_BREAKER_HALT_ON_ORDER_CONFLICT": "false",
           "SDRUN_BREAKER_MAX_UNPARSEABLE_DATE_SHARE": "0.05"}  # fmt: skip
    t = Thresholds.from_env(env)
    assert t == Thresholds(max_unparseable_date_share=0.05, min_score=90, halt_on_order_conflict=False)
    assert Thresholds.from_env(env, min_score=70).min_score == 70  # an option beats the environment
    assert Thresholds.from_env({}) == Thresholds()
    with pytest.raises(UsageError):
        Thresholds.from_env({"SDRUN_BREAKER_MIN_SCORE": "lots"})
    with pytest.raises(UsageError):
        Thresholds.from_env({"SDRUN_BREAKER_MAX_TYPE_MISMATCH_SHARE": "10"})


def test_project_settings_declared_once(tmp_path: Path) -> None:
    assert project_settings(tmp_path).day_first is True  # nothing declared: day-first, default sentinels
    (tmp_path / "dbt_project.yml").write_text("name: x\nvars:\n  day_first: false\n  sentinels: ['N.V.', '-']\n")
    s = project_settings(tmp_path)
    assert (s.day_first, s.sentinels) == (False, ["N.V.", "-"])
    here = project_settings()
    assert here.sentinels_from.endswith("(vars.sentinels)") and "#n/b" in [x.lower() for x in here.sentinels]


# --- run_gate and the real `sdrun profile` command ----------------------------------------------------


def test_run_gate_writes_reports_and_halts(tmp_path: Path) -> None:
    good = make_db(tmp_path / "good.db", {"t": ([("when", "TEXT")], [(v,) for v in _dates_ok(10)])})
    before = sha256(good)
    profile = run_gate(good, tmp_path / "run1")
    assert (tmp_path / "run1" / "profile.json").is_file() and (tmp_path / "run1" / "profile.html").is_file()
    assert sha256(good) == before
    validate(json.loads((tmp_path / "run1" / "profile.json").read_text()))
    assert profile["breaker"]["halted"] is False

    bad = make_db(tmp_path / "bad.db", {"t": ([("when", "TIMESTAMP")], [("whenever",)] * 10)})
    with pytest.raises(GateHalted) as info:
        run_gate(bad, tmp_path / "run2")
    assert info.value.exit_code == EXIT_GATE == 3
    assert len(info.value.reasons) == 2  # unparseable dates in a declared date column, and a mismatch
    assert any(r.startswith("t.when: 100.0% of date values cannot be parsed") for r in info.value.reasons)
    halted = json.loads((tmp_path / "run2" / "profile.json").read_text())
    assert halted["breaker"]["halted"] and {t["rule"] for t in halted["breaker"]["trips"]} == {
        "unparseable_dates",
        "type_mismatch",
    }


def test_cli_profile_exit_codes_and_outputs(tmp_path: Path, demo: tuple[Any, dict[str, Any]]) -> None:
    summary, _ = demo
    out_json, out_html = tmp_path / "p.json", tmp_path / "p.html"
    before = sha256(summary.path)
    ok = sdrun("profile", "--source", str(summary.path), "--json", str(out_json), "--html", str(out_html))
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    assert "Quality score" in ok.stdout and "tickets" in ok.stdout and "day-first" in ok.stdout
    assert "Circuit breaker: no rule tripped" in ok.stdout
    validate(json.loads(out_json.read_text()))
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    assert sha256(summary.path) == before

    halted = sdrun("profile", "--source", str(summary.path), "--min-score", "100", "--month-first")
    assert halted.returncode == 3
    lines = halted.stderr.strip().splitlines()
    assert lines and all(line.startswith("Error: ") for line in lines)
    assert any("quality score" in line and "under 100" in line for line in lines)
    # --month-first decides only shapes without evidence: the demo's day-first dates halt nothing
    assert len(lines) == 1

    env = sdrun("profile", "--source", str(summary.path), env={"SDRUN_BREAKER_MIN_SCORE": "99.99"})
    assert env.returncode == 3 and env.stderr.count("Error: quality score") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"", "empty file, not a SQLite database"),
        (b"id,name\n1,ann\n", "not a SQLite database"),
    ],
)
def test_cli_bad_file_is_one_clear_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "source.db"
    if content is not None:
        path.write_bytes(content)
    result = sdrun("profile", "--source", str(path))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {path}: {message}")
    assert result.stdout == ""
    with pytest.raises(SourceError):
        profile_source(path)


# --- the real BPIC 2014 sample ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three head samples loaded into SQLite as they are: every column TEXT, every value a string
    ('' stays ''), unnamed trailing columns named column_<n>."""
    path = tmp_path_factory.mktemp("real") / "bpic2014.db"
    con = sqlite3.connect(path)
    for table, name in (("incident", "Detail_Incident_head51.csv"),
                        ("incident_activity", "Detail_Incident_Activity_head188.csv"),
                        ("interaction", "Detail_Interaction_head102.csv")):  # fmt: skip
        with open(REAL_SAMPLE / name, newline="", encoding="latin-1") as f:
            rows = list(csv.reader(f, delimiter=";"))
        header = [h or f"column_{i + 1}" for i, h in enumerate(rows[0])]
        con.execute(f"create table {table} ({', '.join(f'{chr(34)}{h}{chr(34)} TEXT' for h in header)})")
        con.executemany(f"insert into {table} values ({', '.join('?' * len(header))})", rows[1:])
    con.commit()
    con.close()
    return profile_source(path, day_first=True, sentinels=SENTINELS)


def test_real_sample_formats_and_day_first_verdict(real: dict[str, Any]) -> None:
    expected = {
        ("incident", "Open Time"): ("DD/MM/YYYY HH:MM:SS", 51),
        ("incident", "Reopen Time"): ("DD/MM/YYYY HH:MM:SS", 13),
        ("incident", "Resolved Time"): ("DD/MM/YYYY HH:MM:SS", 48),
        ("incident", "Close Time"): ("DD/MM/YYYY HH:MM:SS", 51),
        ("incident_activity", "DateStamp"): ("DD-MM-YYYY HH:MM:SS", 188),
        ("interaction", "Open Time (First Touch)"): ("D-M-YYYY H:MM", 102),
        ("interaction", "Close Time"): ("D-M-YYYY H:MM", 102),
    }
    for (table, name), (fmt, n) in expected.items():
        c = column(real, table, name)
        assert formats(c) == {fmt: n}, (table, name)
        assert c["dates"]["verdict"] == "day-first", (table, name)
        assert c["dates"]["unparseable"] == 0 and c["detected_type"] == "timestamp"
        assert c["dates"]["order_evidence"]["first_over_12"] > 0
        assert c["dates"]["order_evidence"]["second_over_12"] == 0
    assert column(real, "incident", "Open Time")["dates"]["formats"][0]["strptime"] == "%d/%m/%Y %H:%M:%S"
    assert column(real, "interaction", "Close Time")["dates"]["formats"][0]["strptime"] == "%d-%m-%Y %H:%M"
    assert column(real, "incident", "Open Time")["min"] == "2012-02-05 13:32:57"
    assert column(real, "interaction", "Open Time (First Touch)")["min"] == "2011-09-09 09:23:00"
    # every column is declared TEXT: no mismatch, however typed the values are
    assert real["summary"]["type_mismatches"] == 0


def test_real_sample_missing_values_and_numbers(real: dict[str, Any]) -> None:
    for name, n in (("CI Name (CBy)", 16), ("CI Type (CBy)", 16), ("CI Subtype (CBy)", 16),
                    ("ServiceComp WBS (CBy)", 18)):  # fmt: skip
        c = column(real, "incident", name)
        assert c["sentinel"] == n and c["sentinel_values"] == {"#N/B": n}, name
    assert column(real, "incident_activity", "Interaction ID")["sentinel_values"] == {"#N/B": 6}
    for name, n in (("Reopen Time", 38), ("Resolved Time", 3), ("# Related Incidents", 42),
                    ("# Related Changes", 48), ("Related Change", 48)):  # fmt: skip
        assert column(real, "incident", name)["empty"] == n, name
    assert column(real, "interaction", "Related Incident")["empty"] == 31
    handle = column(real, "incident", "Handle Time (Hours)")
    assert handle["detected_type"] == "real" and handle["confidence"] == 1.0
    assert handle["numeric"]["decimal_comma"] > 0 and handle["numeric"]["decimal_point"] == 0
    assert handle["min"] == pytest.approx(0.862777778)
    assert column(real, "interaction", "Handle Time (secs)")["detected_type"] == "integer"
    assert column(real, "interaction", "First Call Resolution")["detected_type"] == "boolean"
    assert column(real, "incident", "Incident ID")["detected_type"] == "text"
    assert column(real, "incident", "column_29")["detected_type"] == "empty"
    assert len(table_of(real, "incident")["columns"]) == 78
    assert all(t["key"] is None and t["references"] == [] for t in real["tables"])  # nothing known here
    assert real["score"]["dimensions"]["uniqueness"]["score"] is None
    validate(real)


def test_any_sqlite_file_odd_names_blobs_and_empty_tables(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    con = sqlite3.connect(path)
    con.executescript(
        """
        create table "we""ird ta'ble" ("co""l" TEXT, "n'2" BLOB, "" TEXT);
        insert into "we""ird ta'ble" values ('a', x'00ff', 'x'), ('b', NULL, ''), (NULL, x'41', ' ');
        create table empty_table (a INTEGER, b TEXT);
        create table untyped (x);
        insert into untyped values (1), (2.5), ('3'), (NULL);
        create table nul_text (t TEXT);
        insert into nul_text values ('a' || char(0) || 'b'), ('plain'), (NULL);
        create table mixed (v);
        insert into mixed values (1), (2), (2.5), ('t'), (x'42'), (x'43'), (x'44'), (NULL);
        create view a_view as select * from untyped;
        """
    )
    con.commit()
    con.close()
    p = profile_source(path, day_first=True, sentinels=SENTINELS)
    tables = [t["name"] for t in p["tables"]]
    assert tables == ["we\"ird ta'ble", "empty_table", "untyped", "nul_text", "mixed"]  # tables, not views
    blob = column(p, "we\"ird ta'ble", "n'2")
    assert blob["storage_classes"] == {"blob": 2, "null": 1}
    assert blob["invalid_utf8"] == 1 and blob["null"] == 1
    assert blob["nul_bytes"] == 0  # x'00ff' is not UTF-8: counted there, not as a NUL in text
    nul = column(p, "nul_text", "t")
    assert (nul["nul_bytes"], nul["invalid_utf8"], nul["present"]) == (1, 0, 2)
    nameless = column(p, "we\"ird ta'ble", "")
    assert (nameless["empty"], nameless["whitespace_only"], nameless["present"]) == (1, 1, 1)
    assert [c["detected_type"] for c in table_of(p, "empty_table")["columns"]] == ["empty", "empty"]
    x = column(p, "untyped", "x")
    assert x["storage_classes"] == {"integer": 1, "real": 1, "text": 1, "null": 1}
    assert (x["declared_family"], x["detected_type"], x["type_mismatch"]) == (None, "real", False)
    # every storage class in one column: reals and blobs are told apart by a second count
    assert column(p, "mixed", "v")["storage_classes"] == {"integer": 2, "real": 1, "text": 1, "blob": 3, "null": 1}
    validate(p)


def test_twelve_hour_clock_two_digit_years_and_fractions(tmp_path: Path) -> None:
    values = ["04/03/24 2:05 PM", "25/12/24 12:30 AM", "13/01/24 11:59 am"]  # DD/MM/YY H:MM AM/PM
    stamps = ["2024-03-04 10:11:12.250", "2024-03-04T23:00:00.5", "2024-13-04 10:11:12.250"]
    rows = list(zip(values, stamps, strict=True))
    p = profile_source(make_db(tmp_path / "h.db", {"t": ([("a", "TEXT"), ("b", "TEXT")], rows)}), day_first=True)
    a = column(p, "t", "a")
    assert formats(a) == {"DD/MM/YY H:MM AM/PM": 3}
    assert a["dates"]["formats"][0]["strptime"] == "%d/%m/%y %I:%M %p"
    assert (a["min"], a["max"]) == ("2024-01-13 11:59:00", "2024-12-25 00:30:00")
    b = column(p, "t", "b")
    assert formats(b) == {"YYYY-MM-DD HH:MM:SS.FFF": 1, "YYYY-MM-DDTHH:MM:SS.F": 1}
    assert b["dates"]["unparseable"] == 1 and b["max"] == "2024-03-04 23:00:00.500000"


def test_iso_fast_path_tells_exactly_the_iso_shapes() -> None:
    """The scan tells the ISO forms by one regex and derives their shape from length and separator
    (orchestrator.profile.sql.iso_shape) instead of translating every digit. On every ISO shape, and on
    each of them with one character changed, added or dropped, it gives what the definition gives:
    the value's digits-as-9 shape when that is one of ISO_SHAPES, else NULL."""
    import random

    import duckdb

    from orchestrator.profile.forms import ISO_SHAPES
    from orchestrator.profile.sql import iso_shape

    rng = random.Random(17)
    values = set()
    for shape in ISO_SHAPES:
        value = "".join(rng.choice("0123456789") if ch == "9" else ch for ch in shape)
        values.add(value)
        for i in range(len(value) + 1):
            for ch in ("7", "-", ":", " ", "T", "t", ".", ",", "Z", "/", "\u0663"):  # \u0663: an Arabic-Indic three
                values.add(value[:i] + ch + value[i + 1:])
                values.add(value[:i] + ch + value[i:])
            values.add(value[:i] + value[i + 1:])
    con = duckdb.connect()
    got = dict(con.execute(f"select t, {iso_shape('t')} from unnest(?) as u(t)", [sorted(values)]).fetchall())
    table = str.maketrans("0123456789", "9" * 10)
    want = {v: v.translate(table) if v.translate(table) in ISO_SHAPES else None for v in values}
    assert got == want
    assert sum(1 for s in want.values() if s) > len(ISO_SHAPES)  # many values of ISO shapes, many not
