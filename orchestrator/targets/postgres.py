"""PostgreSQL targets (canary, prod): connections, schema sets, the raw load, the run ledger.

Connection settings come only from the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE, PGSSLMODE...): psycopg2 and DuckDB's postgres extension both read them when given an
empty connection string, so no setting and no secret passes through this code, a file or a log.

Schema names: orchestrator/targets/schemas.py (SchemaSet), the only place that makes one. A prod
run builds a version and the deploy swaps it in (orchestrator/deploy/). `sdrun_meta` holds the run
ledger and the version registry.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
from psycopg2 import sql

from orchestrator.core import extensions
from orchestrator.core.errors import EnvironmentProblem, StepFailed
from orchestrator.core.redact import redact
from orchestrator.core.settings import duckdb_memory_limit
from orchestrator.source.contract import TableSpec, expected_tables
from orchestrator.source.read import attach_source, source_select
from orchestrator.targets.raw import DATE_ORDERS_TABLE, write_date_orders
from orchestrator.targets.schemas import LIVE_SCHEMA, META_SCHEMA, SchemaSet
from orchestrator.targets.schemas import loading as loading_schema

READ_ROLE_ENV = "SDRUN_READ_ROLE"  # the dashboards' read-only role, default grafana_ro
DEFAULT_READ_ROLE = "grafana_ro"
READ_ROLE_WORK_MEM = "64MB"  # setup-db: work_mem of the dashboards' role (docs/monitoring.md)
SESSION_WORK_MEM = "64MB"  # at least, for sdrun's sessions and dbt's (session_options)
# The canary samples whole tickets: a row is in when the ticket id it holds is (the tickets' key, or
# the column referencing it, from the column map), so relationships hold in the sample.
SAMPLE_TABLE = "tickets"
SAMPLE_BUCKETS = 10  # 1 bucket in 10: ~10%
WS = "' ' || chr(9) || chr(10) || chr(13) || chr(160)"  # what macros/engine.sql trim_ws removes

Connection = Any  # psycopg2.extensions.connection (psycopg2 ships no type hints)


def pg_tool(name: str) -> str:
    """pg_dump / pg_restore / psql: from PATH, else the newest Debian install."""
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, name).is_file():
            return str(Path(d, name))
    raise EnvironmentProblem(f"{name} not found: install the PostgreSQL client tools (package postgresql-client)")


def where() -> str:
    """Where the libpq variables point, for people (never the password)."""
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    db = os.environ.get("PGDATABASE", os.environ.get("PGUSER", "postgres"))
    return redact(f"postgresql://{host}:{port}/{db}")


def _user_sets(setting: str) -> bool:
    """Whether the user's PGOPTIONS set `setting`: "-c work_mem=…", "-cwork_mem=…" or "--work_mem=…"
    (not maintenance_work_mem)."""
    return re.search(rf"(?:^|\s)(?:-c\s*|--){re.escape(setting)}\s*=", os.environ.get("PGOPTIONS", "")) is not None


def session_options() -> str:
    """PGOPTIONS for sdrun's sessions and dbt's: the user's, with PostgreSQL's JIT off and work_mem of
    at least SESSION_WORK_MEM.

    JIT: the cleaning SQL is a few large expressions that the JIT spends far longer compiling than
    running (about 27 s of a 30 s model at scale 1). sdrun's own statements run the same way, so that
    what it measures and checks runs as the build did (they gain little: 25 ms of JIT in the 3.1 s
    sample copy of the timesheets at scale 40).

    work_mem: PostgreSQL's default of 4MB makes the build's sorts and hash aggregates spill to disk
    from scale 10 on (the tickets mart's hours per ticket, the row checks' ranking, the rollups). At
    64MB the build's compiled SQL, replayed one node at a time at scale 40, took 152 CPU-seconds
    instead of 169 (docs/benchmarks-models.md). Raised only: a server, role or database that gives
    the session more keeps it, and a work_mem the user sets in PGOPTIONS is theirs."""
    user = os.environ.get("PGOPTIONS", "")
    options = " ".join(filter(None, [user, "-c jit=off"]))
    if not _user_sets("work_mem") and _work_mem_below(options):
        options += f" -c work_mem={SESSION_WORK_MEM}"
    return options


def build_options() -> str:
    """PGOPTIONS for the dbt sessions of a full build (prod's, not the canary's): session_options(),
    with no parallel workers under a statement. The build's parallelism is dbt's `threads`, set to
    fill the server's cores (profiles/profiles.yml); a parallel plan on top of that only adds the copying
    of each row from a worker to its leader. Scale 10, three interleaved pairs of prod runs: the build
    21.4 / 20.2 / 21.0 s with parallel workers, 19.9 / 20.6 / 19.6 s without (and PostgreSQL's CPU in
    the build 37.5 against 36.7 CPU-seconds, with them off in every session). The canary's build and
    sdrun's own sessions keep them: the canary copies its sample in 1.5 s with them, 2.9 s without. A
    max_parallel_workers_per_gather the user sets in PGOPTIONS is theirs."""
    options = session_options()
    if not _user_sets("max_parallel_workers_per_gather"):
        options += " -c max_parallel_workers_per_gather=0"
    return options


def _work_mem_below(options: str) -> bool:
    """Whether a session with `options` starts with less work_mem than SESSION_WORK_MEM. False when
    the server cannot be reached: connect() then says why."""
    where = tuple(
        os.environ.get(k, "") for k in ("PGSERVICE", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE")
    )
    try:
        return _session_work_mem_below(options, SESSION_WORK_MEM, where)
    except psycopg2.Error:
        return False


@functools.lru_cache(maxsize=16)
def _session_work_mem_below(options: str, minimum: str, where: tuple[str, ...]) -> bool:
    """Asked once per server, role, database (`where`) and options in a process, so that every dbt
    command of a run gets the same PGOPTIONS: the dbt worker keeps a parsed manifest per environment."""
    con = psycopg2.connect(
        "", application_name="sdrun", options=options, connect_timeout=os.environ.get("PGCONNECT_TIMEOUT", "10")
    )
    try:
        with con.cursor() as cur:
            cur.execute("select pg_size_bytes(current_setting('work_mem')) < pg_size_bytes(%s)", (minimum,))
            return bool(cur.fetchone()[0])
    finally:
        con.close()


def connect(autocommit: bool = False) -> Connection:
    """A connection from the libpq variables alone (JIT off, work_mem: session_options)."""
    try:
        con = psycopg2.connect("", application_name="sdrun", options=session_options())
    except psycopg2.OperationalError as exc:
        first = redact(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        raise EnvironmentProblem(f"PostgreSQL {where()}: cannot connect ({first}); set PGHOST, PGPORT, "
                                 "PGUSER, PGPASSWORD, PGDATABASE") from None
    con.autocommit = autocommit
    return con


@contextmanager
def connection(autocommit: bool = False) -> Iterator[Connection]:
    con = connect(autocommit=autocommit)
    try:
        yield con
    finally:
        con.close()


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def schema_exists(cur: Any, name: str) -> bool:
    cur.execute("select 1 from pg_namespace where nspname = %s", (name,))
    return cur.fetchone() is not None


def role_exists(cur: Any, name: str) -> bool:
    cur.execute("select 1 from pg_roles where rolname = %s", (name,))
    return cur.fetchone() is not None


def drop_schemas(cur: Any, names: Sequence[str]) -> None:
    """Drop schemas of sdrun's own (a canary, a build, a leftover) with what is in them; refused, naming
    them, when anything outside them depends on them (an analyst's view), so nothing of somebody
    else's goes with them."""
    outside = [d for d in dependents(cur, names) if d["schema"] not in names]
    if outside:
        raise StepFailed(f"not dropping schema(s) {', '.join(names)}: "
                         + "; ".join(f"{d['description']} depends on {d['on_schema']}.{d['on_name']}"
                                     for d in outside[:10]) + " (drop or move it first)")
    for n in names:
        cur.execute(sql.SQL("drop schema if exists {} cascade").format(ident(n)))


RELKINDS = ("r", "p", "v", "m", "f", "S")  # tables, views, materialized views, foreign tables, sequences


def relations(cur: Any, schema: str) -> dict[str, str]:
    """The relations of a schema, name -> relkind; not indexes, and not the sequences a column owns."""
    cur.execute(
        """select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %s and c.relkind = any(%s)
             and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                             and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i'))""",
        (schema, list(RELKINDS)),
    )
    return {r[0]: r[1] for r in cur.fetchall()}


_DEPENDENTS = """
with rels as (
    select c.oid, n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(%s) and c.relkind = any(%s)
), deps as (
    select distinct d.classid, d.objid, d.objsubid, r.oid as on_oid, r.nspname as on_schema, r.relname as on_name,
           coalesce(rw.ev_class, con.conrelid, ad.adrelid, tg.tgrelid, pol.polrelid,
                    case when d.classid = 'pg_class'::regclass then d.objid end) as dep_rel,
           p.pronamespace
    from pg_depend d
    join rels r on d.refclassid = 'pg_class'::regclass and d.refobjid = r.oid
    left join pg_rewrite rw on d.classid = 'pg_rewrite'::regclass and rw.oid = d.objid
    left join pg_constraint con on d.classid = 'pg_constraint'::regclass and con.oid = d.objid
    left join pg_attrdef ad on d.classid = 'pg_attrdef'::regclass and ad.oid = d.objid
    left join pg_trigger tg on d.classid = 'pg_trigger'::regclass and tg.oid = d.objid
    left join pg_policy pol on d.classid = 'pg_policy'::regclass and pol.oid = d.objid
    left join pg_proc p on d.classid = 'pg_proc'::regclass and p.oid = d.objid
    where d.deptype in ('n', 'a') and not coalesce(tg.tgisinternal, false)
)
select case when deps.classid = 'pg_rewrite'::regclass then
            case c.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'rule' end
            when deps.classid = 'pg_constraint'::regclass then 'constraint'
            when deps.classid = 'pg_attrdef'::regclass then 'default'
            when deps.classid = 'pg_trigger'::regclass then 'trigger'
            when deps.classid = 'pg_policy'::regclass then 'policy'
            when deps.classid = 'pg_proc'::regclass then 'function'
            when deps.classid = 'pg_class'::regclass then 'relation'
            else 'other' end,
       deps.dep_rel, coalesce(n.nspname, pn.nspname), c.relname, c.relkind,
       pg_describe_object(deps.classid, deps.objid, deps.objsubid), deps.on_schema, deps.on_name
from deps
left join pg_class c on c.oid = deps.dep_rel
left join pg_namespace n on n.oid = c.relnamespace
left join pg_namespace pn on pn.oid = deps.pronamespace
where deps.dep_rel is distinct from deps.on_oid
order by 3, 4, 7, 8"""


def dependents(cur: Any, schemas: Sequence[str]) -> list[dict[str, Any]]:
    """What depends on the relations of these schemas (pg_depend), each with the relation it belongs
    to (a view, the table of a foreign key or trigger) and its schema: views, rules, constraints,
    column defaults, triggers, policies, functions. The relations' own parts (indexes, their own
    constraints) are not listed."""
    cur.execute(_DEPENDENTS, (list(schemas), list(RELKINDS)))
    out = []
    for what, oid, schema, name, relkind, described, on_schema, on_name in cur.fetchall():
        if what == "relation" and relkind == "i":
            continue  # an index on the table: part of it
        description = f"{what} {schema}.{name}" if what in ("view", "materialized view") else described
        out.append({"what": what, "oid": oid, "schema": schema, "name": name, "description": description,
                    "on_schema": on_schema, "on_name": on_name})
    return out


CLEANUP_LOCK_TIMEOUT = "10s"


def drop_now(names: Sequence[str]) -> None:
    """Drop schemas a run built for itself (a canary, a version that did not go live), waiting at
    most CLEANUP_LOCK_TIMEOUT for a lock: cleanup after a failure or a Ctrl-C never hangs. What is
    left (a reader holding a lock) the next run's leftovers sweep drops."""
    with connection(autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"set lock_timeout = '{CLEANUP_LOCK_TIMEOUT}'")
        drop_schemas(cur, names)


def vacuum_indexed(schema: str) -> list[str]:
    """VACUUM the tables of `schema` that have an index (the tickets mart's, which the duration panels
    read in order: macros/engine.sql, panel_indexes); returns their names. A table just built has no
    page marked all-visible, so PostgreSQL reads it beside the index until VACUUM has marked them, and
    during the build the other models' open transactions keep it from marking any. Waits at most
    CLEANUP_LOCK_TIMEOUT for a lock."""
    with connection(autocommit=True) as con, con.cursor() as cur:
        cur.execute(f"set lock_timeout = '{CLEANUP_LOCK_TIMEOUT}'")
        cur.execute("select distinct c.relname from pg_index i join pg_class c on c.oid = i.indrelid "
                    "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relkind = 'r' "
                    "order by 1", (schema,))
        names = [r[0] for r in cur.fetchall()]
        for name in names:
            cur.execute(sql.SQL("vacuum {}.{}").format(ident(schema), ident(name)))
    return names


def read_roles(cur: Any) -> list[str]:
    """The dashboards' read-only role (SDRUN_READ_ROLE, default grafana_ro), when it exists: the
    role a first deploy grants the marts to, and the one the ledger (sdrun_meta) is granted to.
    Every other role keeps exactly the grants it had on the live set (deploy/swap.py)."""
    wanted = os.environ.get(READ_ROLE_ENV, DEFAULT_READ_ROLE)
    return [wanted] if wanted and role_exists(cur, wanted) else []


def grant_read(cur: Any, schema: str, roles: Sequence[str]) -> None:
    for role in roles:
        cur.execute(sql.SQL("grant usage on schema {} to {}").format(ident(schema), ident(role)))
        cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(ident(schema), ident(role)))


# ------------------------------------------------------------------------------------------------
# the ledger: sdrun_meta.runs (every canary/prod run) and sdrun_meta.versions (built schema sets)
# ------------------------------------------------------------------------------------------------

META_DDL = f"""
create schema if not exists {META_SCHEMA};
create table if not exists {META_SCHEMA}.runs (
    run_id        text primary key,
    target        text not null,
    source_path   text,
    source_sha256 text,
    fingerprint   text,
    version       text,
    started_at    timestamptz not null default now(),
    finished_at   timestamptz,
    outcome       text not null default 'running',
    counts        jsonb,
    error         text
);
create table if not exists {META_SCHEMA}.versions (
    version       text primary key,
    run_id        text,
    source_sha256 text,
    fingerprint   text,
    built_at      timestamptz not null default now(),
    state         text not null check (state in ('live', 'kept', 'dropped')),
    live_since    timestamptz,
    dropped_at    timestamptz
);
-- what sdrun built in the version: a JSON object of relation names per schema role (marts, staging, raw)
alter table {META_SCHEMA}.versions add column if not exists relations jsonb;
create unique index if not exists versions_one_live on {META_SCHEMA}.versions (state) where state = 'live';
"""

# A constant key for pg_advisory_lock: one canary/prod run at a time per database.
LOCK_KEY = 0x5D2A_7E17


def ensure_meta(con: Connection) -> None:
    with con.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))  # concurrent first setups
        cur.execute(META_DDL)
    con.commit()


# ------------------------------------------------------------------------------------------------
# the target
# ------------------------------------------------------------------------------------------------


@dataclass
class PostgresTarget:
    """A PostgreSQL build: load raw into `schemas.raw`, dbt builds marts into `schemas.marts`."""

    name: str  # canary | prod
    kind = "postgres"
    schemas: SchemaSet = field(default_factory=SchemaSet.live)
    sample: bool = False  # load only the deterministic ~10% sample

    def load_raw(self, source: Path, on_table: Callable[[str, int], None] | None = None,
                 date_orders: list[dict[str, Any]] | None = None, copy_from: str | None = None) -> dict[str, int]:
        if copy_from is not None:  # the same source, already loaded on this server: no second read of the file
            return copy_raw_postgres(copy_from, self.schemas.raw, sample=self.sample, on_table=on_table)
        return load_raw_postgres(source, self.schemas.raw, sample=self.sample, on_table=on_table,
                                 date_orders=date_orders)

    @property
    def relation_prefix(self) -> str:
        return f'"{self.schemas.marts}"'

    @property
    def raw_prefix(self) -> str:
        return f'"{self.schemas.raw}"'

    def dbt_env(self) -> dict[str, str]:
        options = session_options() if self.sample else build_options()
        return {"SDRUN_TARGET": self.name, **self.schemas.dbt_env(), "PGOPTIONS": options}

    def dbt_vars(self) -> dict[str, Any]:
        return self.schemas.dbt_vars()

    def query(self, statement: str) -> Sequence[Sequence[Any]]:
        with connection() as con, con.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()

    def describe(self) -> str:
        return f"PostgreSQL {where()} schema {self.schemas.marts}" + (" (10% sample)" if self.sample else "")


def sample_key(spec: TableSpec) -> str:
    """The raw column holding the ticket id in `spec`'s table."""
    if spec.name == SAMPLE_TABLE and spec.key:
        return spec.key
    return next(col for col, parent in spec.references.items() if parent == SAMPLE_TABLE)


def sample_predicate(column: str, engine: str = "duckdb") -> str:
    """SQL of `engine` (duckdb or postgres): true when the trimmed id falls in sample bucket 0 (the
    first 32 bits of its md5, stable everywhere). Both engines pick the same rows from the same text."""
    key = f"coalesce({'btrim' if engine == 'postgres' else 'trim'}(\"{column}\", {WS}), '')"
    if engine == "postgres":
        return f"mod(('x' || substr(md5({key}), 1, 8))::bit(32)::bigint, {SAMPLE_BUCKETS}) = 0"
    return f"mod(cast('0x' || substr(md5({key}), 1, 8) as ubigint), {SAMPLE_BUCKETS}) = 0"


def sample_filter_postgres(table: sql.Composable, column: str) -> sql.Composed:
    """A WHERE condition on PostgreSQL keeping the rows of `table` that sample_predicate keeps, the
    predicate (a trim and an md5) computed once per distinct key, not once per row. At scale 10 the
    comments and timesheets hold 2.5 M rows but about 110 K ticket ids: psql, one core, 1.22 → 0.65 s
    for the comments (the per-row predicate took two parallel workers besides). A NULL key counts as
    '' (sample_predicate's coalesce)."""
    key = sql.Identifier(column)
    return sql.SQL("coalesce({key}, '') in (select coalesce(k, '') from (select distinct {key} as k from {table} "
                   "offset 0) as keys where " + sample_predicate("k", "postgres") + ")").format(key=key, table=table)


def load_raw_postgres(source: Path, raw_schema: str, *, sample: bool = False,
                      on_table: Callable[[str, int], None] | None = None,
                      date_orders: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Copy the source tables as text into a fresh schema `<raw_schema>__load` through DuckDB's
    postgres extension (binary COPY), then replace `raw_schema` with it in one transaction.
    A run killed here leaves the previous `raw_schema` whole (and a `__load` schema the next run drops).
    `on_table(name, rows)` after each table is copied."""
    loading = loading_schema(raw_schema)
    with connection() as pg, pg.cursor() as cur:
        drop_schemas(cur, [loading])
        cur.execute(sql.SQL("create schema {}").format(ident(loading)))
        pg.commit()
    # The copy streams: no ORDER BY (PostgreSQL keeps no row order; the models order by source_row)
    # and the same memory limit as every other DuckDB connection sdrun opens.
    con = duckdb.connect(config={"memory_limit": duckdb_memory_limit(), "preserve_insertion_order": False})
    con.execute("SET enable_progress_bar = false")
    rows: dict[str, int] = {}
    try:
        attach_source(con, source)
        extensions.load(con, "postgres_scanner")
        con.execute("ATTACH '' AS pg (TYPE postgres)")
        for spec in expected_tables():
            where_ = f" WHERE {sample_predicate(sample_key(spec))}" if sample else ""
            copied = con.execute(
                f'CREATE TABLE pg."{loading}"."{spec.name}" AS SELECT * FROM ({source_select(con, spec.name)}){where_}'
            ).fetchone()
            if copied:  # the rows DuckDB's COPY wrote
                rows[spec.name] = int(copied[0])
            if on_table is not None:
                on_table(spec.name, rows.get(spec.name, -1))
        write_date_orders(con, f'pg."{loading}".{DATE_ORDERS_TABLE}', date_orders)
        con.execute("DETACH pg")
    except duckdb.Error as exc:
        raise EnvironmentProblem(f"loading raw into PostgreSQL {where()} failed: {exc}") from None
    finally:
        con.close()
    with connection() as pg, pg.cursor() as cur:
        for name in [spec.name for spec in expected_tables()] + [DATE_ORDERS_TABLE]:
            # DuckDB writes VARCHAR as varchar; text is the same type without a length (no rewrite).
            cur.execute(
                "select column_name from information_schema.columns "
                "where table_schema = %s and table_name = %s and data_type = 'character varying'",
                (loading, name),
            )
            for (col,) in cur.fetchall():
                cur.execute(sql.SQL("alter table {}.{} alter column {} type text").format(
                    ident(loading), ident(name), ident(col)))
            if name != DATE_ORDERS_TABLE and name not in rows:  # counted here only if DuckDB did not say
                cur.execute(sql.SQL("select count(*) from {}.{}").format(ident(loading), ident(name)))
                rows[name] = cur.fetchone()[0]
        _replace_raw(cur, loading, raw_schema)
        pg.commit()
    return rows


def copy_raw_postgres(from_schema: str, raw_schema: str, *, sample: bool = False,
                      on_table: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """The raw tables of `from_schema` (loaded from the source by load_raw_postgres, date_orders
    included) copied on the server into `raw_schema`, the sample only when `sample`: what
    load_raw_postgres would write from the same source, without reading the source file again (the
    canary of a prod run takes its 10% from the full load). Same schema swap at the end."""
    loading = loading_schema(raw_schema)
    rows: dict[str, int] = {}
    with connection() as pg, pg.cursor() as cur:
        drop_schemas(cur, [loading])
        cur.execute(sql.SQL("create schema {}").format(ident(loading)))
        for spec in expected_tables():
            table = sql.SQL("{}.{}").format(ident(from_schema), ident(spec.name))
            where_ = sql.SQL(" where ") + sample_filter_postgres(table, sample_key(spec)) if sample else sql.SQL("")
            cur.execute(sql.SQL("create table {}.{} as select * from {}").format(
                ident(loading), ident(spec.name), table) + where_)
            rows[spec.name] = cur.rowcount
            if on_table is not None:
                on_table(spec.name, cur.rowcount)
        cur.execute(sql.SQL("create table {}.{} as select * from {}.{}").format(
            ident(loading), ident(DATE_ORDERS_TABLE), ident(from_schema), ident(DATE_ORDERS_TABLE)))
        _replace_raw(cur, loading, raw_schema)
        pg.commit()
    return rows


def _replace_raw(cur: Any, loading: str, raw_schema: str) -> None:
    """`raw_schema` replaced by the copy written in `loading` (in the caller's transaction)."""
    drop_schemas(cur, [raw_schema])
    cur.execute(sql.SQL("alter schema {} rename to {}").format(ident(loading), ident(raw_schema)))


def setup_db(read_role: str | None = None, password_env: str = "GRAFANA_RO_PASSWORD") -> list[str]:
    """Idempotent: the ledger schema, and the dashboards' read-only role with USAGE/SELECT on the
    live schema. The role can log in only when `password_env` holds a password (never echoed)."""
    role = read_role or os.environ.get(READ_ROLE_ENV, DEFAULT_READ_ROLE)
    done = []
    with connection() as con:
        ensure_meta(con)
        with con.cursor() as cur:
            password = os.environ.get(password_env)
            if not role_exists(cur, role):
                cur.execute(sql.SQL("create role {} nologin").format(ident(role)))
                done.append(f"created role {role}")
            if password:  # sent hashed (SCRAM): the clear text never reaches the server or its log
                hashed = psycopg2.extensions.encrypt_password(password, role, con, "scram-sha-256")
                cur.execute(sql.SQL("alter role {} login password %s").format(ident(role)), (hashed,))
                done.append(f"role {role} can log in (password from ${password_env})")
            cur.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(ident(role)))
            # the panels' sorts and hash aggregates over 100 K+ tickets in memory, not spilled to disk
            cur.execute(sql.SQL("alter role {} set work_mem = %s").format(ident(role)), (READ_ROLE_WORK_MEM,))
            cur.execute("select current_database()")
            db = cur.fetchone()[0]
            cur.execute(sql.SQL("grant connect on database {} to {}").format(ident(db), ident(role)))
            grant_read(cur, META_SCHEMA, [role])  # the pipeline-runs and data-quality dashboards read the ledger
            done.append(f"granted read on schema {META_SCHEMA} to {role}")
            if schema_exists(cur, LIVE_SCHEMA):
                grant_read(cur, LIVE_SCHEMA, [role])
                done.append(f"granted read on schema {LIVE_SCHEMA} to {role}")
            else:
                done.append(f"no schema {LIVE_SCHEMA} yet: each deploy grants {role} read on the new live schema")
        con.commit()
    return done
