"""What the demo desk looks like: the export's shape (tables, columns, row counts), the defect
rates, the quarter's calendar and clocks, teams, categories, names, comment texts, priorities and
the date forms other tools write. The generator (demo/generator.py) draws from it."""

from __future__ import annotations

import bisect
import csv
import functools
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.core.settings import PROJECT_DIR

# ---------------------------------------------------------------------------------------------
# Shape of the export
# ---------------------------------------------------------------------------------------------

BASE_ROWS = {"tickets": 10_939, "comments": 108_129, "timesheets": 141_062}

TICKET_COLUMNS: list[tuple[str, str]] = [
    ("TKT-Ticket ID", "TEXT"),
    ("TKT-Title", "TEXT"),
    ("TKT-Status", "TEXT"),
    ("TKT-Priority", "TEXT"),
    ("TKT-Category", "TEXT"),
    ("TKT-Team", "TEXT"),
    ("TKT-Assigned To", "TEXT"),
    ("TKT-Created Time", "TIMESTAMP"),
    ("TKT-Actual Response Date", "TIMESTAMP"),
    ("TKT-Actual Resolution Date", "TIMESTAMP"),
    ("TKT-Closed Time", "TIMESTAMP"),
    ("TKT-SLA Met", "TEXT"),
]
COMMENT_COLUMNS: list[tuple[str, str]] = [
    ("CT-COMMENT-ID", "TEXT"),
    ("CT-TKT-ID", "TEXT"),
    ("CT-CREATED-TIME", "TIMESTAMP"),
    ("CT-USERNAME", "TEXT"),
    ("CT-COMMENT", "TEXT"),
    ("CT-VISIBLE-CUSTOMER", "INTEGER"),
]
TIMESHEET_COLUMNS: list[tuple[str, str]] = [
    ("TS-Title", "TEXT"),
    ("TS-Hours", "REAL"),
    ("TS-Date", "TIMESTAMP"),
    ("TS-User", "TEXT"),
    ("TS-Crm ID", "TEXT"),
    ("TS-Category", "TEXT"),
]
TABLES: dict[str, list[tuple[str, str]]] = {
    "tickets": TICKET_COLUMNS,
    "comments": COMMENT_COLUMNS,
    "timesheets": TIMESHEET_COLUMNS,
}

# ticket row indices
T_ID, T_TITLE, T_STATUS, T_PRIO, T_CAT, T_TEAM, T_AGENT, T_CREATED, T_RESP, T_RES, T_CLOSED, T_SLA = range(12)
T_DATES = (T_CREATED, T_RESP, T_RES, T_CLOSED)
# comment row indices
C_ID, C_TKT, C_TIME, C_USER, C_BODY, C_VIS = range(6)
# timesheet row indices
S_TITLE, S_HOURS, S_DATE, S_USER, S_TKT, S_CAT = range(6)

PRIORITIES = ("P1", "P2", "P3", "P4")
SENTINELS = ("N/A", "-", "NULL", "n/a")

# ---------------------------------------------------------------------------------------------
# Defect rates (share of the eligible values) and fixed counts at scale 1
# ---------------------------------------------------------------------------------------------

RATE_DD_MM = 0.0008  # of non-null ticket date values, over the 4 date columns
RATE_UNPARSEABLE = 0.0001  # of date values, per table
RATE_SENTINEL = 0.0005  # per affected column
RATE_WHITESPACE = 0.005  # per affected text column
RATE_DECIMAL_COMMA = 0.005  # of timesheet rows
RATE_EMPTY = {
    "TKT-Actual Response Date": 0.015,
    "TKT-Actual Resolution Date": 0.003,
    "TKT-Closed Time": 0.003,
}
RATE_EMPTY_COMMENT = 0.002
RATE_ORPHAN = {"comments": 0.002, "timesheets": 0.0015}
RATE_UNKNOWN_STATUS = 0.001  # of tickets (responded, not resolved)
RATE_PRIORITY_SPELLING = 0.03  # of tickets: another tool's spelling of the same priority
RATE_US_12H = 0.012  # of non-null TKT-Actual Resolution Date values
RATE_ISO_OFFSET = 0.008  # of non-null TKT-Actual Response Date values
RATE_MONTH_NAME = 0.004  # of CT-CREATED-TIME values
TEST_IDS_AT_SCALE_1 = 5
CASE_VARIANTS_AT_SCALE_1 = {"TKT-Status": 12, "TKT-Priority": 6}

TICKET_SENTINEL_COLUMNS = (
    T_CAT, T_TEAM, T_AGENT, T_RESP, T_RES, T_CLOSED, T_SLA,
)  # fmt: skip
TICKET_WHITESPACE_COLUMNS = (T_TITLE, T_STATUS, T_CAT, T_TEAM, T_AGENT)

UNPARSEABLE_DATETIMES = (
    "not a date", "31/02/2025 10:00", "2025-13-45", "2025-06-31 09:00:00", "TBC", "#VALUE!",
    "00/00/0000 0:00",
)  # fmt: skip
UNPARSEABLE_DATES = ("not a date", "2025-13-45", "2025-02-30", "31/02/2025", "TBC")

# ---------------------------------------------------------------------------------------------
# Calendar: times are integer seconds since 2025-04-01 00:00:00
# ---------------------------------------------------------------------------------------------

QUARTER_START = date(2025, 4, 1)
QUARTER_DAYS = 91  # 2025-04-01 .. 2025-06-30
EXPORT_AT = QUARTER_DAYS * 86400 + 6 * 3600  # the export ran 2025-07-01 06:00
DAY = 86400
HOUR = 3600
OFFICE_OPEN, OFFICE_CLOSE = 8 * HOUR, 18 * HOUR

_DAYS = [QUARTER_START + timedelta(days=d) for d in range(QUARTER_DAYS + 5)]
_DAY_ISO = [d.isoformat() for d in _DAYS]
_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def _iso(t: int) -> str:
    return _DAY_ISO[t // DAY] + " " + _HMS[t % DAY]


def _dd_mm(t: int) -> str:
    d = _DAYS[t // DAY]
    sec = t % DAY
    return f"{d.day:02d}/{d.month:02d}/{d.year} {sec // HOUR}:{sec % HOUR // 60:02d}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(2025, 4, 1)  # t = 0; every naive time of the demo is UTC
# offsets (minutes east of UTC) of desks in April-June: CEST, BST, EDT, CDT, IST
ISO_OFFSETS = (120, 120, 120, 60, -240, -300, 330)


def _clock_12h(sec: int, pad: bool) -> str:
    h, m = sec // HOUR, sec % HOUR // 60
    h12 = h % 12 or 12
    return f"{h12:02d}:{m:02d}" if pad else f"{h12}:{m:02d}"


def _us_12h(t: int) -> str:
    """'MM/DD/YYYY hh:mm:ss AM' as US-locale tools write it ('05/20/2025 08:42:13 PM')."""
    d, sec = _DAYS[t // DAY], t % DAY
    ampm = "AM" if sec < 12 * HOUR else "PM"
    return f"{d.month:02d}/{d.day:02d}/{d.year} {_clock_12h(sec, True)}:{sec % 60:02d} {ampm}"


def _month_name(t: int, long_form: bool) -> str:
    """'20-May-2025 08:42' (DD-Mon-YYYY, 24 hours) or 'May 20, 2025 8:42 PM'; English month names
    from a fixed table, never the locale's."""
    d, sec = _DAYS[t // DAY], t % DAY
    mon = _MONTHS[d.month - 1]
    if not long_form:
        return f"{d.day:02d}-{mon}-{d.year} {sec // HOUR:02d}:{sec % HOUR // 60:02d}"
    ampm = "AM" if sec < 12 * HOUR else "PM"
    return f"{mon} {d.day}, {d.year} {_clock_12h(sec, False)} {ampm}"


def _iso_offset(t: int, minutes: int) -> str:
    """The UTC time `t` as local time with its offset: _iso_offset(t, 120) of 08:42:13 is
    '...T10:42:13+02:00', the same instant."""
    local = _EPOCH + timedelta(seconds=t + minutes * 60)
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return f"{local.isoformat(timespec='seconds')}{sign}{hh:02d}:{mm:02d}"


def _weekday(t: int) -> int:
    return _DAYS[t // DAY].weekday()


def _next_office_open(t: int) -> int:
    """`t` itself during office hours (Mon-Fri 08-18), else the next opening."""
    d, sec = divmod(t, DAY)
    if _DAYS[d].weekday() < 5:
        if OFFICE_OPEN <= sec < OFFICE_CLOSE:
            return t
        if sec < OFFICE_OPEN:
            return d * DAY + OFFICE_OPEN
    d += 1
    while (QUARTER_START + timedelta(days=d)).weekday() >= 5:
        d += 1
    return d * DAY + OFFICE_OPEN


_HOUR_WEIGHTS = (0.3, 0.2, 0.2, 0.2, 0.2, 0.4, 0.8, 2.5, 6.0, 9.0, 9.5, 8.5,
                 6.0, 7.5, 8.5, 8.0, 6.5, 4.0, 2.0, 1.2, 0.9, 0.7, 0.5, 0.4)  # fmt: skip
_DAY_WEIGHTS = {0: 1.1, 1: 1.0, 2: 1.0, 3: 0.95, 4: 0.8, 5: 0.12, 6: 0.08}


def _cumulative(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


# creation-time buckets: one per (day, hour) of the quarter, office hours weighted
_CREATE_CUM = _cumulative(
    [_DAY_WEIGHTS[_DAYS[d].weekday()] * _HOUR_WEIGHTS[h] for d in range(QUARTER_DAYS) for h in range(24)]
)


def _lookup_table(values: list[Any], weights: list[float], size: int = 1024) -> list[Any]:
    """A table for fast weighted choice: `table[int(rng.random() * size)]`."""
    cum = _cumulative(weights)
    total = cum[-1]
    return [values[bisect.bisect_right(cum, (j + 0.5) / size * total)] for j in range(size)]


# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

TEAM_AGENTS: dict[str, list[str]] = {
    "Service Desk": [
        "Aisha Khan", "Ben Carter", "Chloe Martin", "Daniel Okafor", "Emma Lewis", "Farid Haddad",
        "Grace Kim", "Hannah Schmidt", "Isaac Mensah", "Julia Rossi", "Kevin O'Brien", "Laura Nguyen",
        "Marco Silva", "Nina Petrova",
    ],
    "Infrastructure": [
        "Oliver Brown", "Priya Sharma", "Quentin Dubois", "Rachel Green", "Samuel Adeyemi", "Tara Walsh",
        "Umar Farooq", "Victoria Lee",
    ],
    "Applications": [
        "William Chen", "Xavier Morales", "Yasmin Ali", "Zoe Turner", "Adam Novak", "Bianca Costa",
        "Connor Hughes", "Diana Popescu",
    ],
    "Network Ops": ["Ethan Wright", "Fatima Zahra", "George Ivanov", "Helen Park", "Ivan Horvat"],
    "Security": ["Jasmine Patel", "Karl Becker", "Lina Haddad", "Mohammed Rahman", "Sophie Laurent"],
}  # fmt: skip
AGENTS = [a for team in TEAM_AGENTS.values() for a in team]

# the user's own taxonomy, as the desk writes it: nothing maps categories (seeds/category_map.csv is empty)
CATEGORY_WEIGHTS = {"Hardware": 0.2, "Software": 0.22, "Network": 0.12, "Access Request": 0.2,
                    "E-mail": 0.1, "Printing": 0.06, "Other": 0.1}  # fmt: skip
CATEGORY_TEAMS: dict[str, dict[str, float]] = {
    "Hardware": {"Service Desk": 0.6, "Infrastructure": 0.4},
    "Software": {"Service Desk": 0.4, "Applications": 0.6},
    "Network": {"Network Ops": 0.75, "Infrastructure": 0.25},
    "Access Request": {"Service Desk": 0.55, "Security": 0.45},
    "E-mail": {"Service Desk": 0.5, "Infrastructure": 0.3, "Applications": 0.2},
    "Printing": {"Service Desk": 0.8, "Infrastructure": 0.2},
    "Other": {"Service Desk": 0.9, "Applications": 0.1},
}
TITLES: dict[str, list[str]] = {
    "Hardware": [
        "Laptop will not power on", "Monitor flickering after update", "Docking station not detected",
        "Keyboard keys unresponsive", "Request for replacement charger",
        "Laptop overheating and shutting down",
        "Second monitor not detected", "Headset microphone not working", "Battery drains within an hour",
    ],
    "Software": [
        "Excel crashes when opening shared workbook", "Cannot install approved software",
        "Teams keeps signing me out", "CRM page loads very slowly", "Outlook add-in missing after update",
        "Licence expired for PDF editor", "ERP report shows wrong totals", "Browser blocks intranet site",
        "Application error 0x80070005 on start",
    ],
    "Network": [
        "VPN disconnects every few minutes", "No network on 3rd floor east wing",
        "Wi-Fi slow in meeting room", "Cannot reach file server", "Guest Wi-Fi password not working",
        "Intermittent packet loss to data centre",
        "Network drive mapping fails at login",
    ],
    "Access Request": [
        "Password reset request", "Account locked out", "Access to shared mailbox",
        "New starter account setup", "Leaver: disable account", "MFA device replacement",
        "Access to finance folder", "Add user to distribution list", "Permissions for SharePoint site",
    ],
    "E-mail": [
        "Emails stuck in outbox", "Mailbox full warning", "Phishing email reported",
        "Calendar invites not received", "Out of office not working", "Cannot send to external domain",
        "Delegate access to manager's calendar",
    ],
    "Printing": [
        "Printer offline on 2nd floor", "Print jobs stuck in queue", "Scanner not sending to email",
        "Toner replacement request", "Cannot add network printer", "Café kiosk printer jammed",
    ],
    "Other": [
        "General enquiry about IT policy", "Request for new mobile phone", "Meeting room screen not working",
        "Question about data retention", "Desk move: equipment relocation", "Request for training session",
    ],
}  # fmt: skip
TITLE_SUFFIXES = ("", "", "", "", "", "", " - urgent", " (Building B)", " - again", " for whole team",
                  " - follow up")  # fmt: skip
TEST_TITLES = ("TEST - please ignore", "Test ticket created by admin", "test", "Testing new form")

FIRST_NAMES = ("james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "david",
               "elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah",
               "charles", "karen", "amir", "mei", "sofia", "lukas", "ana", "yusuf", "ingrid", "pedro",
               "keiko", "olu")  # fmt: skip
LAST_NAMES = ("smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
              "martinez", "hernandez", "lopez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson",
              "martin", "lee", "walker", "hall", "allen", "young", "king", "wright", "scott", "green",
              "baker", "adams")  # fmt: skip
CUSTOMERS = [f"{f}.{last}" for f in FIRST_NAMES for last in LAST_NAMES]

AGENT_PUBLIC = (
    "Hi, thanks for reporting this. I'm looking into it now.",
    "Could you please confirm the device name? It's on the sticker under the laptop.",
    "I've reset your password; please try logging in again and let me know.",
    "We have identified the cause and are applying a fix.",
    "Can you send a screenshot of the error message?",
    "I've connected remotely and the issue appears resolved. Please confirm.",
    "This has been escalated to the second-line team.",
    "A replacement has been ordered and should arrive in 2-3 working days.",
    "Please restart your machine and try again.",
    "The access request has been approved by your manager and applied.",
    "We are aware of a wider outage affecting this service and are working on it.",
    "Could you let me know a good time to call you?",
    "The fix has been deployed. Closing this ticket in 3 days if we don't hear back.",
    "I've cleared the print queue and restarted the spooler.",
    "Your mailbox quota has been increased to 100 GB.",
    "Thanks for your patience while we investigated.",
    "I have updated the VPN profile; please reconnect.",
    "Ticket resolved, please reopen if the problem comes back.",
)
AGENT_INTERNAL = (
    "Checked AD: account was locked after 5 failed attempts.",
    "Escalated to Infrastructure for review.",
    "Vendor case opened, ref awaited.",
    "Same issue as last week's ticket, likely the same root cause.",
    "Waiting on change approval (CAB Thursday).",
    "Logs show repeated auth failures from an old phone.",
    "Reassigned: not a Service Desk issue.",
    "Workaround documented in KB.",
    "Needs a site visit, booked for tomorrow morning.",
    "Spoke to the user's manager, low priority.",
    "Duplicate of an existing ticket - linked.",
    "Driver rollback fixed it on the test machine.",
)
CUSTOMER_COMMENTS = (
    "Thanks, that worked!",
    "Still seeing the same error this morning.",
    "I'm available after 2pm today.",
    "Any update on this please?",
    "Screenshot attached.",
    "It happened again just now.",
    "Yes, you can connect to my laptop.",
    "The device name is LT-0457.",
    "This is blocking our month-end close, please prioritise.",
    "All good now, you can close it.",
    "I tried restarting, no change.",
    "My manager has approved the request.",
    "I'm out of office until Monday.",
    "Not sure what changed, it just started working again.",
    "Could you call me on my mobile?",
    "Merci, ça fonctionne maintenant.",
)
TS_CATEGORY_WEIGHTS = {"Investigation": 0.35, "Fix": 0.3, "Communication": 0.18, "Documentation": 0.09,
                       "Meeting": 0.08}  # fmt: skip
TS_TITLES: dict[str, list[str]] = {
    "Investigation": ["Reviewed event logs", "Reproduced the issue", "Checked account status in AD",
                      "Remote session with user", "Analysed network trace", "Checked monitoring dashboards"],
    "Fix": ["Applied fix and tested", "Reinstalled application", "Replaced faulty hardware",
            "Reset credentials", "Updated driver", "Reconfigured mailbox", "Patched server"],
    "Communication": ["Called user to confirm details", "Email update to customer",
                      "Chased third-party vendor", "Status update to stakeholders"],
    "Documentation": ["Updated knowledge base article", "Wrote resolution notes", "Documented workaround"],
    "Meeting": ["Triage meeting", "Change advisory board", "Incident review call",
                "Handover with second line"],
}  # fmt: skip

PRIORITY_WEIGHTS = {"P1": 0.03, "P2": 0.15, "P3": 0.55, "P4": 0.27}
RESPONSE_MEDIAN_MIN = {"P1": 6.0, "P2": 15.0, "P3": 40.0, "P4": 90.0}
RESOLUTION_MEDIAN_H = {"P1": 1.5, "P2": 4.0, "P3": 12.0, "P4": 30.0}
SLA_RESPONSE_MIN = {"P1": 15, "P2": 60, "P3": 240, "P4": 480}
SLA_RESOLUTION_H = {"P1": 4, "P2": 12, "P3": 48, "P4": 120}

# Statuses. Which statuses exist and what they mean is the seeds' business (seeds/status_map.csv,
# seeds/status_groups.csv); the demo only says which of the seeded raw values this desk uses, how
# often, and in which state of a ticket's life. `_vocabulary()` checks every one against the seeds:
# it must be seeded, and its group must be one the state's dates allow.
STATUS_WEIGHTS: dict[str, dict[str, float]] = {
    "new": {"open": 0.75, "new": 0.25},  # not yet responded to
    "working": {"in progress": 0.30, "assigned": 0.22, "escalated": 0.12, "awaiting customer": 0.14,
                "pending": 0.10, "waiting on customer": 0.06, "on hold": 0.06},  # responded, not resolved
    "reopened": {"reopened": 1.0},  # resolved once, reopened by the customer: no resolution date now
    "resolved": {"resolved": 0.75, "solved": 0.25},  # resolution date, no closed date
    "closed": {"closed": 1.0},  # resolution and closed dates
    "cancelled": {"cancelled": 1.0},  # ended early: resolution and closed date the cancellation's
}  # fmt: skip
STATE_GROUPS: dict[str, tuple[str, ...]] = {
    "new": ("open",), "working": ("in progress", "waiting"), "reopened": ("open",),
    "resolved": ("resolved",), "closed": ("closed",), "cancelled": ("cancelled",),
}  # fmt: skip
STATE_IS_BACKLOG = {"new": True, "working": True, "reopened": True, "resolved": False, "closed": False,
                    "cancelled": False}  # fmt: skip
RATE_CANCELLED = 0.026  # of tickets (those whose cancellation falls after the export stay as they are)
RATE_REOPENED = 0.0125  # of tickets that were resolved by the export
CANCEL_MEDIAN_H = 6.0
# a desk's own statuses, in no seed: written as the desk writes them (kind unknown_status)
UNKNOWN_STATUSES = ("Parked by vendor", "With procurement", "Awaiting site visit")
# other tools' spellings of P1..P4 (kind priority_spelling); each must map back in seeds/priority_map.csv
PRIORITY_SPELLINGS: dict[str, dict[str, str]] = {
    "servicenow": {"P1": "1 - Critical", "P2": "2 - High", "P3": "3 - Moderate", "P4": "4 - Low"},
    "zendesk": {"P1": "Urgent", "P2": "High", "P3": "Normal", "P4": "Low"},
}
SERVICENOW_SHARE = 0.6  # of the priority_spelling values; the rest Zendesk's
SEEDS_DIR = PROJECT_DIR / "seeds"

_PRIO_TABLE = _lookup_table(list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values()))
_CAT_TABLE = _lookup_table(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))
_TEAM_TABLES = {c: _lookup_table(list(w), list(w.values())) for c, w in CATEGORY_TEAMS.items()}
_TS_CAT_TABLE = _lookup_table(list(TS_CATEGORY_WEIGHTS), list(TS_CATEGORY_WEIGHTS.values()))
# hours in quarter-hour steps 0.25 .. 8, mostly short (typed in by hand)
_HOURS_TABLE = _lookup_table([q / 4 for q in range(1, 33)], [math.exp(-q / 5.0) for q in range(1, 33)], 4096)
# minutes 1 .. 480 (a timer's), mostly 10-60; stored as minutes / 60, a REAL with many decimals
_MINUTES_TABLE = _lookup_table(
    list(range(1, 481)), [(1 - math.exp(-m / 8.0)) * math.exp(-m / 70.0) for m in range(1, 481)], 8192
)
SHARE_MINUTES = 0.85  # of timesheet rows: logged by a timer in minutes, the rest in quarter hours

BATCH = 20_000


# ---------------------------------------------------------------------------------------------
# The seeds' vocabulary
# ---------------------------------------------------------------------------------------------


def display_status(raw_value: str) -> str:
    """A seed's raw value as a desk displays it: each word capitalised ('awaiting customer' ->
    'Awaiting Customer', "won't fix" -> "Won't Fix"; str.title would write "Won'T")."""
    return " ".join(w[:1].upper() + w[1:] for w in raw_value.split(" "))


def _read_seed(name: str, columns: tuple[str, ...], seeds_dir: Path) -> list[dict[str, str]]:
    path = seeds_dir / name
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)} (has {reader.fieldnames})")
        return [{c: (row[c] or "").strip() for c in columns} for row in reader]


@dataclass(frozen=True)
class _Vocabulary:
    """What the demo takes from the seeds: statuses by state, their groups, priority spellings."""

    status_group: dict[str, str]  # raw_value -> status_group (seeds/status_map.csv)
    is_backlog: dict[str, bool]  # status_group -> is_backlog (seeds/status_groups.csv)
    status_tables: dict[str, list[str]]  # ticket state -> weighted table of display spellings
    unknown_statuses: tuple[str, ...]  # UNKNOWN_STATUSES that no seed knows
    priority_spellings: dict[str, dict[str, str]]  # tool -> P1..P4 -> spelling


@functools.cache
def _vocabulary(seeds_dir: Path = SEEDS_DIR) -> _Vocabulary:
    """Read and check the seeds once: every status the demo writes is seeded and its group agrees
    with the dates of the state it is written in; every priority spelling maps to its priority."""
    groups = {r["status_group"]: r["is_backlog"].lower() == "true"
              for r in _read_seed("status_groups.csv", ("status_group", "is_backlog"), seeds_dir)}  # fmt: skip
    status_group = {r["raw_value"].lower(): r["status_group"]
                    for r in _read_seed("status_map.csv", ("raw_value", "status_group"), seeds_dir)}  # fmt: skip
    tables: dict[str, list[str]] = {}
    for state, weights in STATUS_WEIGHTS.items():
        for raw in weights:
            group = status_group.get(raw)
            if group is None:
                raise ValueError(f"seeds/status_map.csv has no status {raw!r}, which the demo writes")
            if group not in STATE_GROUPS[state] or groups.get(group) is not STATE_IS_BACKLOG[state]:
                raise ValueError(
                    f"seeds/status_map.csv puts {raw!r} in group {group!r}, which does not fit the demo's "
                    f"{state!r} tickets (groups {', '.join(STATE_GROUPS[state])})"
                )
        tables[state] = _lookup_table([display_status(r) for r in weights], list(weights.values()))
    priority = {r["raw_value"].lower(): r["priority"]
                for r in _read_seed("priority_map.csv", ("raw_value", "priority"), seeds_dir)}  # fmt: skip
    for spellings in PRIORITY_SPELLINGS.values():
        for prio, text in spellings.items():
            if priority.get(text.lower()) != prio:
                raise ValueError(f"seeds/priority_map.csv does not map {text!r} to {prio}")
    unknown = tuple(u for u in UNKNOWN_STATUSES if u.lower() not in status_group)
    return _Vocabulary(status_group, groups, tables, unknown, PRIORITY_SPELLINGS)
