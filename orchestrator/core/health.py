"""Health: free disk and memory, checked between steps and watched during long steps.

A run stops *before* the machine runs out: when free disk (on any folder the run writes to) or
available memory falls under its threshold, `check()` raises `ResourceLow` (exit 1) with one clear
line. During a long step a `Watchdog` thread polls the same figures and calls `on_trip` (e.g.
`duckdb_connection.interrupt`, or terminating dbt) so the step stops mid-way; its transaction
rolls back and nothing is published.

ResourceLimits, in MiB, from the environment:

- ``SDRUN_MIN_FREE_DISK_MB``   (default 1024): free space that must remain on every folder the run writes
- ``SDRUN_MIN_FREE_MEMORY_MB`` (default 256): memory that must remain available (psutil's `available`)
- ``SDRUN_HEALTH_INTERVAL``    (default 0.5): seconds between two polls of the watchdog
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

from orchestrator.core.errors import EnvironmentProblem, UsageError

DEFAULT_MIN_FREE_DISK_MB = 1024
DEFAULT_MIN_FREE_MEMORY_MB = 256
MB = 1 << 20


class ResourceLow(EnvironmentProblem):
    """Free disk or memory fell under its threshold: the run stopped before running out."""


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r}: expected a number") from None
    if value < 0:
        raise UsageError(f"{name}={raw!r}: must not be negative")
    return value


@dataclass(frozen=True)
class ResourceLimits:
    min_free_disk_mb: float = DEFAULT_MIN_FREE_DISK_MB
    min_free_memory_mb: float = DEFAULT_MIN_FREE_MEMORY_MB
    interval: float = 0.5

    @classmethod
    def from_env(cls) -> ResourceLimits:
        return cls(
            min_free_disk_mb=_env_number("SDRUN_MIN_FREE_DISK_MB", DEFAULT_MIN_FREE_DISK_MB),
            min_free_memory_mb=_env_number("SDRUN_MIN_FREE_MEMORY_MB", DEFAULT_MIN_FREE_MEMORY_MB),
            interval=max(0.05, _env_number("SDRUN_HEALTH_INTERVAL", 0.5)),
        )


def existing_ancestor(path: Path) -> Path:
    """The folder itself or its nearest existing parent (disk_usage needs an existing path)."""
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def free_disk_mb(path: Path) -> float:
    return psutil.disk_usage(str(existing_ancestor(path))).free / MB


def available_memory_mb() -> float:
    return float(psutil.virtual_memory().available) / MB


def problems(paths: Iterable[Path], thresholds: ResourceLimits | None = None) -> list[str]:
    """What is too low right now, as sentences; empty when healthy."""
    t = thresholds or ResourceLimits.from_env()
    out = []
    seen: set[int] = set()
    for path in paths:
        anchor = existing_ancestor(path)
        dev = anchor.stat().st_dev
        if dev in seen:  # one check per filesystem
            continue
        seen.add(dev)
        free = free_disk_mb(anchor)
        if free < t.min_free_disk_mb:
            out.append(
                f"free disk on {anchor} is {free:,.0f} MB, under the {t.min_free_disk_mb:,.0f} MB minimum "
                "(SDRUN_MIN_FREE_DISK_MB)"
            )
    mem = available_memory_mb()
    if mem < t.min_free_memory_mb:
        out.append(
            f"available memory is {mem:,.0f} MB, under the {t.min_free_memory_mb:,.0f} MB minimum "
            "(SDRUN_MIN_FREE_MEMORY_MB)"
        )
    return out


def check(paths: Iterable[Path], *, where: str = "", thresholds: ResourceLimits | None = None) -> None:
    """Raise ResourceLow unless free disk on every path and available memory are above the thresholds."""
    found = problems(paths, thresholds)
    if found:
        prefix = f"stopped {where}: " if where else "stopped: "
        raise ResourceLow(prefix + "; ".join(found) + "; nothing was published")


class Watchdog:
    """Poll disk and memory in a thread while a long step runs; on trouble call `on_trip` once.

    `with Watchdog(paths, on_trip=con.interrupt, where="during load") as dog: ...` then, whether
    the body raised or not, leaving the block raises ResourceLow if the watchdog tripped.
    """

    def __init__(
        self,
        paths: Iterable[Path],
        *,
        on_trip: Callable[[], object] | None = None,
        where: str = "",
        thresholds: ResourceLimits | None = None,
    ) -> None:
        self.paths = list(paths)
        self.on_trip = on_trip
        self.where = where
        self.thresholds = thresholds  # None: read from the environment at every poll
        self.tripped: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sdrun-health", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait((self.thresholds or ResourceLimits.from_env()).interval):
            found = problems(self.paths, self.thresholds)
            if found:
                self.tripped = found
                if self.on_trip is not None:
                    with contextlib.suppress(Exception):  # the step is still stopped by __exit__'s raise
                        self.on_trip()
                return

    def __enter__(self) -> Watchdog:
        check(self.paths, where=f"before {self.where}" if self.where else "", thresholds=self.thresholds)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        if self.tripped:
            prefix = f"stopped {self.where}: " if self.where else "stopped: "
            raise ResourceLow(prefix + "; ".join(self.tripped) + "; nothing was published") from exc
