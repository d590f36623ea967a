"""Domain errors: a stable rule `code`, a `message` for a person and optional `details`.

Domain code (records, kinds, policy, query, federation, directory) raises these and
never an HTTP status; the API layer alone maps each class to a status
(`common.http_errors.STATUS_OF`).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a stable code (docs/rules.md)."""

    def __init__(self, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class BadInput(DomainError):
    """Malformed input: a body or parameter that cannot be read."""


class Invalid(DomainError):
    """Well-formed input that breaks a rule (SHACL, parameters)."""


class Unauthenticated(DomainError):
    """No credentials, or ones that are not valid."""


class Denied(DomainError):
    """Refused by policy (POL-*) or an authentication rule."""


class NotFound(DomainError):
    """No such record, or none the caller may see."""


class Gone(DomainError):
    """The record was here and has moved (a switch): the error says where."""


class Conflict(DomainError):
    """Conflicts with the current state (duplicate, de-registered, ...)."""


class Stale(DomainError):
    """The caller's version (If-Match) is not the current one."""


class VersionRequired(DomainError):
    """A change that needs the caller's version (If-Match) came without one."""


class TooLarge(DomainError):
    """The input is larger than a limit."""


class Throttled(DomainError):
    """Too many requests; `headers` carry Retry-After."""


class UpstreamFailed(DomainError):
    """A node or service this one depends on answered with an error."""


class Unavailable(DomainError):
    """A service this one depends on is not configured or cannot be reached."""


class TimedOut(DomainError):
    """The work ran past its time limit."""
