"""SIGTERM handled like Ctrl-C by the long-running commands (``data convert``), and the interrupts that
training holds until a step is complete (``Interrupts``).

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


_STOPPING = (b"\nganforge: interrupt received: finishing the current step, then writing a checkpoint "
             b"(interrupt again to stop at once, without one)\n")


class Interrupts:
    """SIGINT (Ctrl-C) and SIGTERM held until training can stop where its state is whole.

    A training step changes many things one after another (batch-norm statistics in the forward pass,
    gradients, each optimizer, EMA, counters, the data position); an interrupt raised in the middle would
    checkpoint half a step, and the resumed run would not be the run left alone. While installed, the
    first signal only sets ``pending``: the trainer finishes the step and stops at the next step boundary
    (``stop_requested``), where it checkpoints a whole state. A second signal raises ``KeyboardInterrupt``
    at once (the user insists; the trainer then knows whether it was inside a step). Each process of a
    distributed job holds its own flag; the trainer agrees on it across ranks at the boundary, so every
    rank stops after the same step.

    Outside the main thread (where signal handlers cannot be set) nothing is installed and an interrupt
    behaves as Python's default.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.pending = False
        self.pending_agreed = False  # set by the trainer: every rank agreed to stop at this boundary
        self.signal_name: str | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True
        self.signal_name = signal.Signals(signum).name
        try:
            os.write(2, _STOPPING)
        except OSError:
            pass

    def install(self) -> "Interrupts":
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                break
        return self

    def restore(self) -> None:
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, TypeError):
                pass
        self._old.clear()
