"""`sdrun`: the command line. Thin: each command parses options and calls the library.

One error boundary: library errors (orchestrator.errors) become a single `Error: ...` line on
stderr and their documented exit code; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from .errors import EXIT_FAILURE, SdrunError

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
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback with local values
            if _state["debug"]:
                raise
            typer.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    _state["debug"] = debug


@app.command()
@handles_errors
def setup() -> None:
    """Install the DuckDB extensions from their PyPI packages (offline); safe to run again."""
    from . import extensions

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
) -> None:
    """Write a realistic demo source with the defects a real export brings."""
    from .demo_data import generate

    summary = generate(out, scale=scale, seed=seed, force=force)
    if manifest is not None:
        summary.write_manifest(manifest)
    typer.echo(summary.describe())


def _parse_vars(pairs: list[str]) -> dict[str, Any]:
    """`--var day_first=false` → {"day_first": False}; values are read as YAML scalars."""
    import yaml

    from .errors import UsageError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--var {pair!r}: expected NAME=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


@app.command()
@handles_errors
def full(
    source: Path = typer.Option(..., "--source", help="The SQLite export (never modified)."),
    target: str = typer.Option("dev", "--target", help="dev (DuckDB, default), canary or prod."),
    var: list[str] = typer.Option([], "--var", help="dbt variable NAME=VALUE, e.g. day_first=false (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
) -> None:
    """Run every gate in order: check, load raw, dbt build (tests are the gate), report."""
    from .pipeline import full as run_full

    outcome = run_full(source, target_name=target, dbt_vars=_parse_vars(var) or None, quiet=quiet)
    typer.echo("\n".join(outcome.summary))
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
    from . import profile as gate
    from .errors import EXIT_GATE

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


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
