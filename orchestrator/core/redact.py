"""No secret in any output: every line sdrun logs, prints or writes (report.json, log.jsonl,
preflight --json, error lines) passes through `redact`.

A password can reach a message in any form libpq accepts: PGPASSWORD itself, a URI
(`postgresql://user:secret@host/db`, also inside PGHOST or PGDATABASE), or a conninfo string
(`host=h password=secret`, `?password=secret` in a URI's query). Each is masked as `***`.
"""

from __future__ import annotations

import os
import re

MASK = "***"
_URI_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@\s]*)@", re.IGNORECASE)
_KEY_VALUE = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&'\"]+)", re.IGNORECASE)


def redact(text: str) -> str:
    text = _URI_USERINFO.sub(rf"\g<head>:{MASK}@", text)
    text = _KEY_VALUE.sub(rf"\g<head>{MASK}", text)
    password = os.environ.get("PGPASSWORD")
    if password:
        text = text.replace(password, MASK)
    return text
