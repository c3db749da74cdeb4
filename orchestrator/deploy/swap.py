"""What a swap carries from the live schema set to the set going live, what it refuses, and what
it waits for; and what keeps an old version from being dropped.

sdrun owns the relations it built in a version (recorded in `sdrun_meta.versions.relations` when
the version goes live). Everything else is somebody's, and is found in the catalog (`pg_depend`,
`pg_class`, `pg_proc`, `pg_type`) before the swap:

- **A view elsewhere over a live relation** (`reports.open_tickets` over `servicedesk.tickets`)
  is re-pointed: after the renames its definition, taken schema-qualified before them, replaces
  it (`CREATE OR REPLACE VIEW`: same OID, owner, grants and dependent views), so it reads the new
  version. A view that cannot take the new version (a column it reads is gone or changed type,
  sdrun's user does not own it) stops the swap, named, and nothing changes.
- **A relation sdrun did not build, inside a live schema** (an analyst's table, view, sequence,
  foreign table) is carried over into the set going live (`ALTER ... SET SCHEMA`), so it stays at
  its name with its data; a view among them is re-pointed as above.
- **Refused, named, nothing changed**: a materialized view, foreign key, function or rule that
  depends on a relation of sdrun's; a function or type inside a live schema; a carried relation
  that depends on sdrun's (other than a view); a name the new version also has; row-level security
  or a trigger someone added to a table of sdrun's (the new table would not have it).
- **Grants are copied exactly**, per schema, table and column, from the live set to the one going
  live (on a deploy and on a rollback alike): what the incoming relations held is revoked, what the
  live ones hold is granted. A relation new in this version gets SELECT for the roles that can read
  every relation of sdrun's in that live schema (the dashboards' role is one), and nobody else.
- **Old snapshots.** A REPEATABLE READ or SERIALIZABLE transaction whose snapshot predates the new
  version's rows would read the new tables as empty after the swap. The swap first waits, at most
  `SDRUN_SWAP_WAIT` seconds (default 60), until no session of the database holds a snapshot taken
  before the swap began; sessions still holding one then are named, and the swap is refused.
- **Prune** drops a kept version only when nothing outside it depends on it and it holds nothing
  sdrun did not build; otherwise it names what blocks it. Its drops are `RESTRICT`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from psycopg2 import sql

from orchestrator.core.errors import StepFailed, UsageError
from orchestrator.targets.postgres import connection, dependents, ident, relations, schema_exists
from orchestrator.targets.schemas import SchemaSet

ROLES = ("marts", "staging", "raw")  # SchemaSet's fields, in the order of SchemaSet.all()
# a relkind's name, which is also its keyword in ALTER … SET SCHEMA and DROP
KIND_NAME = {"r": "table", "p": "table", "f": "foreign table", "S": "sequence", "v": "view",
             "m": "materialized view"}
SWAP_WAIT_ENV = "SDRUN_SWAP_WAIT"
DEFAULT_SWAP_WAIT = 60.0


def swap_wait_from_env() -> float:
    raw = os.environ.get(SWAP_WAIT_ENV, str(DEFAULT_SWAP_WAIT)).strip()
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UsageError(f"{SWAP_WAIT_ENV}={raw!r}: expected a number of seconds, 0 or more")
    return value


Relations = dict[str, list[str]]  # role (marts/staging/raw) -> relation names


def own_relations(cur: Any, schemas: SchemaSet) -> Relations:
    """The relations in a set's schemas, by role: what sdrun built, when the set was just built."""
    return {role: sorted(relations(cur, name)) for role, name in zip(ROLES, schemas.all(), strict=True)}


def recorded(cur: Any, meta: str, vid: str | None) -> Relations | None:
    if vid is None:
        return None
    cur.execute(f"select relations from {meta}.versions where version = %s", (vid,))
    row = cur.fetchone()
    if not row or row[0] is None:
        return None
    value = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return {role: list(value.get(role, [])) for role in ROLES}


@dataclass
class Plan:
    """What one swap does besides the renames."""

    views: list[tuple[str, str, int]] = field(default_factory=list)  # (schema after the swap, name, oid)
    definitions: dict[int, sql.Composable] = field(default_factory=dict)  # oid -> CREATE OR REPLACE VIEW ... AS
    moves: list[tuple[str, str, str, str]] = field(default_factory=list)  # (kind, schema, name, to schema)
    refused: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, list[str]]:
        return {"repointed": [f"{s}.{n}" for s, n, _ in self.views],
                "carried": [f"{s}.{n} ({KIND_NAME[k]})" for k, s, n, _ in self.moves]}


def plan(cur: Any, live: SchemaSet, incoming: SchemaSet, sdrun_live: Relations | None) -> Plan:
    """Find, in the catalog, what is not sdrun's in and around the live set (see the module doc)."""
    out = Plan()
    present = {role: relations(cur, name) for role, name in zip(ROLES, live.all(), strict=True)}
    arriving = {role: relations(cur, name) for role, name in zip(ROLES, incoming.all(), strict=True)}
    # sdrun's in the live set: as recorded when it went live, else what the new set also has
    ours = {role: set((sdrun_live or {}).get(role) or []) if sdrun_live else set(arriving[role]) & set(present[role])
            for role in ROLES}
    schema_role = dict(zip(live.all(), ROLES, strict=True))
    users: dict[tuple[str, str], str] = {}  # (live schema, name) -> relkind, of relations sdrun did not build
    for role, live_name, in_name in zip(ROLES, live.all(), incoming.all(), strict=True):
        for name, kind in present[role].items():
            if name in ours[role]:
                continue
            users[(live_name, name)] = kind
            if name in arriving[role]:
                out.refused.append(f"{live_name}.{name} ({KIND_NAME.get(kind, kind)}) was not built by sdrun, and "
                                   f"the new version has a relation of that name: rename or move it")
            else:
                out.moves.append((kind, live_name, name, in_name))
    out.refused += [f"{obj} is in a schema of sdrun's, and sdrun does not carry functions or types: move it to "
                    "another schema" for obj in foreign_objects(cur, live.all())]
    ours_qualified = {(live_name, n) for role, live_name in zip(ROLES, live.all(), strict=True) for n in ours[role]}
    for dep in dependents(cur, live.all()):
        on = (dep["on_schema"], dep["on_name"])
        if on not in ours_qualified:
            continue  # it depends on something carried over, which keeps its OID
        where = (dep["schema"], dep["name"]) if dep["name"] else None
        inside = dep["schema"] in schema_role
        if inside and where not in users:
            if dep["what"] == "trigger" or dep["what"] == "policy":
                out.refused.append(f"{dep['description']} on {on[0]}.{on[1]}, a table of sdrun's, would not be on "
                                   "the new version's table: drop it, or add it to the models")
            continue  # sdrun's own objects depending on each other
        if dep["what"] == "view" and dep["oid"] not in out.definitions:
            schema_after = live.all()[ROLES.index(schema_role[dep["schema"]])] if inside else dep["schema"]
            out.views.append((schema_after, dep["name"], dep["oid"]))
            out.definitions[dep["oid"]] = _definition(cur, dep["oid"], schema_after, dep["name"])
        elif dep["what"] != "view":
            out.refused.append(f"{dep['description']} depends on {on[0]}.{on[1]} and cannot be re-pointed to the "
                               "new version: drop it before the deploy and recreate it after")
    return out


def _definition(cur: Any, oid: int, schema: str, name: str) -> sql.Composable:
    """CREATE OR REPLACE VIEW for a view, its relations schema-qualified as they are named now."""
    cur.execute("select current_setting('search_path')")
    saved = cur.fetchone()[0]
    cur.execute("select pg_catalog.set_config('search_path', '', true)")  # every name comes out qualified
    cur.execute("select pg_get_viewdef(%s::oid), coalesce(array_to_string(reloptions, ', '), '') "
                "from pg_class where oid = %s", (oid, oid))
    text, options = cur.fetchone()
    cur.execute("select pg_catalog.set_config('search_path', %s, true)", (saved,))
    body = text.strip().rstrip(";")
    with_options = sql.SQL(f" with ({options})") if options else sql.SQL("")
    return sql.SQL("create or replace view {}.{}{} as {}").format(ident(schema), ident(name), with_options,
                                                                 sql.SQL(body))


def foreign_objects(cur: Any, schemas: tuple[str, ...]) -> list[str]:
    """Functions and types inside the schemas: sdrun builds none, and a rename would take them along."""
    cur.execute(
        """select format('function %%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = any(%s)
           union all
           select format('type %%I.%%I', n.nspname, t.typname)
           from pg_type t join pg_namespace n on n.oid = t.typnamespace
           left join pg_class c on c.oid = t.typrelid
           where n.nspname = any(%s) and t.typelem = 0 and (t.typrelid = 0 or c.relkind = 'c')
           order by 1""",
        (list(schemas), list(schemas)),
    )
    return [r[0] for r in cur.fetchall()]


def carry_over(cur: Any, p: Plan) -> None:
    """Before the renames: move the relations sdrun did not build into the set going live."""
    for kind, schema, name, to in p.moves:
        cur.execute(sql.SQL("alter {} {}.{} set schema {}").format(
            sql.SQL(KIND_NAME[kind]), ident(schema), ident(name), ident(to)))


def repoint(cur: Any, p: Plan) -> None:
    """After the renames: each view that read the live set reads the new live set."""
    for schema, name, oid in p.views:
        cur.execute("savepoint repoint")
        try:
            cur.execute(p.definitions[oid])
        except Exception as exc:
            cur.execute("rollback to savepoint repoint")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StepFailed(f"swap refused, nothing changed: view {schema}.{name} reads the live schemas and "
                             f"cannot be re-pointed to the new version ({first}); drop it before the deploy and "
                             "recreate it after, or fix it so it reads the new version's columns") from None
        cur.execute("release savepoint repoint")


# ------------------------------------------------------------------------------------------------
# grants
# ------------------------------------------------------------------------------------------------

_ACL = """select coalesce(r.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable
          from aclexplode(%s) a left join pg_roles r on r.oid = a.grantee
          where a.grantee <> %s order by 1, 2"""


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("public") if name == "PUBLIC" else ident(name)


def _acl(cur: Any, acl: Any, owner: int) -> list[tuple[str, str, bool]]:
    if acl is None:
        return []
    cur.execute(_ACL, (acl, owner))
    return [(r[0], r[1], r[2]) for r in cur.fetchall()]


def _schema_acl(cur: Any, name: str) -> tuple[Any, int]:
    cur.execute("select nspacl, nspowner from pg_namespace where nspname = %s", (name,))
    return cur.fetchone()


def _relation_acls(cur: Any, schema: str) -> dict[str, dict[str, Any]]:
    """name -> {"acl": table grants, "owner": oid, "columns": {column: grants}}"""
    cur.execute(
        """select c.relname, c.relacl, c.relowner, a.attname, a.attacl
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                                       and a.attacl is not null
           where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')""",
        (schema,),
    )
    out: dict[str, dict[str, Any]] = {}
    for rel, relacl, owner, col, colacl in cur.fetchall():
        entry = out.setdefault(rel, {"acl": relacl, "owner": owner, "columns": {}})
        if col is not None:
            entry["columns"][col] = colacl
    return out


def copy_grants(cur: Any, live: SchemaSet, incoming: SchemaSet, sdrun_live: Relations | None,
                first_readers: list[str]) -> dict[str, int]:
    """Before the carry-over and the renames: the incoming set gets the live set's grants exactly.
    With no live set yet (a first deploy), `first_readers` get USAGE and SELECT on the marts."""
    counts = {"schemas": 0, "tables": 0, "columns": 0}
    for role, live_name, in_name in zip(ROLES, live.all(), incoming.all(), strict=True):
        if not schema_exists(cur, in_name):
            continue
        in_acl, in_owner = _schema_acl(cur, in_name)
        for grantee in {g for g, _, _ in _acl(cur, in_acl, in_owner)}:
            cur.execute(sql.SQL("revoke all on schema {} from {}").format(ident(in_name), _grantee(grantee)))
        arriving = _relation_acls(cur, in_name)
        for rel, entry in arriving.items():
            grantees = {g for g, _, _ in _acl(cur, entry["acl"], entry["owner"])}
            for colacl in entry["columns"].values():
                grantees |= {g for g, _, _ in _acl(cur, colacl, entry["owner"])}
            for grantee in grantees:  # a table's REVOKE revokes its column privileges too
                cur.execute(sql.SQL("revoke all on table {}.{} from {}").format(
                    ident(in_name), ident(rel), _grantee(grantee)))
        if not schema_exists(cur, live_name):
            if role == "marts":
                for reader in first_readers:
                    cur.execute(sql.SQL("grant usage on schema {} to {}").format(ident(in_name), ident(reader)))
                    cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
                        ident(in_name), ident(reader)))
                    counts["schemas"] += 1
            continue
        live_acl, live_owner = _schema_acl(cur, live_name)
        for grantee, privilege, grantable in _acl(cur, live_acl, live_owner):
            cur.execute(sql.SQL("grant {} on schema {} to {}{}").format(
                sql.SQL(privilege), ident(in_name), _grantee(grantee),
                sql.SQL(" with grant option" if grantable else "")))
            counts["schemas"] += 1
        present = _relation_acls(cur, live_name)
        ours = set((sdrun_live or {}).get(role) or present)
        readers = _readers_of_all(cur, {r: e for r, e in present.items() if r in ours})
        for rel in arriving:
            if rel not in present:  # new in this version: those who read everything of sdrun's read it too
                for reader in readers:
                    cur.execute(sql.SQL("grant select on table {}.{} to {}").format(
                        ident(in_name), ident(rel), _grantee(reader)))
                    counts["tables"] += 1
                continue
            entry = present[rel]
            for grantee, privilege, grantable in _acl(cur, entry["acl"], entry["owner"]):
                cur.execute(sql.SQL("grant {} on table {}.{} to {}{}").format(
                    sql.SQL(privilege), ident(in_name), ident(rel), _grantee(grantee),
                    sql.SQL(" with grant option" if grantable else "")))
                counts["tables"] += 1
            columns = _columns(cur, in_name, rel)
            for col, colacl in entry["columns"].items():
                if col not in columns:  # the column is gone: its grant goes with it (narrower, never wider)
                    continue
                for grantee, privilege, grantable in _acl(cur, colacl, entry["owner"]):
                    cur.execute(sql.SQL("grant {} ({}) on table {}.{} to {}{}").format(
                        sql.SQL(privilege), ident(col), ident(in_name), ident(rel), _grantee(grantee),
                        sql.SQL(" with grant option" if grantable else "")))
                    counts["columns"] += 1
    return counts


def _columns(cur: Any, schema: str, rel: str) -> set[str]:
    cur.execute("select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
                "and not attisdropped", (sql.Identifier(schema, rel).as_string(cur),))
    return {r[0] for r in cur.fetchall()}


def _readers_of_all(cur: Any, entries: dict[str, dict[str, Any]]) -> list[str]:
    if not entries:
        return []
    readers: set[str] | None = None
    for entry in entries.values():
        selecting = {g for g, p, _ in _acl(cur, entry["acl"], entry["owner"]) if p == "SELECT"}
        readers = selecting if readers is None else readers & selecting
    return sorted(readers or ())


# ------------------------------------------------------------------------------------------------
# old snapshots
# ------------------------------------------------------------------------------------------------

_OLD_SNAPSHOTS = """
select pid, coalesce(usename, '?'), coalesce(nullif(application_name, ''), '-'), state,
       to_char(xact_start, 'YYYY-MM-DD HH24:MI:SS')
from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
  and backend_xmin is not null and xact_start < %s
order by xact_start"""


def wait_for_old_snapshots(bound: float, poll: float = 0.25) -> float:
    """Wait until no session of this database holds a snapshot from before now; the seconds waited.
    Raises StepFailed naming the sessions when `bound` passes first."""
    started = time.monotonic()
    with connection(autocommit=True) as con, con.cursor() as cur:
        cur.execute("select clock_timestamp()")
        since = cur.fetchone()[0]
        while True:
            cur.execute(_OLD_SNAPSHOTS, (since,))
            rows = cur.fetchall()
            waited = time.monotonic() - started
            if not rows:
                return waited
            if waited >= bound:
                who = "; ".join(f"pid {pid} user {user} application {app}, {state}, in a transaction since {xs}"
                                for pid, user, app, state, xs in rows[:5])
                raise StepFailed(
                    f"swap refused after waiting {bound:g}s, nothing changed: {len(rows)} session(s) hold a "
                    f"snapshot from before the new version ({who}); a REPEATABLE READ or SERIALIZABLE transaction "
                    f"there would read the new tables as empty. End those transactions (or "
                    f"pg_terminate_backend(pid)) and run again; {SWAP_WAIT_ENV} sets the wait")
            time.sleep(poll)


# ------------------------------------------------------------------------------------------------
# prune
# ------------------------------------------------------------------------------------------------

def blockers(cur: Any, schemas: SchemaSet, sdrun: Relations) -> list[str]:
    """Why a kept version cannot be dropped whole: what depends on it from outside, and what in it
    sdrun did not build."""
    problems = [f"{d['description']} depends on {d['on_schema']}.{d['on_name']}"
                for d in dependents(cur, schemas.all()) if d["schema"] not in schemas.all()]
    for role, name in zip(ROLES, schemas.all(), strict=True):
        for rel, kind in relations(cur, name).items():
            if rel not in sdrun[role]:
                problems.append(f"{name}.{rel} ({KIND_NAME.get(kind, kind)}) was not built by sdrun")
    problems += [f"{obj} is in it" for obj in foreign_objects(cur, schemas.all())]
    return problems


def drop_restrict(cur: Any, schemas: tuple[str, ...]) -> list[str]:
    """Drop the relations of these schemas, then the schemas, all RESTRICT: what anything else depends
    on makes PostgreSQL refuse, naming it, and nothing is dropped along."""
    found = {name: relations(cur, name) for name in schemas if schema_exists(cur, name)}
    dropped = []
    for kinds, keyword in ((("v",), "view"), (("m",), "materialized view"), (("r", "p"), "table"),
                           (("f",), "foreign table"), (("S",), "sequence")):
        names = [sql.Identifier(s, r) for s, rels in found.items() for r, k in rels.items() if k in kinds]
        if names:
            cur.execute(sql.SQL("drop {} {} restrict").format(sql.SQL(keyword), sql.SQL(", ").join(names)))
            dropped += [n.as_string(cur) for n in names]
    for name in found:
        cur.execute(sql.SQL("drop schema {} restrict").format(ident(name)))
    return dropped


def relations_json(value: Relations) -> str:
    return json.dumps(value, sort_keys=True)

