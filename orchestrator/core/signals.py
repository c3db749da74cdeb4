"""One signal policy for every run: Ctrl-C (SIGINT) and SIGTERM stop the run in whatever step it
is, and the run skeleton records it as `interrupted` (exit 130 / 143) after its cleanup.

SIGINT already reaches Python as KeyboardInterrupt; `stop_on_sigterm` makes SIGTERM arrive the
same way, as `Terminated`. Both are BaseExceptions, so no `except Exception` in a step swallows them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from orchestrator.core.errors import EXIT_SIGINT, EXIT_SIGTERM, Interrupted


class Terminated(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt
    """SIGTERM arrived (raised in the main thread, where the handler runs)."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM raises Terminated in the main thread (elsewhere: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def as_interrupted(exc: BaseException) -> Interrupted | None:
    """The run's error for a signal that stopped it; None for anything else."""
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted("interrupted by SIGINT (Ctrl-C): the run stopped, nothing was published", EXIT_SIGINT)
    if isinstance(exc, Terminated):
        return Interrupted("interrupted by SIGTERM: the run stopped, nothing was published", EXIT_SIGTERM)
    return None
