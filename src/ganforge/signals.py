"""SIGTERM handled like Ctrl-C by the long-running commands (training, ``data convert``).

A cluster scheduler, ``timeout`` or ``kill`` stops a job with SIGTERM; Python's default is to die on
the spot, which would skip training's last checkpoint and leave a half-written temporary file behind
``data convert``. While installed, SIGTERM raises ``KeyboardInterrupt`` instead, so the same clean-up
runs as for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any, Iterator


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def install_sigterm() -> Any:
    """Make SIGTERM raise KeyboardInterrupt; returns the previous handler (None where it cannot)."""
    if os.name != "posix":
        return None
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not in the main thread
        return None


def restore_sigterm(old: Any) -> None:
    if old is not None:
        try:
            signal.signal(signal.SIGTERM, old)
        except ValueError:
            pass


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    old = install_sigterm()
    try:
        yield
    finally:
        restore_sigterm(old)
