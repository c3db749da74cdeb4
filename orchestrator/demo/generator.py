"""A realistic demo source: one quarter of a service desk's export, with the defects real exports bring.

`generate()` writes a SQLite file shaped like the reference export (tables `tickets`, `comments`,
`timesheets`, the export's own column names and declared types) and returns a `DemoSummary` that
records, exactly, every defect and every foreign form it injected: per table, per column, per kind.
Tests and the profiler compare their own counts with these.

Defect kinds (keys of `DemoSummary.injected[table][column]`):

- ``dd_mm_yyyy``     a date written 'DD/MM/YYYY H:MM' (day first, hour not zero-padded)
- ``empty``          an empty string '' where a value belongs
- ``sentinel``       one of 'N/A', '-', 'NULL', 'n/a' standing in for "no value"
- ``unparseable``    a date that is no date ('not a date', '31/02/2025 10:00', '2025-13-45', ...)
- ``whitespace``     leading/trailing spaces or a tab around an otherwise valid text value
- ``case_variant``   status/priority in another case ('RESOLVED', ' closed', 'p3')
- ``decimal_comma``  hours stored as TEXT with a decimal comma ('1,5')
- ``non_numeric``    a ticket id that is not a number ('TEST-12'): valid, but not integer-like
- ``unknown_status`` a status of the desk's own that no seed knows ('Parked by vendor'); under 1 %

Forms other tools and spreadsheets write, valid values all, counted the same way:

- ``real_hours``        TS-Hours as a REAL logged in minutes, more than 6 decimals (13/60 =
                        0.21666666666666667); the other REAL hours are quarter hours or minutes that
                        divide evenly (0.25, 0.05)
- ``priority_spelling`` a priority as ServiceNow ('1 - Critical' .. '4 - Low') or Zendesk ('Urgent',
                        'High', 'Normal', 'Low') write it; every spelling is in seeds/priority_map.csv
- ``us_12h``            'MM/DD/YYYY hh:mm:ss AM' ('05/20/2025 08:42:13 PM') in TKT-Actual Resolution
                        Date; random days, so most carry their own month-first evidence (day > 12)
- ``month_name``        '20-May-2025 08:42' or 'May 20, 2025 8:42 PM' in CT-CREATED-TIME
- ``iso_offset``        '2025-05-20T10:42:13+02:00' in TKT-Actual Response Date: the same instant as
                        the UTC time it replaces (the demo's naive times are UTC)

Statuses come from the seeds, the one place they are defined: seeds/status_map.csv (raw_value ->
status_group) and seeds/status_groups.csv (is_backlog). The demo writes a seeded raw value
title-cased ('awaiting customer' -> 'Awaiting Customer') and only where its group agrees with the
ticket's dates: a backlog group (open, in progress, waiting) has no resolution or closed date, a
resolved ticket a resolution date, a closed or cancelled one both. About 2.5 % are Cancelled and
1.2 % Reopened. Categories are the user's own taxonomy ('Access Request', 'E-mail'), written one
way each: nothing maps them.

Table-level kinds live under the column key ``_table``: ``orphan_ticket`` (a comment or timesheet
whose ticket id matches no ticket) and ``duplicate_key`` (an extra ticket row repeating an id).
Genuine NULLs (open tickets have no resolution or closed date, unassigned tickets no agent) are no
defect; they are counted separately in `DemoSummary.nulls`.

Same seed and scale give a byte-identical file: one `random.Random(seed)` seeds every stream, no
wall clock, no global random state. The file is written to a temporary file next to `out` and
renamed into place, so a killed run never leaves a half-written `out`.
"""

from __future__ import annotations

import bisect
import csv
import functools
import json
import math
import os
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.core.atomic import atomic_output, check_writable
from orchestrator.core.errors import UsageError
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
# Summary
# ---------------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    """What `generate` wrote: rows per table and, exactly, every defect it injected."""

    path: Path
    seed: int
    scale: float
    rows: dict[str, int] = field(default_factory=dict)
    # table -> column (or "_table") -> kind -> count; only kinds actually injected (count > 0)
    injected: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # table -> column -> count of genuine NULLs (no defect: e.g. open tickets' closed time)
    nulls: dict[str, dict[str, int]] = field(default_factory=dict)

    def defect_totals(self) -> dict[str, dict[str, int]]:
        """table -> kind -> count, summed over columns."""
        out: dict[str, dict[str, int]] = {}
        for table, cols in self.injected.items():
            kinds: dict[str, int] = {}
            for per_kind in cols.values():
                for kind, n in per_kind.items():
                    kinds[kind] = kinds.get(kind, 0) + n
            out[table] = dict(sorted(kinds.items()))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def write_manifest(self, path: Path) -> None:
        """Write `to_json()` to `path` (atomically: a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def describe(self) -> str:
        rows = ", ".join(f"{n:,} {t}" for t, n in self.rows.items())
        totals = self.defect_totals()
        per_table = {t: sum(k.values()) for t, k in totals.items()}
        lines = [
            f"Wrote {self.path}: {rows} (seed {self.seed}, scale {self.scale:g}).",
            f"Injected defects and foreign forms: {sum(per_table.values()):,} in all ("
            + ", ".join(f"{n:,} in {t}" for t, n in per_table.items())
            + ").",
        ]
        for table, kinds in totals.items():
            if kinds:
                lines.append(f"  {table}: " + ", ".join(f"{k} {n:,}" for k, n in kinds.items()))
        return "\n".join(lines)


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


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _create_sql(table: str) -> str:
    cols = ", ".join(f'"{name}" {decl}' for name, decl in TABLES[table])
    return f'CREATE TABLE "{table}" ({cols})'


def _insert(
    con: sqlite3.Connection, table: str, rows: Any, nulls: dict[str, dict[str, int]], on_rows: Any = None
) -> int:
    names = [c for c, _ in TABLES[table]]
    sql = f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(names))})'
    null_counts = [0] * len(names)
    written = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            n = _flush(con, sql, batch, null_counts)
            written += n
            if on_rows is not None:
                on_rows(n)
    n = _flush(con, sql, batch, null_counts)
    written += n
    if on_rows is not None and n:
        on_rows(n)
    nulls[table] = {names[i]: k for i, k in enumerate(null_counts) if k}
    return written


def _flush(con: sqlite3.Connection, sql: str, batch: list[tuple[Any, ...]], null_counts: list[int]) -> int:
    for row in batch:
        if None in row:
            for i, v in enumerate(row):
                if v is None:
                    null_counts[i] += 1
    con.executemany(sql, batch)
    n = len(batch)
    batch.clear()
    return n


def generate(out: Path, scale: float = 1.0, seed: int = 42, force: bool = False, progress: Any = None) -> DemoSummary:
    """Write the demo SQLite source to `out` and return what it holds (see the module docstring).

    `progress(rows_written, rows_total)`, when given, is called after each batch of rows."""
    out = Path(out)
    if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"--scale must be a positive number, got {scale}")
    check_writable(out, force)

    n_rows = {t: max(1, round(n * scale)) for t, n in BASE_ROWS.items()}
    n_dup = max(1 if scale >= 0.05 else 0, round(scale))
    n_test = _count(TEST_IDS_AT_SCALE_1, scale)

    master = random.Random(seed)
    rng_t, rng_c, rng_s, rng_d = (random.Random(master.getrandbits(64)) for _ in range(4))
    ledger = _Ledger()

    vocab = _vocabulary()
    tickets, order, gaps = _build_tickets(rng_t, n_rows["tickets"], n_dup, n_test, vocab)
    n_non_numeric = sum(1 for i in order if not tickets[i].id.isdigit())
    ledger.add("tickets", "TKT-Ticket ID", "non_numeric", n_non_numeric)
    ledger.add("tickets", "_table", "duplicate_key", len(order) - len(tickets))
    base_rows = [tickets[i].row() for i in order]
    overrides = _inject_tickets(rng_d, base_rows, scale, ledger, vocab)
    ticket_rows = _ticket_rows(base_rows, overrides)
    orphan_ids = gaps

    nulls: dict[str, dict[str, int]] = {}
    rows: dict[str, int] = {}
    done = [0]

    def on_rows(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], sum(n_rows.values()))

    with atomic_output(out) as tmp:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("BEGIN")
            for table in TABLES:
                con.execute(_create_sql(table))
            rows["tickets"] = _insert(con, "tickets", ticket_rows, nulls, on_rows)
            comments = _comments(rng_c, tickets, n_rows["comments"], orphan_ids, scale, ledger)
            rows["comments"] = _insert(con, "comments", comments, nulls, on_rows)
            timesheets = _timesheets(rng_s, tickets, n_rows["timesheets"], orphan_ids, scale, ledger)
            rows["timesheets"] = _insert(con, "timesheets", timesheets, nulls, on_rows)
            con.execute("COMMIT")
        finally:
            con.close()
    assert rows == n_rows, (rows, n_rows)
    return DemoSummary(path=out, seed=seed, scale=scale, rows=rows, injected=ledger.result(), nulls=nulls)
