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
