"""The studio's one error: an HTTP status and a message a person reads (the value and the valid choices).

Every refusal of the web API (a bad seed, a path outside the runs folder, an upload that is no image, a
full queue) is a ``StudioError``; the app turns it into ``{"error": message}`` with its status, never a
traceback. A ``GanforgeError`` raised by the library below (a bad psi, a broken model file) becomes a 400
with its own message."""

from __future__ import annotations


class StudioError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> StudioError:
    return StudioError(400, message)


def not_found(message: str) -> StudioError:
    return StudioError(404, message)


def forbidden(message: str) -> StudioError:
    return StudioError(403, message)
