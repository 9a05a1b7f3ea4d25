"""Errors the rules raise, each with the HTTP status it answers with. Blueprints turn them
into `{"error": message}` (JSON) or a message on the page."""

from __future__ import annotations


class PortalError(Exception):
    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadInput(PortalError):
    status = 400


class Unauthenticated(PortalError):
    status = 401


class Forbidden(PortalError):
    status = 403


class NotFound(PortalError):
    status = 404


class Conflict(PortalError):
    status = 409


class Unavailable(PortalError):
    status = 503


class TooMany(PortalError):
    """A limit was reached; Retry-After says when trying again can help."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
