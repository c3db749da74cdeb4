"""Service-desk exports as other tools write them, with what the marts must hold.

Two kinds of export, both written as reference-layout SQLite sources (the tables and columns of
models/staging/servicedesk/_servicedesk__sources.yml):

- `bpi2014_export` and `bpi2013_export` convert the real, anonymised BPI Challenge logs kept in
  fixtures/realdata/ (see the README.md there), value for value;
- `generate(path, style)` writes a seeded synthetic export with the date, number and vocabulary
  habits of one tool: 'day_first', 'us_12h', 'iso_offset', 'jira', 'excel', 'mixed' (STYLES), or
  'no_evidence' and 'conflict' (the two day/month edge cases).

Each returns an `Export`: the file, and per source row the exact UTC timestamps and clean values the
marts must hold, computed here in Python (datetime.strptime, email.utils, float(), the documented
trimming and sentinels), never by the product's parser. What depends on the day/month order the run
decides (`orders`) is computed from the written values with the rules the product promises: a
shape's own evidence (a field over 12), else the column's other shapes, else the export's other date
columns, else the project's day_first with a warning.
"""

from __future__ import annotations

import csv
import email.utils
import random
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.demo.generator import TABLES

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
FIXTURES = HERE / "fixtures" / "realdata"
BPI2014 = FIXTURES / "bpic2014_rabobank_sample"
BPI2013 = FIXTURES / "bpic2013_problems"

# --------------------------------------------------------------------------------------------------
# The reference layout, the mart column of each date column, the documented cleaning rules
# --------------------------------------------------------------------------------------------------

# The reference layout (tables, columns, declared types), as the demo generator and the sources file declare it.
REFERENCE: dict[str, list[tuple[str, str]]] = TABLES

# source date column -> mart column
DATE_COLUMNS: dict[str, dict[str, str]] = {
    "tickets": {
        "TKT-Created Time": "created_at",
        "TKT-Actual Response Date": "first_response_at",
        "TKT-Actual Resolution Date": "resolved_at",
        "TKT-Closed Time": "closed_at",
    },
    "comments": {"CT-CREATED-TIME": "created_at"},
    "timesheets": {"TS-Date": "work_date"},
}

# source text column -> mart column, kept as written (trimmed; missing values NULL)
TEXT_COLUMNS: dict[str, dict[str, str]] = {
    "tickets": {
        "TKT-Ticket ID": "ticket_id",
        "TKT-Title": "title",
        "TKT-Category": "category",
        "TKT-Team": "team",
        "TKT-Assigned To": "assigned_to",
    },
    "comments": {
        "CT-COMMENT-ID": "comment_id",
        "CT-TKT-ID": "ticket_id",
        "CT-USERNAME": "author",
        "CT-COMMENT": "body",
    },
    "timesheets": {"TS-Crm ID": "ticket_id", "TS-Title": "title", "TS-User": "user_name", "TS-Category": "category"},
}

# What the export's declared types look like, per tool: the reference layout; TEXT everywhere but the
# hours (a CSV importer that types numbers); no declared types at all (values stored as given).
FLAVOURS = ("reference", "text", "untyped")

# The documented defaults (dbt_project.yml vars, README "cleaning"): trimmed characters, sentinels.
WHITESPACE = " \t\r\n\u00a0"
SENTINELS = {"n/a", "na", "#n/a", "#n/b", "-", "--", "null", "none", "?", "(blank)"}
TRUE_WORDS = {"true", "t", "yes", "y", "1", "ja", "j", "on"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "nee", "off"}

EXCEL_EPOCH = datetime(1899, 12, 30)
MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def clean_text(value: Any) -> str | None:
    """A value as the marts keep text: trimmed; NULL when empty, blank or a sentinel."""
    if value is None:
        return None
    text = value if isinstance(value, str) else _sqlite_text(value)
    text = text.strip(WHITESPACE)
    if text == "" or text.lower() in SENTINELS:
        return None
    return text


def _sqlite_text(value: Any) -> str:
    """The text of a non-text value as SQLite gives it (integers as digits)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return repr(value)


def clean_bool(value: Any) -> bool | None:
    text = clean_text(value)
    if text is None:
        return None
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    return None


def clean_number(value: Any) -> float | None:
    """The float8 of a number as SQLite holds it: a REAL or INTEGER as is; text in the documented
    forms (plain, exponent, sign, decimal comma, thousands separators)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = clean_text(value)
    if text is None:
        return None
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,2})?", text):
        return float(text)
    if re.fullmatch(r"[+-]?[0-9]*,[0-9]+", text):
        return float(text.replace(",", "."))
    if re.fullmatch(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?", text):
        return float(text.replace(",", ""))
    if re.fullmatch(r"[+-]?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?", text):
        return float(text.replace(".", "").replace(",", "."))
    return None


def seed_map(name: str, column: str) -> dict[str, str]:
    """A vocabulary seed (seeds/status_map.csv, priority_map.csv): raw_value -> mapped value. The
    promise defines status_group and priority as these lookups of the trimmed, lower-cased value."""
    with open(PROJECT / "seeds" / name, newline="", encoding="utf-8") as f:
        return {r["raw_value"]: r[column] for r in csv.DictReader(f)}


# --------------------------------------------------------------------------------------------------
# Day/month order: shapes, readings, the promised decision rules
# --------------------------------------------------------------------------------------------------

_NUMERIC_DMY = re.compile(
    r"^(?P<a>[0-9]{1,2})(?P<sep>[-/.])(?P<b>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4}|[0-9]{2})"
    r"(?:(?:[ T]|, )(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2}))?(?: ?(?P<ap>[AaPp][Mm]))?)?$"
)


def order_shape(raw: Any) -> str | None:
    """The day/month shape of a numeric D/M/Y value: its separator and clock ('/ 24h', '- 12h',
    '. date'); None for anything else (ISO, month names, serials)."""
    if not isinstance(raw, str):
        return None
    m = _NUMERIC_DMY.match(raw.strip(WHITESPACE))
    if not m:
        return None
    clock = "date" if m["h"] is None else "12h" if m["ap"] else "24h"
    return f"{m['sep']} {clock}"


def read_numeric(raw: str, day_first: bool) -> datetime | None:
    """A numeric D/M/Y value read in the given order (None when that reading is no valid date)."""
    m = _NUMERIC_DMY.match(raw.strip(WHITESPACE))
    if not m:
        return None
    a, b, y = int(m["a"]), int(m["b"]), int(m["y"])
    day, month = (a, b) if day_first else (b, a)
    year = 2000 + y if len(m["y"]) == 2 else y
    hour = int(m["h"] or 0)
    if m["ap"]:
        if not 1 <= hour <= 12 and hour != 0:
            return None
        hour = hour % 12 + (12 if m["ap"].lower() == "pm" else 0)
    try:
        return datetime(year, month, day, hour, int(m["mi"] or 0), int(m["s"] or 0))
    except ValueError:
        return None


@dataclass(frozen=True)
class Order:
    """The decision a shape must get: its order and why (evidence, column, export, default, conflict)."""

    day_first: bool | None
    decided_by: str
    first_over_12: int
    second_over_12: int

    @property
    def warns(self) -> bool:
        return self.decided_by == "default"


def decide_orders(values: dict[tuple[str, str], list[str]], day_first: bool) -> dict[tuple[str, str, str], Order]:
    """(table, column) -> raw values  ==>  (table, column, shape) -> Order, by the promised rules."""
    evidence: dict[tuple[str, str, str], tuple[int, int]] = {}
    for (table, column), raws in values.items():
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for raw in raws:
            shape = order_shape(raw)
            if shape is None:
                continue
            m = _NUMERIC_DMY.match(raw.strip(WHITESPACE))
            assert m is not None
            c = counts[shape]
            c[0] += int(m["a"]) > 12 and read_numeric(raw, True) is not None
            c[1] += int(m["b"]) > 12 and read_numeric(raw, False) is not None
        for shape, (first, second) in counts.items():
            evidence[(table, column, shape)] = (first, second)
    out: dict[tuple[str, str, str], Order] = {}
    for key, (first, second) in evidence.items():
        if first and second:
            out[key] = Order(None, "conflict", first, second)
        elif first or second:
            out[key] = Order(bool(first), "evidence", first, second)
    decided = dict(out)
    for key, (first, second) in evidence.items():
        if key in out:
            continue
        own = {o.day_first for k, o in decided.items() if k[:2] == key[:2] and o.decided_by == "evidence"}
        export = {o.day_first for o in decided.values() if o.decided_by == "evidence"}
        if len(own) == 1:
            out[key] = Order(own.pop(), "column", first, second)
        elif not own and len(export) == 1:
            out[key] = Order(export.pop(), "export", first, second)
        else:
            out[key] = Order(day_first, "default", first, second)
    return out


# --------------------------------------------------------------------------------------------------
# An export: rows as stored, date cells, what the marts must hold
# --------------------------------------------------------------------------------------------------


@dataclass
class DateCell:
    table: str
    source_row: int
    column: str  # the source column
    raw: Any  # the value as stored in SQLite
    value: datetime  # the UTC timestamp it means
    written_day_first: bool | None  # the order a numeric D/M/Y value was written in

    @property
    def shape(self) -> str | None:
        return order_shape(self.raw)

    def reading(self, day_first: bool | None) -> datetime | None:
        """The timestamp when read in `day_first` order (the value itself when that is its order)."""
        if self.shape is None or day_first is None or day_first == self.written_day_first:
            return self.value
        return read_numeric(self.raw, day_first)


@dataclass
class Export:
    name: str
    path: Path
    rows: dict[str, list[dict[str, Any]]]  # as stored (read back from the file)
    cells: list[DateCell]
    expected: dict[str, dict[int, dict[str, Any]]]  # table -> source_row -> mart column -> value
    notes: list[str] = field(default_factory=list)

    def date_values(self) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        for c in self.cells:
            if isinstance(c.raw, str):
                out[(c.table, c.column)].append(c.raw)
        return out

    def orders(self, day_first: bool = True) -> dict[tuple[str, str, str], Order]:
        return decide_orders(self.date_values(), day_first)

    def timestamps(self, day_first: bool = True) -> dict[tuple[str, int, str], datetime | None]:
        """(table, source_row, mart column) -> the UTC timestamp the marts must hold."""
        orders = self.orders(day_first)
        out: dict[tuple[str, int, str], datetime | None] = {}
        for c in self.cells:
            o = orders.get((c.table, c.column, c.shape)) if c.shape else None
            out[(c.table, c.source_row, DATE_COLUMNS[c.table][c.column])] = c.reading(o.day_first if o else None)
        return out


def write_sqlite(path: Path, rows: dict[str, list[dict[str, Any]]], flavour: str = "reference") -> None:
    """The reference tables, declared the way the tool's export declares them, rows in order."""
    assert flavour in FLAVOURS, flavour
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    try:
        for table, cols in REFERENCE.items():

            def declared(name: str, typ: str) -> str:
                if flavour == "untyped":
                    return ""
                if flavour == "text":
                    return " REAL" if name == "TS-Hours" else " INTEGER" if name == "CT-VISIBLE-CUSTOMER" else " TEXT"
                return f" {typ}"

            con.execute(f"create table {table} ({', '.join(f'{_q(n)}{declared(n, t)}' for n, t in cols)})")
            names = [n for n, _ in cols]
            con.executemany(
                f"insert into {table} values ({', '.join('?' for _ in names)})",
                [[r.get(n) for n in names] for r in rows.get(table, [])],
            )
        con.commit()
    finally:
        con.close()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_back(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row as SQLite stores it (type affinity may have turned '1.5' into a REAL), by rowid."""
    con = sqlite3.connect(path)
    try:
        out = {}
        for table, cols in REFERENCE.items():
            names = [n for n, _ in cols]
            cur = con.execute(f"select rowid, {', '.join(_q(n) for n in names)} from {table} order by rowid")
            out[table] = [dict(zip(["_rowid", *names], r, strict=True)) for r in cur.fetchall()]
        return out
    finally:
        con.close()


def fold_statuses(values: Iterable[str | None]) -> dict[str, str]:
    """lower(status) -> the most frequent spelling (ties: the smallest spelling)."""
    counts = Counter(v for v in values if v is not None)
    best: dict[str, tuple[int, str]] = {}
    for spelling, n in counts.items():
        k = spelling.lower()
        if k not in best or (-n, spelling) < (-best[k][0], best[k][1]):
            best[k] = (n, spelling)
    return {k: s for k, (_, s) in best.items()}


def build_export(
    name: str,
    path: Path,
    rows: dict[str, list[dict[str, Any]]],
    dates: dict[tuple[str, int, str], tuple[datetime, bool | None]],
    flavour: str = "reference",
    notes: list[str] | None = None,
) -> Export:
    """Write `rows` (source column -> value) and compute what the marts must hold. `dates` gives,
    per (table, row index from 0, source column), the UTC timestamp a present date value means and
    the order it was written in."""
    write_sqlite(path, rows, flavour)
    stored = read_back(path)
    status_groups = seed_map("status_map.csv", "status_group")
    priorities = seed_map("priority_map.csv", "priority")
    statuses = [clean_text(r["TKT-Status"]) for r in stored["tickets"]]
    folded = fold_statuses(statuses)
    expected: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in REFERENCE}
    cells: list[DateCell] = []
    for table, table_rows in stored.items():
        for i, r in enumerate(table_rows):
            source_row = r["_rowid"]
            e: dict[str, Any] = {mart: clean_text(r[src]) for src, mart in TEXT_COLUMNS[table].items()}
            if table == "tickets":
                status = clean_text(r["TKT-Status"])
                e["status"] = folded[status.lower()] if status else None
                e["status_group"] = status_groups.get(status.lower()) if status else None
                e["is_status_mapped"] = status is None or status.lower() in status_groups
                priority = clean_text(r["TKT-Priority"])
                e["priority_raw"] = priority
                e["priority"] = priorities.get(priority.lower()) if priority else None
                e["is_sla_met"] = clean_bool(r["TKT-SLA Met"])
            elif table == "comments":
                e["is_customer_visible"] = clean_bool(r["CT-VISIBLE-CUSTOMER"])
            else:
                e["timesheet_id"] = f"TS-{source_row}"
                e["hours"] = clean_number(r["TS-Hours"])
            for src in DATE_COLUMNS[table]:
                raw = r[src]
                if clean_text(raw) is None:
                    assert (table, i, src) not in dates, (table, i, src, raw)
                    continue
                value, written = dates[(table, i, src)]
                cells.append(DateCell(table, source_row, src, raw, value, written))
            expected[table][source_row] = e
    return Export(name, path, stored, cells, expected, list(notes or []))


# --------------------------------------------------------------------------------------------------
# Date forms as tools write them: UTC timestamp -> (stored value, the UTC timestamp it means)
# --------------------------------------------------------------------------------------------------


def _h12(dt: datetime) -> tuple[int, str]:
    return (dt.hour % 12 or 12), ("AM" if dt.hour < 12 else "PM")


def _naive(fmt: Callable[[datetime], str], *patterns: str) -> Callable[[datetime, random.Random], tuple[Any, datetime]]:
    """A form without a zone (taken as UTC): written from the UTC wall time, read back with strptime."""

    def render(utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
        text = fmt(utc)
        for p in patterns:
            try:
                return text, datetime.strptime(text, p)
            except ValueError:
                continue
        raise AssertionError(f"{text!r} does not read back with {patterns}")

    return render


ZONES = [(120, "+02:00"), (345, "+05:45"), (345, "+0545"), (300, "+05"), (0, "Z"), (-180, "-03:00"), (-420, "-0700"),
         (330, "+05:30"), (60, "+01:00"), (-210, "-03:30"), (0, "+00:00")]  # fmt: skip
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|([+-])(\d\d)(?::?(\d\d))?)$")


def read_iso(text: str) -> datetime:
    """An ISO 8601 timestamp with a zone, as naive UTC (fractions: to the microsecond)."""
    m = _ISO.match(text)
    assert m, text
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    frac = m[7] or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    local = datetime(y, mo, d, h, mi, s) + timedelta(microseconds=round(nanos / 1000))
    offset = 0 if m[8] == "Z" else (1 if m[9] == "+" else -1) * (int(m[10]) * 60 + int(m[11] or 0))
    return local - timedelta(minutes=offset)


def _iso_offset(utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
    minutes, zone = rng.choice(ZONES)
    micro = rng.randrange(1_000_000)
    frac = rng.choice(["", "", "", ".5", ".250", f".{micro:06d}", f".{micro:06d}{rng.randrange(500):03d}"])
    sep = rng.choice(["T", "T", "T", " "])
    local = utc + timedelta(minutes=minutes)
    text = f"{local:%Y-%m-%d}{sep}{local:%H:%M:%S}{frac}{zone}"
    return text, read_iso(text)


def _rfc2822(utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
    minutes = rng.choice([0, 0, 120, -300, 60, 330])
    local = utc + timedelta(minutes=minutes)
    sign = "+" if minutes >= 0 else "-"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    day = f"{WEEKDAYS[local.weekday()]}, {local.day:02d} {MONTHS[local.month - 1][:3]} {local.year}"
    text = f"{day} {local:%H:%M:%S} {zone}"
    parsed = email.utils.parsedate_to_datetime(text)
    return text, parsed.astimezone(UTC).replace(tzinfo=None)


def _excel_real(utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
    serial = (utc - EXCEL_EPOCH).total_seconds() / 86400
    return serial, EXCEL_EPOCH + timedelta(seconds=round(serial * 86400))


def _excel_text(utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
    text = f"{(utc - EXCEL_EPOCH).total_seconds() / 86400:.6f}"  # as a cell formatted with 6 decimals
    return text, EXCEL_EPOCH + timedelta(seconds=round(float(text) * 86400))


def _excel_text8(utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
    text = f"{(utc - EXCEL_EPOCH).total_seconds() / 86400:.8f}"  # a tool that writes 8 decimals
    return text, EXCEL_EPOCH + timedelta(seconds=round(float(text) * 86400))


def _excel_date(utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
    days = (utc.date() - EXCEL_EPOCH.date()).days
    return days, EXCEL_EPOCH + timedelta(days=days)


def _mon(dt: datetime) -> str:
    return MONTHS[dt.month - 1][:3]


@dataclass(frozen=True)
class DateForm:
    name: str
    example: str
    render: Callable[[datetime, random.Random], tuple[Any, datetime]]
    day_first: bool | None = None  # numeric D/M/Y forms: the order they are written in
    date_only: bool = False


FORMS: dict[str, DateForm] = {
    f.name: f
    for f in [
        DateForm("iso", "2025-05-20 08:42:13", _naive(lambda d: f"{d:%Y-%m-%d %H:%M:%S}", "%Y-%m-%d %H:%M:%S")),
        DateForm("iso_t_min", "2025-05-20T08:42", _naive(lambda d: f"{d:%Y-%m-%dT%H:%M}", "%Y-%m-%dT%H:%M")),
        DateForm("iso_date", "2025-05-20", _naive(lambda d: f"{d:%Y-%m-%d}", "%Y-%m-%d"), date_only=True),
        DateForm("iso_offset", "2025-05-20T10:42:13+02:00", _iso_offset),
        DateForm("rfc2822", "Tue, 20 May 2025 08:42:13 +0000", _rfc2822),
        DateForm("dmy_24h_sec", "20/05/2025 08:42:13",
                 _naive(lambda d: f"{d:%d/%m/%Y %H:%M:%S}", "%d/%m/%Y %H:%M:%S"), day_first=True),
        DateForm("dmy_24h_min", "20/05/2025 8:42",
                 _naive(lambda d: f"{d:%d/%m/%Y} {d.hour}:{d:%M}", "%d/%m/%Y %H:%M"), day_first=True),
        DateForm("dmy_short", "20/5/25 8:42",
                 _naive(lambda d: f"{d.day}/{d.month}/{d:%y} {d.hour}:{d:%M}", "%d/%m/%y %H:%M"), day_first=True),
        DateForm("dmy_dash_sec", "07-01-2013 08:17:17",
                 _naive(lambda d: f"{d:%d-%m-%Y %H:%M:%S}", "%d-%m-%Y %H:%M:%S"), day_first=True),
        DateForm("dmy_dash_short", "9-9-2011 9:23",
                 _naive(lambda d: f"{d.day}-{d.month}-{d.year} {d.hour}:{d:%M}", "%d-%m-%Y %H:%M"), day_first=True),
        DateForm("dmy_dot", "20.05.2025 08:42",
                 _naive(lambda d: f"{d:%d.%m.%Y %H:%M}", "%d.%m.%Y %H:%M"), day_first=True),
        DateForm("dmy_dot_date", "20.05.2025",
                 _naive(lambda d: f"{d:%d.%m.%Y}", "%d.%m.%Y"), day_first=True, date_only=True),
        DateForm("dmy_date", "20/05/2025",
                 _naive(lambda d: f"{d:%d/%m/%Y}", "%d/%m/%Y"), day_first=True, date_only=True),
        DateForm("mdy_24h", "05/20/2025 20:42",
                 _naive(lambda d: f"{d:%m/%d/%Y %H:%M}", "%m/%d/%Y %H:%M"), day_first=False),
        DateForm("mdy_12h_sec", "05/20/2025 08:42:13 PM",
                 _naive(lambda d: f"{d:%m/%d/%Y} {_h12(d)[0]:02d}:{d:%M:%S} {_h12(d)[1]}", "%m/%d/%Y %I:%M:%S %p"),
                 day_first=False),
        DateForm("mdy_12h_short", "5/20/25 8:42 pm",
                 _naive(lambda d: f"{d.month}/{d.day}/{d:%y} {_h12(d)[0]}:{d:%M} {_h12(d)[1].lower()}",
                        "%m/%d/%y %I:%M %p"), day_first=False),
        DateForm("mdy_12h_comma", "5/20/2025, 8:42:13 PM",
                 _naive(lambda d: f"{d.month}/{d.day}/{d.year}, {_h12(d)[0]}:{d:%M:%S} {_h12(d)[1]}",
                        "%m/%d/%Y, %I:%M:%S %p"), day_first=False),
        DateForm("mdy_date", "05/20/2025",
                 _naive(lambda d: f"{d:%m/%d/%Y}", "%m/%d/%Y"), day_first=False, date_only=True),
        DateForm("jira", "20/May/25 8:42 AM",
                 _naive(lambda d: f"{d:%d}/{_mon(d)}/{d:%y} {_h12(d)[0]}:{d:%M} {_h12(d)[1]}", "%d/%b/%y %I:%M %p")),
        DateForm("jira_date", "20/May/25", _naive(lambda d: f"{d:%d}/{_mon(d)}/{d:%y}", "%d/%b/%y"), date_only=True),
        DateForm("month_name_us", "May 20, 2025 8:42 PM",
                 _naive(lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year} {_h12(d)[0]}:{d:%M} {_h12(d)[1]}",
                        "%B %d, %Y %I:%M %p")),
        DateForm("dd_mon_yyyy", "20-May-2025", _naive(lambda d: f"{d.day:02d}-{_mon(d)}-{d.year}", "%d-%b-%Y"),
                 date_only=True),
        DateForm("excel_real", "45749.80186342592", _excel_real),
        DateForm("excel_text", "45749.801863", _excel_text),
        DateForm("excel_text8", "45749.80186343", _excel_text8),
        DateForm("excel_date", "45749", _excel_date, date_only=True),
    ]
}  # fmt: skip


def write_date(form: str, utc: datetime, rng: random.Random) -> tuple[Any, datetime]:
    f = FORMS[form]
    if f.date_only:
        utc = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    value, meant = f.render(utc, rng)
    if f.name not in ("iso_offset", "rfc2822", "excel_real", "excel_text", "excel_text8"):
        # the form wrote what it was given (to the minute when it has no seconds)
        assert timedelta(0) <= utc - meant < timedelta(minutes=1), (form, value, meant, utc)
    return value, meant


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """A date form used in a column: its share of the values; `ambiguous`: every value's day is 12
    or less (the values give no day/month evidence); otherwise the first values have a day over 12."""

    form: str
    weight: float = 1.0
    ambiguous: bool = False


@dataclass(frozen=True)
class Vocab:
    tool: str
    ticket_ids: Callable[[int], Any]
    comment_ids: Callable[[int], Any]
    statuses: tuple[tuple[str, float], ...]
    priorities: tuple[tuple[str, float], ...]
    categories: tuple[str, ...]
    teams: tuple[str, ...]
    users: tuple[str, ...]
    sla: tuple[Any, ...]
    visible: tuple[Any, ...]


OPEN_WORDS = {"new", "open", "to do", "backlog", "selected for development"}
WAITING_OR_WORKING = {"in progress", "on hold", "pending", "hold", "in review", "waiting for release"}
RESOLVED_WORDS = {"resolved", "solved", "done"}

SERVICENOW = Vocab(
    "ServiceNow",
    ticket_ids=lambda i: f"INC{10_001 + i:07d}",
    comment_ids=lambda i: f"{0x5137153CC611227C000BBD1BD8CD2005 + i * 7919:032x}",
    statuses=(("New", 8), ("In Progress", 22), ("On Hold", 7), ("Resolved", 20), ("Closed", 38), ("Canceled", 5)),
    priorities=(("1 - Critical", 3), ("2 - High", 12), ("3 - Moderate", 50), ("4 - Low", 30), ("5 - Planning", 5)),
    categories=("Software", "Hardware", "Network", "Inquiry / Help", "Database", "software", "  Hardware  "),
    teams=(
        "Service Desk",
        "Network Operations",
        "Application Support",
        "EMEA L2 \u2013 Windows",
        "\u00c9quipe R\u00e9seau",
    ),
    users=("Beth Anglin", "David Loo", "Fred Luddy", "Zo\u00eb O'Brien", "Bj\u00f6rn \u00c5kesson", "N/A"),
    sla=("true", "false", "true", "true", ""),
    visible=(1, 0, 0),
)
ZENDESK = Vocab(
    "Zendesk",
    ticket_ids=lambda i: 4711 + i,
    comment_ids=lambda i: 360_012_345_000 + i * 17,
    statuses=(("new", 6), ("open", 24), ("pending", 12), ("hold", 6), ("solved", 30), ("closed", 18), ("Closed", 4)),
    priorities=(("Urgent", 4), ("High", 16), ("Normal", 60), ("Low", 20), ("normal", 3)),
    categories=("question", "incident", "problem", "task", "Incident"),
    teams=("Support", "Tier 2", "Billing & Payments", "  Support"),
    users=("Ana Silva", "Kenji Watanabe", "Priya Natarajan", "-"),
    sla=("Yes", "No", "Yes", ""),
    visible=("true", "false"),
)
JIRA = Vocab(
    "Jira Service Management",
    ticket_ids=lambda i: f"SUP-{101 + i}",
    comment_ids=lambda i: str(10_000 + i),
    statuses=(
        ("To Do", 14),
        ("Backlog", 6),
        ("Selected for Development", 5),
        ("In Progress", 20),
        ("In Review", 8),
        ("Done", 40),
        ("Won't Do", 6),
    ),
    priorities=(("Highest", 3), ("High", 15), ("Medium", 55), ("Low", 20), ("Lowest", 7)),
    categories=("Backend", "Mobile App", "Billing", "Access request", "Hardware"),
    teams=("Team Phoenix", "IT Operations", "Plattform & Infrastruktur"),
    users=("jdoe", "m.rossi", "l.\u00e7elik", "Unassigned"),
    sla=("Y", "N", "Y"),
    visible=("Yes", "No"),
)
MIXED = Vocab(
    "ServiceNow and Zendesk merged",
    ticket_ids=lambda i: f"INC{20_001 + i:07d}" if i % 3 else str(9000 + i),
    comment_ids=lambda i: f"C-{i:05d}",
    statuses=(
        ("Closed", 30),
        ("closed", 8),
        ("In Progress", 18),
        ("open", 12),
        ("Open", 3),
        ("pending", 10),
        ("Resolved", 15),
        ("solved", 4),
    ),
    priorities=(("1 - Critical", 3), ("High", 15), ("3 - Moderate", 40), ("normal", 20), ("4 - Low", 22)),
    categories=SERVICENOW.categories + ZENDESK.categories,
    teams=SERVICENOW.teams + ZENDESK.teams,
    users=SERVICENOW.users + ZENDESK.users,
    sla=SERVICENOW.sla + ZENDESK.sla,
    visible=(1, 0, "true", "false"),
)

TITLES = (
    "Printer on 3rd floor won't print",
    "VPN drops every 5 min",
    'Outlook: "Cannot start Microsoft Outlook"',
    "Laptop fan noisy; keyboard sticky, please replace",
    "  Password reset  ",
    "SAP GUI l\u00e4uft nicht \u2013 Fehler 0x80004005",
    "Access to \\\\fileserver\\finance share",
    "Teams  meeting  audio  echo",
    "New starter: Mar\u00eda Jos\u00e9 (HR) \u2013 account + badge",
    "Excel macro crashes\u00a0",
    "\tMonitor flickers",
    "Issue with ticket #4711 (duplicate?)",
)


@dataclass(frozen=True)
class Style:
    name: str
    vocab: Vocab
    dates: dict[str, tuple[Use, ...]]  # created, response, resolved, closed, comment, work_date
    hours: tuple[tuple[str, float], ...]
    flavour: str = "reference"
    unknown_status: str | None = None  # one ticket (< 1%) with a status that is in no map
    pad: float = 0.0  # share of the date values written with a space, tab or NBSP around them
    tickets: int = 120


def _uses(*items: tuple[str, float] | tuple[str, float, bool] | str) -> tuple[Use, ...]:
    out = []
    for it in items:
        out.append(Use(it) if isinstance(it, str) else Use(*it))
    return tuple(out)


STYLES: dict[str, Style] = {
    # HP Service Manager / ServiceNow in Europe, BPI-like: DD/MM/YYYY HH:MM:SS; a date-only shape with
    # no evidence of its own (follows its column) and a column with none at all (follows the export)
    "day_first": Style(
        "day_first",
        SERVICENOW,
        {
            "created": _uses("dmy_24h_sec"),
            "response": _uses(("dmy_24h_sec", 0.8), ("dmy_date", 0.2, True)),
            "resolved": _uses("dmy_24h_sec"),
            "closed": _uses("dmy_24h_sec"),
            "comment": _uses(("dmy_dash_sec", 0.9), ("dmy_dash_short", 0.1)),
            "work_date": _uses(("dmy_date", 1.0, True)),
        },
        hours=(
            ("comma", 0.4),
            ("sixtieths", 0.35),
            ("comma_long", 0.1),
            ("thousands_dot", 0.05),
            ("signed", 0.05),
            ("integer", 0.05),
        ),
        pad=0.03,
    ),
    # Zendesk / a US ServiceNow: MM/DD/YYYY hh:mm:ss AM, no declared types
    "us_12h": Style(
        "us_12h",
        ZENDESK,
        {
            "created": _uses("mdy_12h_sec"),
            "response": _uses(("mdy_12h_sec", 0.6), ("mdy_12h_short", 0.25), ("mdy_date", 0.15, True)),
            "resolved": _uses("mdy_12h_sec"),
            "closed": _uses(("mdy_12h_sec", 0.7), ("mdy_12h_short", 0.3)),
            "comment": _uses("mdy_12h_comma"),
            "work_date": _uses(("mdy_date", 1.0, True)),
        },
        hours=(
            ("sixtieths", 0.5),
            ("thirds", 0.15),
            ("real_sum", 0.1),
            ("thousands_comma", 0.05),
            ("comma", 0.1),
            ("exponent", 0.05),
            ("integer", 0.05),
        ),
        flavour="untyped",
    ),
    # an API dump: ISO 8601 with offsets (and fractions), RFC 2822 mail headers for comments
    "iso_offset": Style(
        "iso_offset",
        SERVICENOW,
        {
            "created": _uses("iso_offset"),
            "response": _uses("iso_offset"),
            "resolved": _uses("iso_offset"),
            "closed": _uses(("iso_offset", 0.7), ("iso", 0.2), ("iso_t_min", 0.1)),
            "comment": _uses(("iso_offset", 0.7), ("rfc2822", 0.3)),
            "work_date": _uses("iso_date"),
        },
        hours=(("sixtieths", 0.5), ("exponent", 0.1), ("integer", 0.1), ("real_long", 0.2), ("comma", 0.1)),
        flavour="text",
    ),
    # Jira's CSV export: 20/May/25 8:42 AM; one custom status no map knows
    "jira": Style(
        "jira",
        JIRA,
        {
            "created": _uses("jira"),
            "response": _uses("jira"),
            "resolved": _uses("jira"),
            "closed": _uses("jira"),
            "comment": _uses(("jira", 0.8), ("month_name_us", 0.2)),
            "work_date": _uses("jira_date"),
        },
        hours=(("sixtieths", 0.8), ("comma", 0.1), ("real_sum", 0.1)),
        unknown_status="Waiting for Release",
        tickets=130,
    ),
    # a spreadsheet saved to SQLite: dates as serial days (REAL, text with 6 decimals, whole days)
    "excel": Style(
        "excel",
        SERVICENOW,
        {
            "created": _uses("excel_real"),
            "response": _uses("excel_text"),
            "resolved": _uses("excel_real"),
            "closed": _uses(("excel_text", 0.5), ("excel_real", 0.5)),
            "comment": _uses(("excel_real", 0.4), ("excel_text", 0.4), ("excel_text8", 0.2)),
            "work_date": _uses(("excel_date", 0.7), ("dd_mon_yyyy", 0.3)),
        },
        hours=(("sixtieths", 0.6), ("comma", 0.2), ("thirds", 0.2)),
    ),
    # two tools merged: day-first 24h with a few US 12h values in the same columns (each shape with
    # values over 12), ISO offsets, RFC 2822, dotted dates; status case variants to fold
    "mixed": Style(
        "mixed",
        MIXED,
        {
            "created": _uses(("dmy_24h_min", 0.75), ("dmy_short", 0.1), ("mdy_12h_sec", 0.15)),
            "response": _uses(("dmy_24h_sec", 0.7), ("iso_offset", 0.3)),
            "resolved": _uses(("dmy_24h_min", 0.9), ("mdy_12h_short", 0.1)),
            "closed": _uses("dmy_dot"),
            "comment": _uses(("dmy_24h_sec", 0.8), ("mdy_12h_comma", 0.1), ("rfc2822", 0.1)),
            "work_date": _uses(("dmy_date", 0.8), ("dmy_dot_date", 0.2)),
        },
        hours=(
            ("sixtieths", 0.4),
            ("comma", 0.3),
            ("thousands_comma", 0.05),
            ("thousands_dot", 0.05),
            ("real_sum", 0.1),
            ("signed", 0.1),
        ),
        flavour="untyped",
        pad=0.05,
    ),
    # every slash date 12 or less in both fields, written month-first: only day_first=false reads it right
    "no_evidence": Style(
        "no_evidence",
        SERVICENOW,
        {
            "created": _uses(("mdy_24h", 1.0, True)),
            "response": _uses(("mdy_24h", 1.0, True)),
            "resolved": _uses(("mdy_24h", 1.0, True)),
            "closed": _uses("iso"),
            "comment": _uses(("mdy_24h", 1.0, True)),
            "work_date": _uses(("mdy_date", 1.0, True)),
        },
        hours=(("sixtieths", 1.0),),
        tickets=40,
    ),
    # one shape ('/ 24h' of TKT-Created Time) with values only day-first and values only month-first
    "conflict": Style(
        "conflict",
        SERVICENOW,
        {
            "created": _uses(("dmy_24h_sec", 0.9), ("mdy_24h", 0.1)),
            "response": _uses("iso"),
            "resolved": _uses("iso"),
            "closed": _uses("iso"),
            "comment": _uses("iso"),
            "work_date": _uses("iso_date"),
        },
        hours=(("sixtieths", 1.0),),
        tickets=40,
    ),
}


def _hours(kind: str, rng: random.Random) -> Any:
    """Hours as the tool stores them: REALs of any precision, or text with a decimal comma etc."""
    n = rng.randrange(1, 600)
    if kind == "sixtieths":
        return n / 60  # 13/60 = 0.21666666666666667: more digits than SQLite's own text keeps
    if kind == "thirds":
        return rng.randrange(1, 30) / 3
    if kind == "real_sum":
        return rng.choice([0.1 + 0.2, 0.7 + 0.1, 1.1 * 3, 2.675, 1e-05])
    if kind == "real_long":
        return rng.choice([123.456789012345, 0.1234567890123456, 7.000000000000001])
    if kind == "integer":
        return rng.randrange(1, 9)
    if kind == "comma":
        return f"{n / 4:g}".replace(".", ",")  # '1,5', '0,25', '12'
    if kind == "comma_long":
        return rng.choice(["3871,691111", "0,862777778", "2050,36", "43,21833333"])
    if kind == "thousands_comma":
        return rng.choice(["1,234.5", "2,000.25", "1,250,000"])
    if kind == "thousands_dot":
        return rng.choice(["1.234,5", "2.000,25"])
    if kind == "exponent":
        return rng.choice(["1.5e-05", "2.5E+01", "1e3"])
    if kind == "signed":
        return rng.choice(["-0,5", "+2.25", "-1.75", "+0,75"])
    raise ValueError(kind)


def _quota(uses: Iterable[tuple[Any, float]], n: int, rng: random.Random) -> list[Any]:
    """n draws with each item's share fixed (every item at least twice), in a seeded order."""
    items = list(uses)
    total = sum(w for _, w in items)
    counts = [max(2, round(w / total * n)) for _, w in items]
    while sum(counts) > n:
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < n:
        counts[counts.index(max(counts))] += 1
    out = [it for (it, _), c in zip(items, counts, strict=True) for _ in range(c)]
    rng.shuffle(out)
    return out


class _DateWriter:
    """Per column: which form each value takes, and the day constraints that make (or withhold)
    the day/month evidence."""

    def __init__(self, uses: tuple[Use, ...], n: int, rng: random.Random, pad: float = 0.0) -> None:
        self.plan = _quota([(u, u.weight) for u in uses], max(n, 2 * len(uses)), rng)
        self.pad = pad
        self.i = 0
        self.seen: Counter[str] = Counter()
        self.rng = rng

    def next(self, utc: datetime) -> tuple[Any, datetime, bool | None]:
        use = self.plan[self.i % len(self.plan)]
        self.i += 1
        form = FORMS[use.form]
        if form.day_first is not None:
            if use.ambiguous:
                utc = _advance(utc, lambda d: d.day <= 12)
            elif self.seen[use.form] < 2:
                utc = _advance(utc, lambda d: d.day >= 13)
            self.seen[use.form] += 1
        value, meant = write_date(use.form, utc, self.rng)
        if isinstance(value, str) and self.rng.random() < self.pad:
            value = self.rng.choice([f" {value}", f"{value} ", f"{value}\u00a0", f"\t{value}"])
        return value, meant, form.day_first


def _advance(dt: datetime, ok: Callable[[datetime], bool]) -> datetime:
    for _ in range(40):
        if ok(dt):
            return dt
        dt += timedelta(days=1)
    raise AssertionError(dt)


def generate(path: Path, style: str | Style, *, seed: int = 20250520) -> Export:
    """A synthetic export in `style` (a key of STYLES or a Style), written to `path`."""
    st = STYLES[style] if isinstance(style, str) else style
    rng = random.Random(f"{st.name}:{seed}")
    v = st.vocab
    n = st.tickets
    statuses = _quota(v.statuses, n, rng)
    if st.unknown_status:
        statuses[n // 2] = st.unknown_status
    priorities = _quota(v.priorities, n, rng)
    n_comments = round(n * 2.5)
    n_timesheets = round(n * 1.25)
    sizes = {"comment": n_comments, "work_date": n_timesheets}
    w = {k: _DateWriter(uses, sizes.get(k, n), rng, st.pad) for k, uses in st.dates.items()}
    hours = _quota(st.hours, n_timesheets, rng)
    rows: dict[str, list[dict[str, Any]]] = {"tickets": [], "comments": [], "timesheets": []}
    dates: dict[tuple[str, int, str], tuple[datetime, bool | None]] = {}
    start = datetime(2025, 4, 1)

    def put(table: str, column: str, key: str, utc: datetime, row: dict[str, Any]) -> datetime:
        value, meant, written = w[key].next(utc)
        row[column] = value
        dates[(table, len(rows[table]), column)] = (meant, written)
        return meant

    ticket_times: list[tuple[Any, datetime, datetime]] = []
    for i in range(n):
        status = statuses[i]
        row: dict[str, Any] = {
            "TKT-Ticket ID": v.ticket_ids(i),
            "TKT-Title": TITLES[i % len(TITLES)] if i % 5 else f"{TITLES[i % len(TITLES)].strip()} ({v.tool})",
            "TKT-Status": status if i % 17 else f" {status} ",
            "TKT-Priority": priorities[i],
            "TKT-Category": rng.choice(v.categories),
            "TKT-Team": rng.choice(v.teams),
            "TKT-Assigned To": rng.choice(v.users),
            "TKT-SLA Met": rng.choice(v.sla),
        }
        created = start + timedelta(seconds=rng.randrange(80 * 86400))
        if i % 11 == 0:  # midnight and noon: 12 AM and 12 PM on a 12-hour clock
            created = created.replace(hour=0 if i % 22 == 0 else 12)
        created = put("tickets", "TKT-Created Time", "created", created, row)
        low = status.lower()
        t = created
        last = created
        stages = [("TKT-Actual Response Date", "response", timedelta(minutes=rng.randrange(5, 240)))]
        if low not in OPEN_WORDS and low not in WAITING_OR_WORKING and status != st.unknown_status:
            stages.append(("TKT-Actual Resolution Date", "resolved", timedelta(hours=rng.randrange(1, 72))))
            if low not in RESOLVED_WORDS:
                stages.append(("TKT-Closed Time", "closed", timedelta(days=rng.randrange(1, 5))))
        if low in OPEN_WORDS and i % 2:
            stages = []
        for column, key, delta in stages:
            t = put("tickets", column, key, t.replace(microsecond=0) + delta, row)
            last = t
        for column in ("TKT-Actual Response Date", "TKT-Actual Resolution Date", "TKT-Closed Time"):
            row.setdefault(column, "" if i % 3 else None)
        rows["tickets"].append(row)
        ticket_times.append((row["TKT-Ticket ID"], created, max(last, created + timedelta(hours=2))))

    for j in range(n_comments):
        tid, created, last = ticket_times[j % n]
        span = max(60, int((last - created).total_seconds()))
        row = {
            "CT-COMMENT-ID": v.comment_ids(j),
            "CT-TKT-ID": tid,
            "CT-USERNAME": rng.choice(v.users),
            "CT-COMMENT": rng.choice(
                [
                    "Looking into it",
                    "Called the user; no answer",
                    "Fixed: rebooted the print spooler",
                    "Bitte um R\u00fcckmeldung",
                    "  waiting on vendor  ",
                ]
            ),
            "CT-VISIBLE-CUSTOMER": rng.choice(v.visible),
        }
        when = created.replace(microsecond=0) + timedelta(seconds=rng.randrange(span))
        put("comments", "CT-CREATED-TIME", "comment", when, row)
        rows["comments"].append(row)

    for k in range(n_timesheets):
        tid, created, last = ticket_times[(k * 7) % n]
        span = max(60, int((last - created).total_seconds()))
        row = {
            "TS-Title": rng.choice(["Investigation", "Remote session", "On-site visit", "Vor-Ort-Einsatz"]),
            "TS-Hours": _hours(hours[k], rng),
            "TS-User": rng.choice(v.users),
            "TS-Crm ID": tid,
            "TS-Category": rng.choice(["Investigation", "Fix", "Travel", "Admin"]),
        }
        when = created.replace(microsecond=0) + timedelta(seconds=rng.randrange(span))
        put("timesheets", "TS-Date", "work_date", when, row)
        rows["timesheets"].append(row)

    export = build_export(st.name, path, rows, dates, st.flavour, notes=[f"tool: {v.tool}"])
    folded = Counter(clean_text(r["TKT-Status"]) for r in export.rows["tickets"])
    by_key: dict[str, list[int]] = defaultdict(list)
    for spelling, c in folded.items():
        if spelling:
            by_key[spelling.lower()].append(c)
    assert all(len(set(cs)) == len(cs) for cs in by_key.values()), f"{st.name}: tied status spellings {by_key}"
    return export


# --------------------------------------------------------------------------------------------------
# The real exports: BPI Challenge 2014 (Rabobank) and 2013 (Volvo IT)
# --------------------------------------------------------------------------------------------------


def _read_csv(path: Path, encoding: str) -> list[dict[str, str]]:
    """';'-separated, header first, no quoting; unnamed (empty) header columns dropped."""
    with open(path, newline="", encoding=encoding) as f:
        reader = csv.reader(f, delimiter=";", quoting=csv.QUOTE_NONE)
        header = next(reader)
        return [{h: v for h, v in zip(header, r, strict=True) if h} for r in reader]


def bpi2014_export(out: Path, folder: Path = BPI2014) -> Export:
    """The BPI Challenge 2014 sample as a service desk's export.

    tickets: one per Detail_Incident row: Incident ID, 'CI Name (aff) (CI Subtype (aff))' as title,
      Status, Priority, Category, team = the Assignment Group of the incident's latest activity,
      Open Time -> created, Resolved Time -> resolved, Close Time -> closed (DD/MM/YYYY HH:MM:SS).
    comments: one per Detail_Incident_Activity row: IncidentActivity_Number as id, Incident ID,
      DateStamp (DD-MM-YYYY HH:MM:SS) as the time, Assignment Group as author, the activity type as text.
    timesheets: one per incident, 'Handle Time (Hours)' as written (decimal comma text), Close Time as
      the date; and one per interaction whose Related Incident is in the sample: 'Handle Time (secs)'
      / 3600 as a REAL, 'Open Time (First Touch)' (D-M-YYYY H:MM) as the date.
    """
    enc = "latin-1"  # the full files are not UTF-8 (README.txt); the sample is ASCII
    incidents = _read_csv(folder / "Detail_Incident_head51.csv", enc)
    activities = _read_csv(folder / "Detail_Incident_Activity_head188.csv", enc)
    interactions = _read_csv(folder / "Detail_Interaction_head102.csv", enc)
    dmy = "%d/%m/%Y %H:%M:%S"
    latest: dict[str, tuple[datetime, str]] = {}
    for a in activities:
        at = datetime.strptime(a["DateStamp"], "%d-%m-%Y %H:%M:%S")
        if a["Incident ID"] not in latest or at >= latest[a["Incident ID"]][0]:
            latest[a["Incident ID"]] = (at, a["Assignment Group"])
    rows: dict[str, list[dict[str, Any]]] = {"tickets": [], "comments": [], "timesheets": []}
    dates: dict[tuple[str, int, str], tuple[datetime, bool | None]] = {}

    def put(table: str, column: str, raw: str, pattern: str, row: dict[str, Any]) -> None:
        row[column] = raw
        if raw:
            dates[(table, len(rows[table]), column)] = (datetime.strptime(raw, pattern), True)

    for inc in incidents:
        iid = inc["Incident ID"]
        row: dict[str, Any] = {
            "TKT-Ticket ID": iid,
            "TKT-Title": f"{inc['CI Name (aff)']} ({inc['CI Subtype (aff)']})",
            "TKT-Status": inc["Status"],
            "TKT-Priority": inc["Priority"],
            "TKT-Category": inc["Category"],
            "TKT-Team": latest[iid][1] if iid in latest else None,
            "TKT-Assigned To": None,
            "TKT-Actual Response Date": None,
            "TKT-SLA Met": None,
        }
        put("tickets", "TKT-Created Time", inc["Open Time"], dmy, row)
        put("tickets", "TKT-Actual Resolution Date", inc["Resolved Time"], dmy, row)
        put("tickets", "TKT-Closed Time", inc["Close Time"], dmy, row)
        rows["tickets"].append(row)
    for a in activities:
        row = {
            "CT-COMMENT-ID": a["IncidentActivity_Number"],
            "CT-TKT-ID": a["Incident ID"],
            "CT-USERNAME": a["Assignment Group"],
            "CT-COMMENT": a["IncidentActivity_Type"],
            "CT-VISIBLE-CUSTOMER": None,
        }
        put("comments", "CT-CREATED-TIME", a["DateStamp"], "%d-%m-%Y %H:%M:%S", row)
        rows["comments"].append(row)
    for inc in incidents:
        row = {
            "TS-Title": "Handle Time (Hours)",
            "TS-Hours": inc["Handle Time (Hours)"],
            "TS-User": latest[inc["Incident ID"]][1] if inc["Incident ID"] in latest else None,
            "TS-Crm ID": inc["Incident ID"],
            "TS-Category": inc["Closure Code"],
        }
        put("timesheets", "TS-Date", inc["Close Time"], dmy, row)
        rows["timesheets"].append(row)
    sampled = {inc["Incident ID"] for inc in incidents}
    for it in interactions:
        if it["Related Incident"] not in sampled:
            continue
        row = {
            "TS-Title": f"Interaction {it['Interaction ID']}",
            "TS-Hours": int(it["Handle Time (secs)"]) / 3600,
            "TS-User": None,
            "TS-Crm ID": it["Related Incident"],
            "TS-Category": it["Category"],
        }
        put("timesheets", "TS-Date", it["Open Time (First Touch)"], "%d-%m-%Y %H:%M", row)
        rows["timesheets"].append(row)
    return build_export("bpi2014", out, rows, dates, "reference", notes=["BPI Challenge 2014 sample"])


BPI2013_FILES = ("closed_problems_head300.csv", "open_problems_head300.csv")


def bpi2013_export(out: Path, folder: Path = BPI2013, files: tuple[str, ...] = BPI2013_FILES) -> Export:
    """The BPI Challenge 2013 problem logs (both files, cp1252, columns matched by name) as an export.

    tickets: one per Problem Number: its last event (latest change time; the later file wins a tie)
      gives the status (Problem Sub Status), priority (Problem Latest Impact), team (Problem Involved
      Owner ST), assignee (Action Owner First Name), category (ST Function Div), title (Product);
      created = its first change time, closed = the last change time when the last status is Closed;
      timestamps as written ('2012-03-15T11:53:52+01:00').
    comments: one per event: '<problem>#<n>' as id, the change time, the owner's first name as
      author, 'Status / Sub Status' as text.
    """
    events: list[dict[str, str]] = []
    for name in files:
        events += _read_csv(folder / name, "cp1252")
    by_problem: dict[str, list[tuple[datetime, int, dict[str, str]]]] = defaultdict(list)
    for k, e in enumerate(events):
        utc = datetime.fromisoformat(e["Problem Change Date+Time"]).astimezone(UTC).replace(tzinfo=None)
        by_problem[e["Problem Number"]].append((utc, k, e))
    rows: dict[str, list[dict[str, Any]]] = {"tickets": [], "comments": [], "timesheets": []}
    dates: dict[tuple[str, int, str], tuple[datetime, bool | None]] = {}
    for number, evs in by_problem.items():
        first = min(evs, key=lambda x: (x[0], x[1]))
        last = max(evs, key=lambda x: (x[0], x[1]))
        le = last[2]
        row: dict[str, Any] = {
            "TKT-Ticket ID": number,
            "TKT-Title": le["Product"],
            "TKT-Status": le["Problem Sub Status"],
            "TKT-Priority": le["Problem Latest Impact"],
            "TKT-Category": le["Problem Involved ST Function Div"],
            "TKT-Team": le["Problem Involved Owner ST"],
            "TKT-Assigned To": le["Problem Involved Action Owner First Name"],
            "TKT-Created Time": first[2]["Problem Change Date+Time"],
            "TKT-Actual Response Date": None,
            "TKT-Actual Resolution Date": None,
            "TKT-Closed Time": le["Problem Change Date+Time"] if le["Problem Sub Status"] == "Closed" else "",
            "TKT-SLA Met": None,
        }
        i = len(rows["tickets"])
        dates[("tickets", i, "TKT-Created Time")] = (first[0], None)
        if row["TKT-Closed Time"]:
            dates[("tickets", i, "TKT-Closed Time")] = (last[0], None)
        rows["tickets"].append(row)
    seen: Counter[str] = Counter()
    for k, e in enumerate(events):
        number = e["Problem Number"]
        seen[number] += 1
        dates[("comments", k, "CT-CREATED-TIME")] = (
            datetime.fromisoformat(e["Problem Change Date+Time"]).astimezone(UTC).replace(tzinfo=None),
            None,
        )
        rows["comments"].append(
            {
                "CT-COMMENT-ID": f"{number}#{seen[number]}",
                "CT-TKT-ID": number,
                "CT-CREATED-TIME": e["Problem Change Date+Time"],
                "CT-USERNAME": e["Problem Involved Action Owner First Name"],
                "CT-COMMENT": f"{e['Problem Status']} / {e['Problem Sub Status']}",
                "CT-VISIBLE-CUSTOMER": None,
            }
        )
    return build_export("bpi2013", out, rows, dates, "text", notes=["BPI Challenge 2013 problems"])
