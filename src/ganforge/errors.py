"""User-facing errors.

Every mistake a user can make (a bad flag, path, image, config value or model file) is raised as a
``GanforgeError`` carrying one message that names the offending value and the valid choices. The CLI
prints that message without a traceback and exits with status 2; library users can catch it.
"""

from __future__ import annotations

from typing import Iterable


class GanforgeError(Exception):
    """An error caused by user input, with a message meant to be read by a person."""

    exit_code = 2


def choices_error(what: str, value: object, choices: Iterable[str]) -> GanforgeError:
    """Build the standard 'unknown X' error that lists the valid choices."""
    listed = ", ".join(sorted(str(c) for c in choices)) or "(none)"
    return GanforgeError(f"unknown {what} {value!r}; valid choices: {listed}")


class OutputError(GanforgeError, OSError):
    """A file or folder could not be created or written (read-only folder, a file in the way, a full
    disk). It is a ``GanforgeError`` (one message, exit 2) and also an ``OSError``, so code that
    already tolerates failed writes with ``except OSError`` keeps doing so."""

    def __init__(self, message: str, errno: int | None = None, filename: str | None = None):
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.filename = filename

    def __str__(self) -> str:
        return self.message


def output_error(path: object, exc: OSError, action: str = "write") -> OutputError:
    """``OutputError`` saying that ``action`` on ``path`` failed, with the operating system's reason."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputError(f"cannot {action} {str(path)!r}: {reason}", exc.errno, str(path))
