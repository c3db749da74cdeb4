"""Typed errors. The library raises these; the CLI turns them into one `Error: ...` line and an exit code.

Exit codes (DESIGN.md): 0 success; 1 failure (error, nothing published); 2 usage error;
3 a gate halted the run on purpose (circuit breaker, quality score, failing dbt test);
130 / 143 the run was stopped by SIGINT (Ctrl-C) / SIGTERM.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_GATE = 3
EXIT_SIGINT = 130  # stopped by Ctrl-C, as a shell reports it (128 + 2)
EXIT_SIGTERM = 143  # stopped by SIGTERM (128 + 15)


class SdrunError(Exception):
    """Base class: a failure with a message meant for people and a documented exit code."""

    exit_code = EXIT_FAILURE


class SourceError(SdrunError):
    """The source file is missing, not SQLite, corrupt, or lacks expected tables or columns."""


class EnvironmentProblem(SdrunError):
    """The machine lacks something the run needs (extension, disk, memory, binaries)."""


class StepFailed(SdrunError):
    """A pipeline step failed for a reason that is not a deliberate gate (e.g. a dbt model error)."""


class UsageError(SdrunError):
    """Options that do not make sense together, or an output that would be overwritten."""

    exit_code = EXIT_USAGE


class GateHalted(SdrunError):
    """A quality gate stopped the run on purpose: breaker tripped, score too low, a dbt test failed."""

    exit_code = EXIT_GATE

    def __init__(self, message: str, reasons: list[str] | None = None, *, itemize: bool = False) -> None:
        super().__init__(message)
        self.reasons = reasons or []
        # itemize: the CLI prints one `Error:` line per reason (e.g. per tripped breaker rule)
        self.itemize = itemize


class BackupCorrupt(SdrunError):
    """A backup (of the source or of the live marts) does not match its manifest: checksum, missing
    file, failed integrity check."""


class Interrupted(SdrunError):
    """A signal stopped the run (SIGINT: exit 130, SIGTERM: exit 143); its outcome is `interrupted`."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SourceModified(SdrunError):
    """The source's SHA-256 changed during a run: this must never happen."""
