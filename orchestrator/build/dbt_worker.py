"""One dbt process for a whole run: dbt imported once, each project parsed once, the manifest reused.

`sdrun full` runs dbt several times (preflight's `dbt parse`, on prod the canary's `dbt build` and
the full build); as separate processes each paid dbt's import, a partial parse and its exit (about
2.5 s each). build/dbt.py starts this script once per run (`dbt_session`) and sends it one command
per line on stdin, as JSON: {"args": [...], "env": {...}, "cwd": "...", "key": "..."}. It runs each
with dbt's programmatic runner (`dbtRunner`) in this process, its console events going to stdout
as the dbt CLI's would (`--log-format json`), and ends each with one line
{"sdrun_dbt_done": {"returncode": N}} (0 success, 1 failures, 2 an error, as the dbt CLI's).

`key` names what a manifest depends on (the project, the profile's environment, the vars): the
manifest a `parse` returns is kept under its key, and the next command with that key runs on it
instead of parsing again. A command with no kept manifest parses as the dbt CLI does (partial
parse from its target path). The script imports nothing of sdrun: it runs as a file, by path, with
`python -P` (its folder is not on sys.path, where build/dbt.py would hide the dbt package).

Four changes to how dbt runs, none to what it runs: a unit test's fixtures go in front of its model
without sqlparse (`_faster_unit_tests`), each thread keeps its PostgreSQL connection from one node
to the next (`_reuse_connections`), each Jinja text is compiled once (`_compiled_once`), and the JSON
schemas dbt validates parsed nodes with are kept between processes (`_json_schemas_kept`).

It dies with sdrun (PR_SET_PDEATHSIG, set by its parent before exec) and stops at the end of its
input; SIGINT (Ctrl-C) interrupts dbt as in the CLI (open queries cancelled), SIGTERM ends it. Between
commands it holds no database file open (`_release_files`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DONE = "sdrun_dbt_done"  # build/dbt.py reads it from here: the key of the line that ends a command


def _returncode(res: Any) -> int:
    if res.success:
        return 0
    return 2 if res.exception is not None else 1


def _release_files() -> None:
    """dbt-duckdb keeps its DuckDB database open for the life of the process (a class-level
    environment, closed at exit); between commands sdrun itself writes that file (the raw load),
    and DuckDB lets one process at a time open it for writing: close it after each command."""
    conns = sys.modules.get("dbt.adapters.duckdb.connections")
    if conns is None:
        return
    manager = conns.DuckDBConnectionManager
    with manager._LOCK:
        env, manager._ENV = manager._ENV, None
        if env is not None:
            env.close()


_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)  # whitespace and comments
_WITH = re.compile(r"with(?![\w$#])", re.I)  # the keyword, as sqlparse reads a word
_SPACE = re.compile(r"\s*")
_RECURSIVE = re.compile(r"recursive(?![\w$#])", re.I)


def inject_after_leading_with(sql: str, ctes: list[Any]) -> str | None:
    """What dbt's `inject_ctes_into_sql` returns for a query that opens (after comments) with
    `WITH`: the CTEs' text where the first token after that keyword's whitespace was, then ", ", then
    the rest, unchanged. None for any other query (another first keyword, WITH RECURSIVE, a ';'
    anywhere): dbt's own function takes those."""
    if ";" in sql:
        return None
    start = _LEADING.match(sql).end()  # type: ignore[union-attr]  # the pattern matches the empty string
    keyword = _WITH.match(sql, start)
    if keyword is None:
        return None
    at = _SPACE.match(sql, keyword.end()).end()  # type: ignore[union-attr]
    if _RECURSIVE.match(sql, at):
        return None
    return sql[:at] + ", ".join(c.sql for c in ctes) + ", " + sql[at:]


def _faster_unit_tests() -> None:
    """dbt puts a unit test's fixtures in front of its model's compiled SQL by parsing all of that SQL
    with sqlparse (dbt/compilation.py `inject_ctes_into_sql`), only to find its leading WITH: 0.2 s for
    each staging model but the tickets' (0.66 s; its four timestamp columns compile to 72 kB), again for
    each of the 8 unit tests, on one core under the GIL. The models all open with WITH: that case is
    found without parsing (the same text: pytest_tests/test_dbt_worker.py); any other goes to dbt."""
    import dbt.compilation as compilation

    dbts = compilation.inject_ctes_into_sql

    def inject_ctes_into_sql(sql: str, ctes: list[Any]) -> str:
        fast = inject_after_leading_with(sql, ctes) if ctes else None
        return dbts(sql, ctes) if fast is None else fast

    compilation.inject_ctes_into_sql = inject_ctes_into_sql


def _reuse_connections() -> None:
    """dbt closes a node's database connection when the node ends, and the next node on the thread
    opens a new one: on PostgreSQL a new server process for each of the build's ~120 nodes, and a
    canary build that waits on dbt's own thread. A PostgreSQL connection that is still open is kept
    for the thread's next node instead (dbt renames and reuses it: `set_connection_name`), after a
    rollback of whatever transaction the node left open; dbt closes them all at the end of the command
    (`cleanup_all`). A broken connection is closed as before. What a node leaves in its session (a
    `SET` in a hook) reaches the next node on that thread, as with dbt-snowflake's reuse_connections."""
    from dbt.adapters.postgres.connections import PostgresConnectionManager

    close_release = PostgresConnectionManager.release

    def release(self: Any) -> None:
        conn = self.get_if_exists()
        if conn is None or conn.state != "open" or conn.handle is None or getattr(conn.handle, "closed", 1):
            close_release(self)
            return
        try:
            self.rollback_if_open()
        except Exception:  # noqa: BLE001  (a connection that cannot roll back is closed, as dbt would)
            close_release(self)

    PostgresConnectionManager.release = release  # type: ignore[method-assign]


def _compiled_once() -> None:
    """dbt compiles a node's Jinja text into Python code afresh each time it renders it: once in the
    parse, again in the canary's build and again in the full build, and each generic test's one-line
    text once per test. The compiled code depends on the text and on the environment, and dbt builds
    every environment of a class the same way (`get_environment`: the same extensions and filters; a
    parse's `capture_macros` changes only the undefined type, which the code looks up when it runs).
    So this process compiles each text once per environment class (text or native) and hands the same
    code to the next template of that text. At scale 10 dbt's CPU over a prod run went down by about
    0.8 s (three interleaved pairs; the compiled and run SQL of both builds was the same)."""
    from dbt_common.clients import jinja as dbt_jinja

    compiled: dict[tuple[type, str], Any] = {}
    jinjas: Any = dbt_jinja.MacroFuzzEnvironment.compile  # the native environment is its subclass

    def compile(self: Any, source: Any, name: str | None = None, filename: str | None = None,
                raw: bool = False, defer_init: bool = False) -> Any:
        if not isinstance(source, str) or name is not None or filename is not None or raw or defer_init:
            return jinjas(self, source, name, filename, raw, defer_init)
        key = (type(self), source)
        code = compiled.get(key)
        if code is None:  # a text that does not compile raises here, and nothing is kept
            code = compiled[key] = jinjas(self, source)
        return code

    dbt_jinja.MacroFuzzEnvironment.compile = compile  # type: ignore[method-assign]


SCHEMA_PACKAGES = ("dbt-core", "dbt-common", "dbt-adapters", "dbt-postgres", "dbt-duckdb", "mashumaro")


def schema_cache_file() -> Path | None:
    """Where `_json_schemas_kept` keeps the schemas: the user's cache folder ($XDG_CACHE_HOME, else
    ~/.cache) / sdrun, one file per set of the packages' versions and Python's (the schemas follow from
    them alone). None when a package's version cannot be read."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = [f"{name}=={version(name)}" for name in SCHEMA_PACKAGES]
    except PackageNotFoundError:
        return None
    versions.append(f"python=={sys.version_info[0]}.{sys.version_info[1]}")
    digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sdrun" / f"dbt-json-schemas-{digest}.json"


def _json_schemas_kept(path: Path | None) -> Callable[[], None]:
    """dbt validates each node it parses against its class's JSON schema (`dbtClassMixin.validate`),
    which mashumaro builds on the first use of the class in a process: 0.8 of the 2.9 CPU-seconds of a
    full parse of this project (21 classes), the parse a run makes in a new `SDRUN_HOME` or a new
    database. The schemas depend on the installed packages only, so they are kept in `path`
    (schema_cache_file) and read from it at start; a class not in it is built as dbt builds it. Returns
    the function that writes the file when a command built any (atomically; a file that cannot be read
    or written only costs the build)."""
    from dbt_common.dataclass_schema import dbtClassMixin

    kept: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                kept.update(loaded)
        except (OSError, ValueError):
            pass
    built: set[str] = set()
    dbts = dbtClassMixin.__dict__["json_schema"].__func__  # dbt's own: built once per class (lru_cache)

    def json_schema(cls: type) -> Any:
        key = f"{cls.__module__}.{cls.__qualname__}"
        schema = kept.get(key)
        if schema is None:
            schema = kept[key] = dbts(cls)
            built.add(key)
        return schema

    dbtClassMixin.json_schema = classmethod(json_schema)  # type: ignore[assignment,method-assign]

    def write() -> None:
        if path is None or not built:
            return
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(kept), encoding="utf-8")
            tmp.replace(path)
            built.clear()
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    return write


def derive_manifest(manifest: Any, schemas: dict[str, str]) -> Any | None:
    """A copy of a parsed `manifest` built into other schemas: `schemas` maps each schema sdrun named
    for the parsed target to its counterpart (marts, staging, raw); a schema dbt derives from one of
    them (`<marts>_dbt_test__audit`) moves with it. Nothing else in a parse depends on them (prod's
    canary stage: the two targets differ in their schemas only, and the canary builds what prod
    parsed, `target.name` included). None, and a parse of its own, when a node, source or unit test
    is in a schema the map does not name, or its relation is not written `"db"."schema"."name"`."""
    olds = sorted(schemas, key=len, reverse=True)

    def moved(schema: str) -> str | None:
        if schema in schemas:
            return schemas[schema]
        prefix = next((old for old in olds if schema.startswith(old + "_")), None)
        return None if prefix is None else schemas[prefix] + schema[len(prefix):]

    copy = manifest.deepcopy()
    for node in (*copy.nodes.values(), *copy.sources.values(), *copy.unit_tests.values()):
        new = moved(node.schema)
        if new is None:
            return None
        relation = getattr(node, "relation_name", None)
        if relation is not None:
            written = f'"{node.database}"."{node.schema}".'
            if not relation.startswith(written):
                return None
            node.relation_name = f'"{node.database}"."{new}".' + relation[len(written):]
        node.schema = new
    copy.build_flat_graph()  # the `graph` context variable, with the new schemas
    return copy


def main() -> int:
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    _faster_unit_tests()
    _reuse_connections()
    _compiled_once()
    keep_schemas = _json_schemas_kept(schema_cache_file())

    manifests: dict[str, Manifest] = {}
    base_env = dict(os.environ)
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        os.environ.clear()
        os.environ.update({**base_env, **cmd.get("env", {})})
        os.chdir(cmd["cwd"])
        args: list[str] = cmd["args"]
        key = cmd.get("key")
        derive = cmd.get("derive")  # a parse that copies another key's manifest into other schemas
        if derive and key and args[0] == "parse" and derive["from"] in manifests:
            derived = derive_manifest(manifests[derive["from"]], derive["schemas"])
            if derived is not None:
                manifests[key] = derived
                sys.stdout.write(f"the manifest copied from the parse of {derive['target']}, into schemas "
                                 + ", ".join(sorted(set(derive["schemas"].values()))) + "\n")
                sys.stdout.write(json.dumps({DONE: {"returncode": 0}}) + "\n")
                sys.stdout.flush()
                continue
        manifest = manifests.pop(key, None) if key else None  # a build may change what it was given
        try:
            res = dbtRunner(manifest=manifest).invoke(args)
        finally:
            _release_files()
            keep_schemas()
        if key and args[0] == "parse" and res.success and isinstance(res.result, Manifest):
            manifests[key] = res.result
        if isinstance(res.exception, KeyboardInterrupt):
            raise res.exception
        sys.stdout.flush()
        sys.stdout.write(json.dumps({DONE: {"returncode": _returncode(res)}}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main()
    # Each command closed its connections (dbt's cleanup) and its database files (_release_files), and
    # the logs are written line by line: nothing is left for the interpreter's teardown, which with dbt
    # loaded took about 0.4 s that every run waited for at its end.
    sys.stdout.flush()
    os._exit(code)
