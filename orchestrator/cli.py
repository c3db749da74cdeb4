"""`sdrun`: the command line. Thin: each command parses options and calls one function of the
library. The settings (where runs, backups and the dev warehouse live) are read once, in the root
callback, and reach each command as `ctx.obj`; `--target` is a choice type checked by the target
registry (orchestrator/targets).

One error boundary: library errors (orchestrator.errors) become a single `Error: ...` line on
stderr and their documented exit code; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from orchestrator import targets
from orchestrator.core.errors import EXIT_FAILURE, GateHalted, SdrunError, UsageError
from orchestrator.core.redact import redact
from orchestrator.core.settings import Settings

app = typer.Typer(
    name="sdrun",
    help="Service-desk exports to clean, tested tables: profile, load, build, deploy.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])
_state = {"debug": False}


def handles_errors(fn: F) -> F:
    """Turn a library error into one `Error:` line and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SdrunError as exc:
            if _state["debug"]:
                raise
            if isinstance(exc, GateHalted) and exc.itemize and exc.reasons:
                for reason in exc.reasons:
                    typer.echo(redact(f"Error: {reason}"), err=True)
            else:
                typer.echo(redact(f"Error: {exc}"), err=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, BrokenPipeError):
            raise  # BrokenPipeError (`sdrun status | head`): click ends quietly
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback with local values
            if _state["debug"]:
                raise
            line = f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)"
            typer.echo(redact(line), err=True)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


def _target_name(value: str) -> str:
    """`--target`: a name of the target registry (orchestrator/targets: dev, canary, prod)."""
    try:
        return targets.check_name(value)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None


def target_option(help: str) -> Any:
    return typer.Option("dev", "--target", parser=_target_name, metavar="|".join(targets.NAMES), help=help)


@app.callback()
def _root(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    _state["debug"] = debug
    ctx.obj = Settings.from_env()


@app.command()
@handles_errors
def setup() -> None:
    """Install the DuckDB extensions from their PyPI packages (offline); safe to run again."""
    from orchestrator.core import extensions

    done = extensions.ensure_installed()
    typer.echo(f"DuckDB extensions installed: {', '.join(done)}" if done else "DuckDB extensions present.")


@app.command("demo-data")
@handles_errors
def demo_data(
    out: Path = typer.Option(..., "--out", help="SQLite file to write."),
    scale: float = typer.Option(1.0, "--scale", help="1 = 10,939 tickets, 108,129 comments, 141,062 timesheets."),
    seed: int = typer.Option(42, "--seed", help="Same seed, same file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    manifest: Path | None = typer.Option(  # noqa: B008 (typer's idiom)
        None, "--manifest", help="Also write the rows and exact injected-defect counts as JSON here."
    ),
    xlsx: bool = typer.Option(False, "--xlsx", help="Also write the data as XLSX exports (tickets.xlsx, ...)."),
    xlsx_dir: Path | None = typer.Option(  # noqa: B008
        None, "--xlsx-dir", help="Folder for the XLSX files (implies --xlsx; default: <out>_xlsx next to --out)."
    ),
) -> None:
    """Write a realistic demo source with the defects a real export brings."""
    from orchestrator.demo.generator import generate

    if xlsx or xlsx_dir is not None:
        from orchestrator.demo.xlsx import check_free, export_xlsx

        xlsx_dir = xlsx_dir or out.with_name(f"{out.stem}_xlsx")
        check_free(xlsx_dir, force=force)
    from orchestrator.core.progress import Progress

    with Progress("demo data", unit="rows") as bar:
        summary = generate(out, scale=scale, seed=seed, force=force, progress=bar.update)
    if manifest is not None:
        summary.write_manifest(manifest)
    typer.echo(summary.describe())
    if xlsx_dir is not None:
        files = export_xlsx(out, xlsx_dir, force=force)
        typer.echo(f"Wrote {', '.join(p.name for p in files.values())} in {xlsx_dir} (real date cells and text dates).")


@app.command("import")
@handles_errors
def import_xlsx(
    ctx: typer.Context,
    from_: Path | None = typer.Option(  # noqa: B008
        None, "--from", help="The export: a folder of tickets*/comments*/timesheets*.xlsx or .csv, a .csv file, or "
        "(with --into) a SQLite export in the reference layout."
    ),
    tickets: Path | None = typer.Option(None, "--tickets", help="The tickets workbook or CSV (overrides --from)."),  # noqa: B008
    comments: Path | None = typer.Option(None, "--comments", help="The comments workbook or CSV."),  # noqa: B008
    timesheets: Path | None = typer.Option(None, "--timesheets", help="The timesheets workbook or CSV."),  # noqa: B008
    out: Path | None = typer.Option(None, "--out", help="The SQLite source to create."),  # noqa: B008
    into: Path | None = typer.Option(  # noqa: B008
        None, "--into", help="The history to merge the export into (created on the first import)."
    ),
    mapping: str | None = typer.Option(
        None, "--mapping", help="Another tool's column names (CSV or XLSX): a shipped mapping (servicenow, jira) "
        "or a mapping FILE.yml (orchestrator/source/mappings/README.md)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out; merge an export --into "
                               "already lists."),
) -> None:
    """Land an export in a new SQLite source (--out), or merge it into a history (--into)."""
    if (out is None) == (into is None):
        raise UsageError("give --out SOURCE.db (a new source) or --into HISTORY.db (merge into a history)")
    given = {"tickets": tickets, "comments": comments, "timesheets": timesheets}
    if into is not None:
        from orchestrator.source.history import import_into

        landed: list[str] = []
        merged = import_into(from_, into, backups_dir=ctx.obj.backups_dir, files=given, force=force,
                             mapping=mapping, landed=landed)
        typer.echo("\n".join(landed + merged.describe()))
        return
    from orchestrator.source import csv_export

    assert out is not None
    the_mapping = csv_export.load_mapping(mapping) if mapping is not None else None
    if csv_export.is_csv_input(from_, given):
        landed_csv = csv_export.import_csv(csv_export.csv_files(from_, given, the_mapping), out,
                                           mapping=the_mapping, force=force)
        typer.echo("\n".join(landed_csv.describe()))
        return
    from orchestrator.source.xlsx import import_xlsx as run_import
    from orchestrator.source.xlsx import input_files

    result = run_import(input_files(from_, given, the_mapping), out, force=force, mapping=the_mapping)
    typer.echo("\n".join(result.describe()))


@app.command()
@handles_errors
def full(
    ctx: typer.Context,
    source: Path = typer.Option(..., "--source", help="The SQLite export (never modified)."),
    target: str = target_option("dev (DuckDB, default), canary or prod."),
    var: list[str] = typer.Option([], "--var", help="dbt variable NAME=VALUE, e.g. day_first=false (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
    skip_canary: bool = typer.Option(False, "--skip-canary", help="prod: no canary stage first."),
    keep: bool = typer.Option(False, "--keep", help="canary: keep the servicedesk_canary schemas."),
    force: bool = typer.Option(False, "--force", help="prod: build a new version even from the live one's source."),
    keep_versions: int | None = typer.Option(
        None, "--keep-versions", help="prod: previous versions kept for rollback (default SDRUN_KEEP_VERSIONS or 2)."
    ),
    allow_shrink: bool = typer.Option(
        False, "--allow-shrink", help="prod: deploy even when rows of the live version are missing from the new "
        "build (a deliberate replacement; else SDRUN_MAX_ROWS_DROP_SHARE, default 0, halts it with exit 3)."
    ),
) -> None:
    """Run every gate in order: check, load raw, dbt build (tests are the gate), report.

    canary and prod (PostgreSQL, libpq variables PGHOST...): prod builds a new version, tests it,
    backs up the live schema and swaps atomically; see `sdrun status`, `sdrun rollback`."""
    from orchestrator.build.project_vars import parse_vars

    dbt_vars = parse_vars(var) or None
    if targets.engine(target) == "postgres":
        from orchestrator.deploy.flow import DeployOptions
        from orchestrator.deploy.flow import full as run_deploy

        options = DeployOptions(skip_canary=skip_canary, keep=keep, force=force, allow_shrink=allow_shrink)
        if keep_versions is not None:
            options.keep_versions = keep_versions
        outcome = run_deploy(source, target_name=target, settings=ctx.obj, dbt_vars=dbt_vars, quiet=quiet,
                             options=options)
    else:
        from orchestrator.run.dev import full as run_dev

        outcome = run_dev(source, settings=ctx.obj, dbt_vars=dbt_vars, quiet=quiet)
    typer.echo(redact("\n".join(outcome.summary)))
    if outcome.error is not None:
        raise outcome.error


@app.command()
@handles_errors
def profile(
    source: Path = typer.Option(..., "--source", help="Any SQLite file (opened read-only)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the profile as JSON here."),  # noqa: B008
    html_out: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),  # noqa: B008
    day_first: bool | None = typer.Option(
        None, "--day-first/--month-first", help="Day/month order to expect (default: dbt var day_first)."
    ),
    max_unparseable: float | None = typer.Option(
        None, "--max-unparseable-date-share", help="Halt above this share of bad dates in a column (0.20)."
    ),
    max_mismatch: float | None = typer.Option(
        None, "--max-type-mismatch-share", help="Halt above this share of type-mismatched columns (0.10)."
    ),
    min_score: float | None = typer.Option(None, "--min-score", help="Halt under this quality score (80)."),
    halt_on_order: bool | None = typer.Option(
        None, "--halt-on-order-conflict/--no-halt-on-order-conflict", help="Halt on day/month evidence "
        "against the configured order (default: halt). Each threshold also reads SDRUN_BREAKER_<NAME>.",
    ),
) -> None:
    """Gate 1: profile every value of a SQLite file; exit 3 when the circuit breaker trips."""
    from orchestrator import profile as gate
    from orchestrator.core.errors import EXIT_GATE

    thresholds = gate.Thresholds.from_env(
        max_unparseable_date_share=max_unparseable, max_type_mismatch_share=max_mismatch,
        min_score=min_score, halt_on_order_conflict=halt_on_order,
    )  # fmt: skip
    result = gate.profile_source(source, day_first=day_first, thresholds=thresholds)
    if json_out:
        gate.write_json(result, json_out)
    if html_out:
        gate.write_html(result, html_out)
    gate.print_summary(result)
    for trip in result["breaker"]["trips"]:
        typer.echo(f"Error: {trip['message']}", err=True)
    if result["breaker"]["halted"]:
        raise typer.Exit(EXIT_GATE)


@app.command("setup-db")
@handles_errors
def setup_db(
    read_role: str | None = typer.Option(
        None, "--read-role", help="Read-only role (default SDRUN_READ_ROLE or grafana_ro)."
    ),
    password_env: str = typer.Option(
        "GRAFANA_RO_PASSWORD", "--password-env", help="Environment variable holding that role's password."
    ),
) -> None:
    """PostgreSQL (libpq variables): the run ledger and the dashboards' read-only role; safe to run again."""
    from orchestrator.targets.postgres import setup_db as run_setup

    typer.echo("\n".join(run_setup(read_role, password_env)))


def _json_out(payload: Any) -> None:
    import json

    typer.echo(redact(json.dumps(payload, indent=2, default=str)))


@app.command()
@handles_errors
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """PostgreSQL: the live version, the kept ones, the last runs and backups."""
    from orchestrator.deploy.ledger import status as get_status

    st = get_status(ctx.obj)
    if as_json:
        _json_out(st)
        return
    live = st["live"]
    typer.echo(f"database  {st['database']}")
    if live:
        typer.echo(f"live      servicedesk = version {live['version']} (since {live['live_since']:%Y-%m-%d %H:%M:%S}, "
                   f"source sha256 {(live['source_sha256'] or '?')[:12]}…)")
    else:
        typer.echo("live      " + ("servicedesk (not built by sdrun)" if st["live_schema_present"] else "none"))
    for v in st["kept"]:
        typer.echo(f"kept      {v['schema']}" + ("" if v["present"] else "  (MISSING)"))
    for r in st["runs"]:
        typer.echo(f"run       {r['run_id']}  {r['target']:<6} {r['outcome']:<9} {r['version'] or ''}")
    for b in st["backups"]:
        typer.echo(f"backup    {b['path']}  {b['schema']} version {b['version']}  sha256 {b['sha256'][:12]}…")


@app.command()
@handles_errors
def history(
    limit: int = typer.Option(20, "--limit", help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """PostgreSQL: the run ledger (sdrun_meta.runs)."""
    from orchestrator.deploy.ledger import history as get_history

    rows = get_history(limit)
    if as_json:
        _json_out(rows)
        return
    typer.echo(f"{'run_id':<22} {'target':<6} {'outcome':<9} {'started':<19} {'secs':>6} {'source':<12} counts")
    for r in rows:
        secs = (r["finished_at"] - r["started_at"]).total_seconds() if r["finished_at"] else None
        tables = (r["counts"] or {}).get("tables", {})
        counts = ", ".join(f"{t} {c['marts']:,}" for t, c in tables.items())
        typer.echo(f"{r['run_id']:<22} {r['target']:<6} {r['outcome']:<9} {r['started_at']:%Y-%m-%d %H:%M:%S} "
                   f"{secs if secs is None else round(secs, 1)!s:>6} {(r['source_sha256'] or '')[:12]:<12} {counts}")


@app.command()
@handles_errors
def rollback(
    to: str | None = typer.Option(None, "--to", help="A kept version (default: the one before the live one)."),
) -> None:
    """PostgreSQL: make the previous version live again, in one transaction."""
    from orchestrator.deploy.versions import rollback as run_rollback

    out = run_rollback(to)
    typer.echo(f"live: servicedesk = version {out['live_version']}"
               + (f" (version {out['previous_version']} kept)" if out["previous_version"] else ""))


@app.command()
@handles_errors
def restore(
    ctx: typer.Context,
    backup: str = typer.Argument(..., help="Backup folder, its name (pg-<run_id>) or the run id."),
    into: str = typer.Option(..., "--into", help="New schema to restore into (never the live one)."),
) -> None:
    """PostgreSQL: verify a backup's SHA-256 and restore it into a new schema."""
    from orchestrator.deploy.pgbackup import find_backup
    from orchestrator.deploy.pgbackup import restore as run_restore

    out = run_restore(find_backup(backup, ctx.obj.backups_dir), into)
    typer.echo(f"restored {out['from']} into schema {out['schema']} (sha256 verified): "
               + ", ".join(f"{t} {n:,}" for t, n in out["tables"].items()))


@app.command()
@handles_errors
def preflight(
    ctx: typer.Context,
    source: Path = typer.Option(..., "--source", help="The SQLite export (or XLSX folder) to check."),
    target: str = target_option("dev, canary or prod (PostgreSQL: libpq variables)."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Gate 0: check the input and the machine (PASS, WARN, FAIL each); any FAIL exits 1."""
    from orchestrator.run import preflight as gate

    checks = gate.run_checks(source, target, ctx.obj)
    if as_json:
        _json_out(gate.to_json(checks, source, target))
    else:
        for c in checks:
            typer.echo(f"{c.status:<4}  {c.name:<22} {c.detail}")
    gate.raise_on_fail(checks)


@app.command()
@handles_errors
def backup(
    ctx: typer.Context,
    source: Path = typer.Option(..., "--source", help="The SQLite source to copy (opened read-only)."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Copy the source through SQLite's online backup API into backups/, with a SHA-256 manifest."""
    from orchestrator.core.progress import Progress
    from orchestrator.source.backups import backup_source

    with Progress("backup", unit="bytes") as bar:
        made, _ = backup_source(source, ctx.obj.backups_dir, progress=bar.update)
    if as_json:
        _json_out(made.to_dict())
        return
    m = made.manifest
    typer.echo(f"backed up {source} to {made.file} ({m['bytes']:,} bytes, sha256 {m['sha256']}, {m['seconds']:.2f}s)")


backups_app = typer.Typer(help="Source backups: list, verify, prune, restore.", no_args_is_help=True)
app.add_typer(backups_app, name="backups")


@backups_app.command("list")
@handles_errors
def backups_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """The source backups, oldest first."""
    from orchestrator.source.backups import list_backups

    found = list_backups(ctx.obj.backups_dir)
    if as_json:
        _json_out([b.to_dict() for b in found])
        return
    for b in found:
        m = b.manifest
        typer.echo(f"{b.folder.name}  {m['created_at']}  {m['bytes']:>12,} bytes  sha256 {m['sha256'][:12]}…  "
                   f"{m.get('source_path', '')}")
    if not found:
        typer.echo("no source backups")


@backups_app.command("verify")
@handles_errors
def backups_verify(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Backups to verify (default: all)."),  # noqa: B008
) -> None:
    """Recompute each backup's SHA-256 and run PRAGMA quick_check; exit 1 if any is corrupt."""
    from orchestrator.source.backups import BackupCorrupt, find_backup, list_backups, verify

    home = ctx.obj.backups_dir
    todo = [find_backup(n, home) for n in names] if names else list_backups(home)
    bad = []
    for b in todo:
        try:
            verify(b)
            typer.echo(f"OK       {b.folder.name}  sha256 {b.manifest['sha256'][:12]}…")
        except BackupCorrupt as exc:
            bad.append(str(exc))
            typer.echo(f"CORRUPT  {b.folder.name}  {exc}")
    if bad:
        raise BackupCorrupt(f"{len(bad)} of {len(todo)} backup(s) corrupt: " + "; ".join(bad))
    if not todo:
        typer.echo("no source backups")


@backups_app.command("prune")
@handles_errors
def backups_prune(
    ctx: typer.Context,
    keep_days: float = typer.Option(..., "--keep-days", help="Remove backups older than this (the newest stays)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
) -> None:
    """Remove source backups older than --keep-days; the newest one is always kept."""
    from orchestrator.source.backups import prune

    gone = prune(ctx.obj.backups_dir, keep_days, dry_run=dry_run)
    for b in gone:
        typer.echo(("would remove " if dry_run else "removed ") + f"{b.folder.name}  ({b.manifest['created_at']})")
    typer.echo(f"{len(gone)} backup(s) {'to remove' if dry_run else 'removed'}")


@backups_app.command("restore")
@handles_errors
def backups_restore(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The backup (folder name or path)."),
    to: Path = typer.Option(..., "--to", help="The file to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Verify a source backup's SHA-256, then write it to --to (never over a file without --force)."""
    from orchestrator.source.backups import find_backup, restore

    out = restore(find_backup(name, ctx.obj.backups_dir), to, force=force)
    typer.echo(f"restored {out['from']} to {out['to']} ({out['bytes']:,} bytes, sha256 {out['sha256'][:12]}… verified)")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
