"""The demo's rows: tickets with their lifecycle, and the comment and timesheet streams that follow
them, with the defects injected at the catalog's rates."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator.demo.catalog import (
    _CAT_TABLE,
    _CREATE_CUM,
    _DAY_ISO,
    _DAYS,
    _HOURS_TABLE,
    _MINUTES_TABLE,
    _PRIO_TABLE,
    _TEAM_TABLES,
    _TS_CAT_TABLE,
    AGENT_INTERNAL,
    AGENT_PUBLIC,
    AGENTS,
    C_BODY,
    C_TIME,
    C_USER,
    CANCEL_MEDIAN_H,
    CASE_VARIANTS_AT_SCALE_1,
    CUSTOMER_COMMENTS,
    CUSTOMERS,
    DAY,
    EXPORT_AT,
    HOUR,
    ISO_OFFSETS,
    PRIORITIES,
    QUARTER_DAYS,
    RATE_CANCELLED,
    RATE_DD_MM,
    RATE_DECIMAL_COMMA,
    RATE_EMPTY,
    RATE_EMPTY_COMMENT,
    RATE_ISO_OFFSET,
    RATE_MONTH_NAME,
    RATE_ORPHAN,
    RATE_PRIORITY_SPELLING,
    RATE_REOPENED,
    RATE_SENTINEL,
    RATE_UNKNOWN_STATUS,
    RATE_UNPARSEABLE,
    RATE_US_12H,
    RATE_WHITESPACE,
    RESOLUTION_MEDIAN_H,
    RESPONSE_MEDIAN_MIN,
    S_CAT,
    S_DATE,
    S_HOURS,
    S_USER,
    SENTINELS,
    SERVICENOW_SHARE,
    SHARE_MINUTES,
    SLA_RESOLUTION_H,
    SLA_RESPONSE_MIN,
    T_CLOSED,
    T_DATES,
    T_PRIO,
    T_RES,
    T_RESP,
    T_STATUS,
    TABLES,
    TEAM_AGENTS,
    TEST_TITLES,
    TICKET_COLUMNS,
    TICKET_SENTINEL_COLUMNS,
    TICKET_WHITESPACE_COLUMNS,
    TITLE_SUFFIXES,
    TITLES,
    TS_TITLES,
    UNPARSEABLE_DATES,
    UNPARSEABLE_DATETIMES,
    _dd_mm,
    _iso,
    _iso_offset,
    _month_name,
    _next_office_open,
    _us_12h,
    _Vocabulary,
)


class _Ledger:
    """Counts what was injected, in a stable order."""

    def __init__(self) -> None:
        self.injected: dict[str, dict[str, dict[str, int]]] = {t: {} for t in TABLES}

    def add(self, table: str, column: str, kind: str, n: int = 1) -> None:
        if n <= 0:
            return
        kinds = self.injected[table].setdefault(column, {})
        kinds[kind] = kinds.get(kind, 0) + n

    def result(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for table, cols in self.injected.items():
            order = [c for c, _ in TABLES[table] if c in cols] + (["_table"] if "_table" in cols else [])
            out[table] = {c: dict(sorted(cols[c].items())) for c in order}
        return out


def _count(rate: float, base: float) -> int:
    """round-half-up(rate * base): plain and the same everywhere."""
    return int(rate * base + 0.5)


def _whitespace(value: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return value + " "
    if r < 0.6:
        return " " + value
    if r < 0.8:
        return " " + value + " "
    if r < 0.9:
        return value + "\t"
    return value + "  "


def _case_variant(value: str, rng: random.Random) -> str:
    if value in PRIORITIES:
        return value.lower()
    r = rng.random()
    if r < 0.4:
        return value.upper()
    if r < 0.75:
        return value.lower()
    return " " + value.lower()


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _apportion(weights: list[float], total: int) -> list[int]:
    """Split `total` into integer counts proportional to `weights` (exact sum, deterministic)."""
    s = sum(weights)
    if not weights or total <= 0 or s <= 0:
        return [0] * len(weights)
    quotas = [w * total / s for w in weights]
    counts = [int(q) for q in quotas]
    rest = total - sum(counts)
    by_fraction = sorted(range(len(weights)), key=lambda i: (counts[i] - quotas[i], i))
    for i in by_fraction[:rest]:
        counts[i] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# Tickets
# ---------------------------------------------------------------------------------------------


@dataclass
class _Ticket:
    id: str
    title: str
    status: str
    priority: str
    category: str
    team: str
    agent: str | None
    created: int
    response: int | None
    resolved: int | None
    closed: int | None
    sla: str | None
    requester: str
    state: str  # a key of STATUS_WEIGHTS: what the export saw of the ticket's life

    @property
    def end(self) -> int:
        return self.closed if self.closed is not None else EXPORT_AT

    def row(self) -> list[Any]:
        return [self.id, self.title, self.status, self.priority, self.category, self.team, self.agent,
                self.created, self.response, self.resolved, self.closed, self.sla]  # fmt: skip


def _make_ticket(rng: random.Random, vocab: _Vocabulary) -> _Ticket:
    bucket = bisect.bisect_right(_CREATE_CUM, rng.random() * _CREATE_CUM[-1])
    bucket = min(bucket, len(_CREATE_CUM) - 1)
    created = bucket * HOUR + int(rng.random() * HOUR)
    prio = _PRIO_TABLE[int(rng.random() * len(_PRIO_TABLE))]
    cat = _CAT_TABLE[int(rng.random() * len(_CAT_TABLE))]
    table = _TEAM_TABLES[cat]
    team = table[int(rng.random() * len(table))]
    agent: str | None = rng.choice(TEAM_AGENTS[team])
    title = rng.choice(TITLES[cat]) + rng.choice(TITLE_SUFFIXES)

    start = created if prio == "P1" else _next_office_open(created)
    response_at = start + max(30, int(_lognormal(rng, RESPONSE_MEDIAN_MIN[prio], 1.0) * 60))
    work = _lognormal(rng, RESOLUTION_MEDIAN_H[prio], 1.1) * HOUR
    if rng.random() < 0.1:  # waiting on the customer, a vendor, a change window
        work += rng.uniform(2, 60) * DAY
    resolved_at = response_at + max(60, int(work))
    if rng.random() < 0.3:  # the customer confirms the fix
        closed_at = resolved_at + int(rng.uniform(600, 8 * HOUR))
    else:  # auto-close after a few days
        closed_at = resolved_at + int(rng.uniform(1, 7) * DAY)

    fate = rng.random()  # cancelled, reopened, or neither
    cancel_at = created + max(600, int(_lognormal(rng, CANCEL_MEDIAN_H, 1.2) * HOUR))

    # what the export saw at EXPORT_AT
    response: int | None = response_at
    resolved: int | None = resolved_at
    closed: int | None = closed_at
    sla: str | None = None
    if fate < RATE_CANCELLED and cancel_at <= EXPORT_AT:
        state = "cancelled"  # withdrawn, a duplicate, raised by mistake: no SLA measured
        if response_at > cancel_at:
            response = None
        resolved = closed = cancel_at
    elif response_at > EXPORT_AT:
        state = "new"
        response = resolved = closed = None
        if rng.random() < 0.5:
            agent = None  # still in the queue
    elif resolved_at > EXPORT_AT:
        state = "working"
        resolved = closed = None
    elif RATE_CANCELLED <= fate < RATE_CANCELLED + RATE_REOPENED:
        state = "reopened"  # the fix did not hold: the resolution is undone
        resolved = closed = None
    else:
        state = "resolved" if closed_at > EXPORT_AT else "closed"
        if state == "resolved":
            closed = None
        met = (response_at - created <= SLA_RESPONSE_MIN[prio] * 60
               and resolved_at - created <= SLA_RESOLUTION_H[prio] * HOUR)  # fmt: skip
        sla = "Yes" if met else "No"
    table = vocab.status_tables[state]
    status = table[int(rng.random() * len(table))]
    requester = CUSTOMERS[int(rng.random() * len(CUSTOMERS))]
    return _Ticket(
        "", title, status, prio, cat, team, agent, created, response, resolved, closed, sla, requester, state
    )


def _build_tickets(
    rng: random.Random, n_rows: int, n_dup: int, n_test: int, vocab: _Vocabulary
) -> tuple[list[_Ticket], list[int], list[str]]:
    """Return (unique tickets sorted by creation, final row order as indices into it, unused ids)."""
    n_unique = max(1, n_rows - n_dup)
    n_dup = n_rows - n_unique
    tickets = sorted((_make_ticket(rng, vocab) for _ in range(n_unique)), key=lambda t: t.created)
    next_id = 100_000 + int(rng.random() * 900)
    gaps: list[str] = []
    for t in tickets:
        t.id = str(next_id)
        step = 1 if rng.random() < 0.97 else 2 + int(rng.random() * 3)
        gaps.extend(str(next_id + k) for k in range(1, step))
        next_id += step
    gaps.extend(str(next_id + k) for k in range(1, 50))  # tickets raised after the export
    n_test = min(n_test, 99, n_unique)
    for num, i in zip(rng.sample(range(1, 100), n_test), rng.sample(range(n_unique), n_test), strict=True):
        tickets[i].id = f"TEST-{num}"
        tickets[i].title = rng.choice(TEST_TITLES)

    # duplicates: the same ticket exported a second time, a little later in the file
    after: dict[int, list[int]] = {}
    for src in rng.sample(range(n_unique), min(n_dup, n_unique)):
        pos = min(n_unique - 1, src + int(rng.random() * 200))
        after.setdefault(pos, []).append(src)
    order: list[int] = []
    for i in range(n_unique):
        order.append(i)
        order.extend(after.get(i, []))
    return tickets, order, gaps


def _inject_tickets(
    rng: random.Random, rows: list[list[Any]], scale: float, ledger: _Ledger, vocab: _Vocabulary
) -> dict[tuple[int, int], str]:
    """Choose the defective ticket cells; return {(row, column index): written text}."""
    names = [c for c, _ in TICKET_COLUMNS]
    n = len(rows)
    used: set[tuple[int, int]] = set()
    out: dict[tuple[int, int], str] = {}

    def pick(cells: list[tuple[int, int]], k: int) -> list[tuple[int, int]]:
        avail = [c for c in cells if c not in used]
        chosen = rng.sample(avail, min(k, len(avail)))
        used.update(chosen)
        return chosen

    def put(cell: tuple[int, int], kind: str, text: str) -> None:
        out[cell] = text
        ledger.add("tickets", names[cell[1]], kind)

    # sentinels (text and date columns; may stand where a NULL would be)
    for col in TICKET_SENTINEL_COLUMNS:
        for cell in pick([(r, col) for r in range(n)], _count(RATE_SENTINEL, n)):
            put(cell, "sentinel", rng.choice(SENTINELS))
    # empty strings in date columns that have a value
    for col in (T_RESP, T_RES, T_CLOSED):
        cells = [(r, col) for r in range(n) if rows[r][col] is not None]
        for cell in pick(cells, _count(RATE_EMPTY[names[col]], len(cells))):
            put(cell, "empty", "")
    # day-first dates, some ambiguous (day <= 12) and some not
    dated = [(r, c) for c in T_DATES for r in range(n) if rows[r][c] is not None]
    k = max(2 if scale >= 0.05 else 0, _count(RATE_DD_MM, len(dated)))
    high = [cell for cell in dated if _DAYS[rows[cell[0]][cell[1]] // DAY].day > 12]
    low = [cell for cell in dated if _DAYS[rows[cell[0]][cell[1]] // DAY].day <= 12]
    for cell in pick(low, k // 2) + pick(high, k - k // 2):
        put(cell, "dd_mm_yyyy", _dd_mm(rows[cell[0]][cell[1]]))
    # unparseable dates
    k = max(1 if scale >= 0.1 else 0, _count(RATE_UNPARSEABLE, len(dated)))
    for cell in pick(dated, k):
        put(cell, "unparseable", rng.choice(UNPARSEABLE_DATETIMES))
    at_least_one = 1 if scale >= 0.1 else 0
    # US 12-hour resolution dates: about the days' own mix (60 % have a day > 12, month-first evidence)
    cells = [(r, T_RES) for r in range(n) if rows[r][T_RES] is not None]
    k = max(at_least_one, _count(RATE_US_12H, len(cells)))
    high = [cell for cell in cells if _DAYS[rows[cell[0]][T_RES] // DAY].day > 12]
    low = [cell for cell in cells if _DAYS[rows[cell[0]][T_RES] // DAY].day <= 12]
    k_high = math.ceil(0.6 * k)
    for cell in sorted(pick(high, k_high) + pick(low, k - k_high)):
        put(cell, "us_12h", _us_12h(rows[cell[0]][T_RES]))
    # response dates as local time with an offset (the same instant)
    cells = [(r, T_RESP) for r in range(n) if rows[r][T_RESP] is not None]
    for cell in pick(cells, max(at_least_one, _count(RATE_ISO_OFFSET, len(cells)))):
        put(cell, "iso_offset", _iso_offset(rows[cell[0]][T_RESP], rng.choice(ISO_OFFSETS)))
    # the desk's own statuses, on tickets being worked on (responded, not resolved): in no seed
    if vocab.unknown_statuses:
        cells = [(r, T_STATUS) for r in range(n)
                 if rows[r][T_RESP] is not None and rows[r][T_RES] is None and rows[r][T_CLOSED] is None]  # fmt: skip
        for cell in pick(cells, max(at_least_one, _count(RATE_UNKNOWN_STATUS, n))):
            put(cell, "unknown_status", rng.choice(vocab.unknown_statuses))
    # priorities as other tools spell them
    for cell in pick([(r, T_PRIO) for r in range(n)], _count(RATE_PRIORITY_SPELLING, n)):
        tool = "servicenow" if rng.random() < SERVICENOW_SHARE else "zendesk"
        put(cell, "priority_spelling", vocab.priority_spellings[tool][rows[cell[0]][T_PRIO]])
    # status / priority in another case
    for col in (T_STATUS, T_PRIO):
        k = _count(CASE_VARIANTS_AT_SCALE_1[names[col]], scale)
        for cell in pick([(r, col) for r in range(n)], k):
            put(cell, "case_variant", _case_variant(rows[cell[0]][col], rng))
    # stray whitespace
    for col in TICKET_WHITESPACE_COLUMNS:
        cells = [(r, col) for r in range(n) if rows[r][col] is not None]
        for cell in pick(cells, _count(RATE_WHITESPACE, len(cells))):
            put(cell, "whitespace", _whitespace(rows[cell[0]][col], rng))
    return out


def _ticket_rows(rows: list[list[Any]], overrides: dict[tuple[int, int], str]) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        vals = list(row)
        for c in T_DATES:
            if vals[c] is not None:
                vals[c] = _iso(vals[c])
        out.append(tuple(vals))
    for (r, c), text in overrides.items():
        vals = list(out[r])
        vals[c] = text
        out[r] = tuple(vals)
    return out


# ---------------------------------------------------------------------------------------------
# Comments and timesheets (streamed)
# ---------------------------------------------------------------------------------------------


def _plan_stream(
    rng: random.Random, table: str, n: int, spec: list[tuple[int, list[tuple[str, int]]]], ledger: _Ledger
) -> dict[int, list[tuple[int, str]]]:
    """For each column, pick distinct rows for each defect kind: {row: [(column index, kind)]}."""
    names = [c for c, _ in TABLES[table]]
    plan: dict[int, list[tuple[int, str]]] = {}
    for col, kinds in spec:
        total = min(n, sum(k for _, k in kinds))
        chosen = rng.sample(range(n), total)
        start = 0
        for kind, k in kinds:
            k = min(k, total - start)
            for r in chosen[start : start + k]:
                plan.setdefault(r, []).append((col, kind))
            ledger.add(table, names[col], kind, k)
            start += k
    return plan


def _comments(
    rng: random.Random, tickets: list[_Ticket], n: int, orphan_ids: list[str], scale: float, ledger: _Ledger
) -> Iterator[tuple[Any, ...]]:
    n_orphan = min(n, _count(RATE_ORPHAN["comments"], n))
    weights = []
    for t in tickets:
        w = (0.4 + rng.gammavariate(2.0, 1.0)) * {"P1": 1.6, "P2": 1.3, "P3": 1.0, "P4": 0.8}[t.priority]
        weights.append(w * (0.3 if t.state in ("new", "cancelled") else 1.0))
    counts = _apportion(weights, n - n_orphan)
    orphans = set(rng.sample(range(n), n_orphan))
    ledger.add("comments", "_table", "orphan_ticket", n_orphan)
    k_unp = max(1 if scale >= 0.1 else 0, _count(RATE_UNPARSEABLE, n))
    plan = _plan_stream(
        rng,
        "comments",
        n,
        [
            (
                C_TIME,
                [("unparseable", k_unp), ("month_name", max(1 if scale >= 0.1 else 0, _count(RATE_MONTH_NAME, n)))],
            ),
            (C_USER, [("sentinel", _count(RATE_SENTINEL, n)), ("whitespace", _count(RATE_WHITESPACE, n))]),
            (C_BODY, [("empty", _count(RATE_EMPTY_COMMENT, n))]),
        ],
        ledger,
    )

    rand = rng.random
    n_pub, n_int, n_cust = len(AGENT_PUBLIC), len(AGENT_INTERNAL), len(CUSTOMER_COMMENTS)
    sd_agents = TEAM_AGENTS["Service Desk"]

    def base() -> Iterator[list[Any]]:
        for t, k in zip(tickets, counts, strict=True):
            if not k:
                continue
            span = t.end - t.created
            team = TEAM_AGENTS[t.team]
            for when in sorted(t.created + int(rand() * span) for _ in range(k)):
                r = rand()
                if r >= (0.8 if t.agent is None else 0.35):  # the customer writes
                    yield [t.id, when, t.requester, CUSTOMER_COMMENTS[int(rand() * n_cust)], 1]
                    continue
                if t.agent is None:
                    user = sd_agents[int(rand() * len(sd_agents))]
                elif r < 0.25:
                    user = t.agent
                else:
                    user = team[int(rand() * len(team))]
                if rand() < 0.7:
                    yield [t.id, when, user, AGENT_PUBLIC[int(rand() * n_pub)], 1]
                else:
                    yield [t.id, when, user, AGENT_INTERNAL[int(rand() * n_int)], 0]

    rows = base()
    cid = 5_000_000 + int(rand() * 100_000)
    for i in range(n):
        if i in orphans:
            tid = orphan_ids[int(rand() * len(orphan_ids))]
            when = int(rand() * QUARTER_DAYS * DAY)
            vals: list[Any] = [str(cid), tid, _iso(when), AGENTS[int(rand() * len(AGENTS))],
                               AGENT_PUBLIC[int(rand() * n_pub)], 1]  # fmt: skip
        else:
            tid, when, user, body, vis = next(rows)
            vals = [str(cid), tid, _iso(when), user, body, vis]
        cid += 1 if rand() < 0.98 else 2
        for col, kind in plan.get(i, ()):
            if kind == "month_name":
                vals[col] = _month_name(when, rand() < 0.5)
            else:
                vals[col] = _defect(kind, vals[col], rng, date_only=False)
        yield tuple(vals)


def _timesheets(
    rng: random.Random, tickets: list[_Ticket], n: int, orphan_ids: list[str], scale: float, ledger: _Ledger
) -> Iterator[tuple[Any, ...]]:
    n_orphan = min(n, _count(RATE_ORPHAN["timesheets"], n))
    weights = []
    for t in tickets:
        w = (0.3 + rng.gammavariate(1.8, 1.0)) * {"P1": 1.8, "P2": 1.3, "P3": 1.0, "P4": 0.9}[t.priority]
        weights.append(w * (0.2 if t.state in ("new", "cancelled") else 1.0))
    counts = _apportion(weights, n - n_orphan)
    orphans = set(rng.sample(range(n), n_orphan))
    ledger.add("timesheets", "_table", "orphan_ticket", n_orphan)
    k_unp = max(1 if scale >= 0.1 else 0, _count(RATE_UNPARSEABLE, n))
    plan = _plan_stream(
        rng,
        "timesheets",
        n,
        [
            (S_HOURS, [("decimal_comma", _count(RATE_DECIMAL_COMMA, n))]),
            (S_DATE, [("unparseable", k_unp), ("sentinel", _count(RATE_SENTINEL, n))]),
            (S_USER, [("sentinel", _count(RATE_SENTINEL, n)), ("whitespace", _count(RATE_WHITESPACE, n))]),
            (S_CAT, [("sentinel", _count(RATE_SENTINEL, n))]),
        ],
        ledger,
    )

    rand = rng.random
    n_hours, n_minutes, n_cat = len(_HOURS_TABLE), len(_MINUTES_TABLE), len(_TS_CAT_TABLE)
    sd_agents = TEAM_AGENTS["Service Desk"]

    def hours() -> float:
        if rand() < SHARE_MINUTES:  # a timer's minutes, as the spreadsheet stores them: 13 / 60
            return _MINUTES_TABLE[int(rand() * n_minutes)] / 60
        return _HOURS_TABLE[int(rand() * n_hours)]

    def base() -> Iterator[list[Any]]:
        for t, k in zip(tickets, counts, strict=True):
            if not k:
                continue
            last = t.resolved if t.resolved is not None else t.end
            span = max(0, last - t.created)
            team = TEAM_AGENTS[t.team]
            for day in sorted((t.created + int(rand() * span)) // DAY for _ in range(k)):
                r = rand()
                if t.agent is None:
                    user = sd_agents[int(rand() * len(sd_agents))]
                elif r < 0.8:
                    user = t.agent
                else:
                    user = team[int(rand() * len(team))]
                cat = _TS_CAT_TABLE[int(rand() * n_cat)]
                titles = TS_TITLES[cat]
                yield [titles[int(rand() * len(titles))], hours(), _DAY_ISO[day], user, t.id, cat]

    rows = base()
    n_real = 0  # REAL hours with more than 6 decimals, counted as written (kind real_hours)
    for i in range(n):
        if i in orphans:
            cat = _TS_CAT_TABLE[int(rand() * n_cat)]
            titles = TS_TITLES[cat]
            vals: list[Any] = [titles[int(rand() * len(titles))], hours(),
                               _DAY_ISO[int(rand() * QUARTER_DAYS)], AGENTS[int(rand() * len(AGENTS))],
                               orphan_ids[int(rand() * len(orphan_ids))], cat]  # fmt: skip
        else:
            vals = next(rows)
        for col, kind in plan.get(i, ()):
            vals[col] = _defect(kind, vals[col], rng, date_only=True)
        h = vals[S_HOURS]
        if type(h) is float and round(h, 6) != h:
            n_real += 1
        yield tuple(vals)
    ledger.add("timesheets", "TS-Hours", "real_hours", n_real)


def _defect(kind: str, value: Any, rng: random.Random, date_only: bool) -> Any:
    if kind == "sentinel":
        return rng.choice(SENTINELS)
    if kind == "whitespace":
        return _whitespace(value, rng)
    if kind == "empty":
        return ""
    if kind == "unparseable":
        return rng.choice(UNPARSEABLE_DATES if date_only else UNPARSEABLE_DATETIMES)
    if kind == "decimal_comma":  # typed in by hand: quarter hours, '1,5' '0,25'
        hours = max(0.25, round(float(value) * 4) / 4)
        if hours == int(hours):  # keep a visible comma: 2.0 -> 1.5
            hours -= 0.5
        return f"{hours:g}".replace(".", ",")
    raise ValueError(kind)  # pragma: no cover


