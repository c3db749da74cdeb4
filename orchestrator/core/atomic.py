"""Files that appear whole or not at all: written to a temporary name beside the target, synced,
then renamed into place. A killed writer leaves only a `.<name>.<pid>.tmp`, which the next writer
of the same file removes once that process is gone."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from orchestrator.core.errors import UsageError


def check_writable(out: Path, force: bool) -> None:
    """Refuse a directory, and an existing file unless `force` (exit 2)."""
    if out.is_dir():
        raise UsageError(f"{out}: is a directory")
    if out.exists() and not force:
        raise UsageError(f"{out}: already exists (use --force to overwrite)")


def remove_stale_temporaries(out: Path) -> None:
    """Delete `.<name>.<pid>.tmp` files left next to `out` by writers that were killed (pid gone)."""
    for tmp in out.parent.glob(f".{out.name}.*.tmp"):
        pid = tmp.name[len(out.name) + 2 : -len(".tmp")]
        if not pid.isdigit():
            continue
        if int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue  # that writer is still going
            except ProcessLookupError:
                pass
            except OSError:
                continue  # alive, but not ours to signal
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `out`, on any failure it is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
