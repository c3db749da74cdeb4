"""What a value looks like: the regular expressions of numbers and dates (RE2, run inside DuckDB;
they mirror the SQL forms of macros/cleaning/), declared SQLite types, and the date formats and
day/month shapes read from the shapes of the values (digits as 9)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

# --- regular expressions (RE2 syntax inside DuckDB) -------------------------------------------------

RE_INTEGER = r"[+-]?\d+"
RE_REAL_DOT = r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+"
RE_REAL_COMMA = r"[+-]?\d+,\d+"
_MONTHS = (
    "january|february|march|april|june|july|august|september|october|november|december|"
    "sept|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
)
_RE_MONTH = rf"(?i:{_MONTHS})"
_RE_WEEKDAY = r"(?i:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*)"
# The forms macros/cleaning/timestamps.sql parses (timestamp_patterns), written the same way here.
_NUMERIC_DATE = r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"
_NAMED_DATE = (
    rf"(?:{_RE_WEEKDAY},? )?(?:\d{{1,2}}[-/ ]{_RE_MONTH}[-/ ](?:\d{{4}}|\d{{2}})|{_RE_MONTH} \d{{1,2}},? \d{{4}})"
)
_TIME = (
    r"(?:(?:[ T]|, )\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?: ?[AaPp][Mm]| ?(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?)?"
)
RE_DATE = rf"(?:{_NUMERIC_DATE}|{_NAMED_DATE}){_TIME}"
# parts of a date-like value (a leading weekday removed first)
RE_NUM_DATE_PARTS = r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})"
RE_NAMED1_PARTS = r"^(\d{1,2})[-/ ]([A-Za-z]+)[-/ ](\d{2,4})"
RE_NAMED2_PARTS = r"^([A-Za-z]+) (\d{1,2}),? (\d{4})"
RE_TIME_PARTS = r"(?:[ T]|, )(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
RE_WEEKDAY_PREFIX = rf"^{_RE_WEEKDAY},? "

# date shapes (digits as 9) that DuckDB's timestamp cast parses exactly: the fast path
ISO_SHAPES = [
    "9999-99-99" + time + frac
    for time in ("", " 99:99", "T99:99", " 99:99:99", "T99:99:99")
    for frac in ([""] + ["." + "9" * n for n in range(1, 7)] if time.endswith(":99:99") else [""])
]
# exactly the values of those shapes (ASCII digits), told without translating each digit
RE_ISO = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?"

# value classes computed in SQL
K_NULL, K_EMPTY, K_WS, K_SENTINEL, K_INT, K_REAL_DOT, K_REAL_COMMA, K_BOOL, K_DATE, K_TEXT = range(10)


# --- declared types ---------------------------------------------------------------------------------


def declared_family(declared: str) -> str | None:
    """What a declared type claims: integer, real, numeric, boolean, timestamp, date, text, or None
    (no type, BLOB: no claim). SQLite's affinity rules, refined for date and boolean names."""
    d = declared.upper()
    if not d or "BLOB" in d:
        return None
    if "BOOL" in d:
        return "boolean"
    if "TIMESTAMP" in d or "DATETIME" in d or "TIME" in d:
        return "timestamp"
    if "DATE" in d:
        return "date"
    if "INT" in d:
        return "integer"
    if "CHAR" in d or "CLOB" in d or "TEXT" in d:
        return "text"
    if "REAL" in d or "FLOA" in d or "DOUB" in d:
        return "real"
    return "numeric"


COMPATIBLE = {
    "integer": {"integer"},
    "real": {"integer", "real"},
    "numeric": {"integer", "real"},
    "boolean": {"boolean"},
    "timestamp": {"timestamp", "date"},
    "date": {"date", "timestamp"},
}


# --- date formats from shapes -----------------------------------------------------------------------

_SHAPE_RE = re.compile(
    r"^(?P<wd>Day(?P<wdc>,?) )?"
    r"(?:(?P<ymd>9{4})(?P<s1>[-/.])(?P<ymd_m>9{1,2})[-/.](?P<ymd_d>9{1,2})"
    r"|(?P<f1>9{1,2})(?P<s2>[-/.])(?P<f2>9{1,2})[-/.](?P<y2>9{4}|9{2})"
    r"|(?P<nd>9{1,2})(?P<s3>[-/ ])Mon[-/ ](?P<ny>9{4}|9{2})"
    r"|Mon (?P<md>9{1,2})(?P<mc>,?) (?P<my>9{4}))"
    r"(?:(?P<tsep>[ T]|, )(?P<h>9{1,2}):99(?::99(?:(?P<fsep>[.,])(?P<frac>9{1,9}))?(?P<sec>))?"
    r"(?P<ampm> ?(?:[AaPp][Mm]))?(?P<zone> ?(?:Z|UTC|GMT|[+-]99(?::?99)?))?)?$"
)


def order_shape_key(shape: str) -> str:
    """The key of a day/month shape: the date separator and the clock ('/ 24h', '- 12h', '. date').
    macros/cleaning/timestamps.sql (date_order_shape) computes the same key from the same value."""
    sep = shape[1] if shape[1:2] in ("/", "-", ".") else shape[2:3]
    upper = shape.upper()
    clock = "12h" if upper.endswith(("AM", "PM")) else "24h" if ":" in shape else "date"
    return f"{sep} {clock}"


def order_shape_label(key: str) -> str:
    sep, clock = key.split(" ")
    time = {"12h": " with a 12-hour time (AM/PM)", "24h": " with a 24-hour time", "date": ", no time"}[clock]
    return f"NN{sep}NN{sep}YYYY{time}"


@dataclass
class Shape:
    """A parsed shape: its date tokens (letter, width) with separators, and whether it holds a time."""

    tokens: list[tuple[str, int | str]]  # ("D", 2), ("sep", "/"), ...
    has_time: bool
    order_ambiguous: bool  # D and M are both numeric fields in day/month or month/day order


def parse_shape(shape: str, day_first: bool) -> Shape | None:
    if shape == "EXCEL":
        return Shape([("EXCEL", 0)], True, False)
    m = _SHAPE_RE.match(shape)
    if not m:
        return None
    g = m.groupdict()
    tok: list[tuple[str, int | str]] = []
    if g["wd"]:
        tok = [("WD", 3), ("sep", g["wdc"] + " ")]
    ambiguous = False
    if g["ymd"]:
        tok += [("Y", 4), ("sep", g["s1"]), ("M", len(g["ymd_m"])), ("sep", g["s1"]), ("D", len(g["ymd_d"]))]
    elif g["f1"]:
        ambiguous = True
        a, b = ("D", "M") if day_first else ("M", "D")
        tok += [(a, len(g["f1"])), ("sep", g["s2"]), (b, len(g["f2"])), ("sep", g["s2"]), ("Y", len(g["y2"]))]
    elif g["nd"]:
        s = g["s3"]
        tok += [("D", len(g["nd"])), ("sep", s), ("Mon", 3), ("sep", s), ("Y", len(g["ny"]))]
    else:
        tok += [("Mon", 3), ("sep", " "), ("D", len(g["md"])), ("sep", g["mc"] + " "), ("Y", len(g["my"]))]
    has_time = g["h"] is not None
    if has_time:
        tok += [("sep", g["tsep"]), ("H", len(g["h"])), ("sep", ":"), ("MI", 2)]
        if g["sec"] is not None:
            tok += [("sep", ":"), ("S", 2)]
            if g["frac"]:
                tok += [("sep", g["fsep"]), ("F", len(g["frac"]))]
        if g["ampm"]:
            tok += [("sep", " " if g["ampm"].startswith(" ") else ""), ("AMPM", 2)]
    if g["zone"]:
        z = g["zone"]
        lead = [("sep", " ")] if z.startswith(" ") else []
        z = z.strip()
        tok += lead + ([("Z", z)] if z in ("Z", "UTC", "GMT") else [("TZ", len(z))])
    return Shape(tok, has_time, ambiguous)


_PADDABLE = {"D", "M", "H"}


def format_label(tokens: list[tuple[str, int | str]], short: set[int]) -> tuple[str, str]:
    """Human label (DD/MM/YYYY HH:MM:SS) and strptime pattern (%d/%m/%Y %H:%M:%S) of a token list;
    positions in `short` are fields written without padding (D, M, H)."""
    label, fmt = [], []
    ampm = any(k == "AMPM" for k, _ in tokens)
    for pos, (kind, width) in enumerate(tokens):
        if kind in ("sep", "Z"):
            label.append(str(width))
            fmt.append(str(width))
            continue
        w = int(width)
        if kind == "EXCEL":
            return "Excel serial day number", "excel"
        if kind in _PADDABLE:
            letter = kind
            label.append(letter if pos in short else letter * 2)
            fmt.append({"D": "%d", "M": "%m", "H": "%I" if ampm else "%H"}[kind])
        elif kind == "Y":
            label.append("Y" * w)
            fmt.append("%Y" if w == 4 else "%y")
        elif kind == "Mon":
            label.append("Mon")
            fmt.append("%b")
        elif kind == "MI":
            label.append("MM")
            fmt.append("%M")
        elif kind == "S":
            label.append("SS")
            fmt.append("%S")
        elif kind == "F":
            label.append("F" * w)
            fmt.append("%f")
        elif kind == "AMPM":
            label.append("AM/PM")
            fmt.append("%p")
        elif kind == "TZ":
            label.append({6: "+HH:MM", 5: "+HHMM"}.get(w, "+HH"))
            fmt.append("%z")
        elif kind == "WD":
            label.append("Ddd")
            fmt.append("%a")
    return "".join(label), "".join(fmt)


def _skeleton(tokens: list[tuple[str, int | str]]) -> tuple[Any, ...]:
    return tuple((k, None if k in _PADDABLE else w) for k, w in tokens)


def build_formats(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn the shape groups of one column into its date formats (only values that parse count).
    Each group carries the order it is read in (`_df`, set by `_dates`) and its count of values that
    parse so (`_ok`).

    Shapes that differ only in the width of day, month or hour fields form one family. Per field, a
    family writes it without padding (D, M, H) when some value has one digit there, with padding
    (DD, MM, HH) otherwise; only when one field shows both one-digit values and leading zeros does the
    family split into two formats, and values showing neither (e.g. 25) join the larger one."""
    families: dict[tuple[Any, ...], list[tuple[dict[str, Any], Shape]]] = defaultdict(list)
    for g in groups:
        shape = parse_shape(g["shape"], g["_df"])
        if shape is None or not g["_ok"]:
            continue
        families[_skeleton(shape.tokens)].append((g, shape))
    formats: dict[str, dict[str, Any]] = {}
    for members in families.values():
        paddable = [i for i, (k, _) in enumerate(members[0][1].tokens) if k in _PADDABLE]

        def style(g: dict[str, Any], shape: Shape, j: int, pos: int) -> str:
            if shape.tokens[pos][1] == 1:
                return "short"
            lz = g["lz"] or ""
            return "padded" if j < len(lz) and lz[j] == "1" else "either"

        weight: dict[tuple[int, str], int] = defaultdict(int)
        for g, shape in members:
            for j, pos in enumerate(paddable):
                weight[(pos, style(g, shape, j, pos))] += g["_ok"]
        for g, shape in members:
            short = set()
            for j, pos in enumerate(paddable):
                own = style(g, shape, j, pos)
                n_short, n_padded = weight[(pos, "short")], weight[(pos, "padded")]
                if own == "short" or (own == "either" and n_short > n_padded):
                    short.add(pos)
            label, pattern = format_label(shape.tokens, short)
            f = formats.setdefault(
                label,
                {"format": label, "strptime": pattern, "count": 0, "looks_like": 0, "has_time": False,
                 "order_ambiguous": False, "_groups": []},
            )  # fmt: skip
            f["count"] += g["_ok"]
            f["looks_like"] += g["n"]
            f["has_time"] |= shape.has_time
            f["order_ambiguous"] |= shape.order_ambiguous
            f["_groups"].append(g)
    out = sorted(formats.values(), key=lambda f: (-f["count"], f["format"]))
    for f in out:
        examples: list[str] = []
        for g in sorted(f.pop("_groups"), key=lambda g: -g["_ok"]):
            for e in (g["ex1"], g["ex3"], g["ex2"]):
                if e is not None and e not in examples and len(examples) < 3:
                    examples.append(e)
        f["examples"] = examples
    return out


