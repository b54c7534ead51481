"""What can go wrong in an operation, in the words of the product, not of HTTP.

The service layer and storage raise these; the API maps them to problem+json
(``hookwire.api.problems``) and the dashboard to pages and form errors
(``hookwire.dashboard.render``, ``hookwire.dashboard.forms``), each in one place,
both with the status of :func:`http_status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Field errors shown in an Invalid's summary; the rest are in its list.
SUMMARY_FIELDS = 5


class HookwireError(Exception):
    """Base of the errors an operation reports to its caller."""


class NotFound(HookwireError):
    """The thing asked for does not exist (or belongs to another tenant)."""


class Conflict(HookwireError):
    """The change collides with something that exists."""


class Unauthorized(HookwireError):
    """No credentials, or credentials that are not valid (revoked, mistyped, foreign)."""


class Forbidden(HookwireError):
    """Valid credentials that may not do this (a tenant key on an operator's operation)."""


class Unavailable(HookwireError):
    """The database cannot be reached or used right now: retry later.

    Connection refused or lost, a lock held past the timeout, a full disk, no
    answer in time. The message names only the kind of failure.
    """


class NotReady(HookwireError):
    """What a command needs is not there: its database, its schema, its secret key, a port.

    Said in one sentence that tells the operator what to check or run.
    """


class StorageFailure(HookwireError):
    """The database refused a statement for a reason other than a conflict.

    Its message names the driver's error class and SQLSTATE and nothing else:
    driver messages may quote the data, and the data may hold secrets.
    """


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one input field, named as the API names it."""

    field: str
    message: str


class Invalid(HookwireError):
    """Input that breaks a rule; ``errors`` says which field and what to change."""

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        self.errors = list(errors)
        self.detail = detail or "; ".join(
            f"{e.field}: {e.message}" for e in self.errors[:SUMMARY_FIELDS]
        )
        super().__init__(self.detail)

    @classmethod
    def one(cls, field: str, message: str, detail: str | None = None) -> Invalid:
        """An error about a single field."""
        return cls([FieldError(field, message)], detail)


class InvalidCursor(Invalid):
    """A pagination cursor that this server did not hand out."""

    def __init__(self, message: str = "the cursor is not one this server handed out") -> None:
        super().__init__([FieldError("query.cursor", message)], message)


# The status both doors answer each error with; a subclass answers as its base.
_HTTP_STATUS: dict[type[HookwireError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unauthorized: 401,
    Forbidden: 403,
    Unavailable: 503,
    StorageFailure: 500,
}


def http_status(error: HookwireError) -> int:
    """The HTTP status of ``error``: the API's problem+json and the dashboard's page alike."""
    return next((s for kind, s in _HTTP_STATUS.items() if isinstance(error, kind)), 500)
