"""Every schema name sdrun uses is made here, and only here.

A build lands in a *schema set*: marts, staging (where dbt puts the staging models and seeds, see
macros/generate_schema_name.sql, which is told this name through SDRUN_STAGING_SCHEMA) and the raw
text copy it was built from.

    live        servicedesk             servicedesk_staging             raw
    version v   servicedesk_<v>         servicedesk_<v>_staging         raw_<v>
    building    servicedesk_next        servicedesk_next_staging        raw_next
    canary      servicedesk_canary      servicedesk_canary_staging      raw_canary

`v` is the run id in lower case (e.g. 20261122t081500z_3f9a). A raw copy is first written into
`<raw>__load` and renamed into place (targets/postgres.py). `sdrun_meta` holds the run ledger and
the version registry. Target dev (DuckDB) uses the live names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LIVE_SCHEMA = "servicedesk"  # the data contract's live schema (docs/design.md)
RAW_SCHEMA = "raw"
META_SCHEMA = "sdrun_meta"
STAGING_SUFFIX = "_staging"
LOADING_SUFFIX = "__load"

VERSION_RE = re.compile(r"^[0-9]{8}t[0-9]{6}z_[0-9a-f]{4}$")
# A schema of a version (any of its three), or its raw copy being loaded.
_VERSIONED_RE = re.compile(
    rf"^(?:{LIVE_SCHEMA}|{RAW_SCHEMA})_([0-9]{{8}}t[0-9]{{6}}z_[0-9a-f]{{4}})(?:{STAGING_SUFFIX})?({LOADING_SUFFIX})?$"
)


def version_id(run_id: str) -> str:
    """The version a prod run builds is named after the run: its id in lower case."""
    return run_id.lower()


def is_version(text: str) -> bool:
    return bool(VERSION_RE.match(text))


def version_of(text: str) -> str:
    """`--to` of `sdrun rollback`: a version id, or the name of its marts schema."""
    text = text.lower()
    return text[len(LIVE_SCHEMA) + 1:] if text.startswith(f"{LIVE_SCHEMA}_") else text


def loading(raw_schema: str) -> str:
    """Where a raw copy is written before it replaces `raw_schema`."""
    return f"{raw_schema}{LOADING_SUFFIX}"


def leftover(name: str, kept_versions: set[str]) -> bool:
    """A schema a killed or failed run left behind: a version that never went live (not live or kept),
    any raw copy still being loaded, or the fixed schemas of a build in progress."""
    m = _VERSIONED_RE.match(name)
    if m:
        return m.group(1) not in kept_versions or bool(m.group(2))
    return name.endswith(LOADING_SUFFIX) or name in SchemaSet.building().all()


@dataclass(frozen=True)
class SchemaSet:
    marts: str
    staging: str
    raw: str

    @classmethod
    def _named(cls, suffix: str) -> SchemaSet:
        marts = f"{LIVE_SCHEMA}{suffix}"
        return cls(marts, f"{marts}{STAGING_SUFFIX}", f"{RAW_SCHEMA}{suffix}")

    @classmethod
    def live(cls) -> SchemaSet:
        return cls._named("")

    @classmethod
    def version(cls, vid: str) -> SchemaSet:
        if not VERSION_RE.match(vid):
            raise ValueError(f"not a version id: {vid!r}")
        return cls._named(f"_{vid}")

    @classmethod
    def building(cls) -> SchemaSet:
        """Where prod builds the next version. Fixed names keep dbt's profile and vars the same from run
        to run, so dbt's partial parse survives; the swap renames them to the live names."""
        return cls._named("_next")

    @classmethod
    def canary(cls) -> SchemaSet:
        return cls._named("_canary")

    def all(self) -> tuple[str, str, str]:
        return (self.marts, self.staging, self.raw)

    def with_loading(self) -> tuple[str, ...]:
        """The set and its raw copy being loaded: what a failed build leaves to drop."""
        return (*self.all(), loading(self.raw))

    def dbt_env(self) -> dict[str, str]:
        """Where dbt builds this set (profiles/profiles.yml, macros/generate_schema_name.sql)."""
        return {"SDRUN_SCHEMA": self.marts, "SDRUN_STAGING_SCHEMA": self.staging}

    def dbt_vars(self) -> dict[str, str]:
        """Where the dbt sources read the raw copy (models/staging/servicedesk/_servicedesk__sources.yml)."""
        return {"raw_schema": self.raw}
