"""Progress of long steps (demo data, load, build, backup).

On a terminal (stderr is a TTY) a rich progress bar shows done/total, the rate and the ETA. Anywhere
else (CI, a pipe, a log file) there is no bar: a line is emitted at most every `every` seconds and
at the end, through `log` (for a run: `Run.log`, so the lines also land in log.jsonl).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

LogFn = Callable[[str], None]


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """`with Progress("load", total=n, unit="rows") as p: p.advance(k)`; `p.update(done, total)`."""

    def __init__(
        self,
        description: str,
        *,
        total: float | None = None,
        unit: str = "",
        log: LogFn | None = None,
        enabled: bool = True,
        terminal: bool | None = None,
        every: float = 5.0,
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.log = log or _stderr_log
        self.enabled = enabled
        self.terminal = is_terminal() if terminal is None else terminal
        self.every = every
        self.done = 0.0
        self._t0 = time.monotonic()
        self._last_line = self._t0
        self._bar: Any = None
        self._task: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Progress:
        self._t0 = self._last_line = time.monotonic()
        if self.enabled and self.terminal:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as RichProgress

            columns: list[Any] = [
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                MofNCompleteColumn() if self.unit != "bytes" else TextColumn(""),
                TransferSpeedColumn() if self.unit == "bytes" else TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            ]
            self._bar = RichProgress(*columns, console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, rate="")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.enabled and exc_type is None and not self.terminal and self.done:
            self.log(self._line(final=True))

    # -- updates -----------------------------------------------------------------------------
    def advance(self, n: float = 1) -> None:
        self.update(self.done + n)

    def update(self, done: float, total: float | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self.total, rate=self._rate_text())
            return
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._last_line = now
            self.log(self._line())

    # -- text --------------------------------------------------------------------------------
    def rate(self) -> float:
        elapsed = time.monotonic() - self._t0
        return self.done / elapsed if elapsed > 0 else 0.0

    def _fmt(self, n: float) -> str:
        if self.unit == "bytes":
            return f"{n / (1 << 20):,.1f} MB"
        return f"{n:,.0f}"

    def _rate_text(self) -> str:
        unit = "MB" if self.unit == "bytes" else self.unit
        r = self.rate() / (1 << 20) if self.unit == "bytes" else self.rate()
        return f"{r:,.1f} {unit}/s".strip()

    def _line(self, final: bool = False) -> str:
        done = self._fmt(self.done)
        unit = "" if self.unit == "bytes" else f" {self.unit}"
        if self.total:
            pct = 100.0 * self.done / self.total
            text = f"{self.description}: {done}/{self._fmt(self.total)}{unit} ({pct:.0f}%), {self._rate_text()}"
            r = self.rate()
            if not final and r > 0 and self.done < self.total:
                text += f", ETA {(self.total - self.done) / r:,.0f}s"
            return text
        return f"{self.description}: {done}{unit}, {self._rate_text()}"
