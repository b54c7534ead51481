"""From HTML forms to the API's models, and from their errors back to form fields.

The dashboard validates with the same pydantic models and checks as the API,
so a person sees the same rules and messages as a script does; this module
only translates between form fields and those models.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from hookwire.api.problems import Problem
from hookwire.jsonvalues import NESTED_TOO_DEEP

ALL_EVENTS = "*"
# The prefix pydantic puts before messages raised in our own validators.
_PYDANTIC_VALUE_ERROR = "Value error, "


def text(form: FormData, name: str) -> str:
    """A text field's value ('' when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def checked(form: FormData, name: str) -> bool:
    """A checkbox: browsers send it only when it is ticked."""
    return name in form


def chosen_events(form: FormData) -> list[str]:
    """The Events checkboxes; "All events" wins over single types."""
    if checked(form, "all_events"):
        return [ALL_EVENTS]
    return [v for v in form.getlist("events") if isinstance(v, str)]


def webhook_fields(form: FormData, *, with_token: bool) -> dict[str, Any]:
    """The seed's fields: Name, URL, Token, Events, Enabled (API names)."""
    fields: dict[str, Any] = {
        "name": text(form, "name").strip(),
        "url": text(form, "url").strip(),
        "events": chosen_events(form),
        "active": checked(form, "active"),
    }
    if with_token:
        # Left empty, the token is generated, as when the API's `token` is omitted.
        fields["token"] = text(form, "token").strip() or None
    return fields


def field_errors(exc: ValidationError, renames: dict[str, str] | None = None) -> dict[str, str]:
    """The first message per field, keyed by the form field's name."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = err.get("loc", ())
        field = str(loc[0]) if loc else "form"
        field = (renames or {}).get(field, field)
        message = str(err.get("msg", "invalid value")).removeprefix(_PYDANTIC_VALUE_ERROR)
        errors.setdefault(field, message)
    return errors


def problem_errors(exc: Problem, fallback_field: str) -> dict[str, str]:
    """A 422 from the shared checks, by field; nested paths (``data.key``) count for their root."""
    errors: dict[str, str] = {}
    for item in exc.errors or []:
        field = str(item.get("field", fallback_field)).split(".")[0].split("[")[0]
        errors.setdefault(field or fallback_field, str(item.get("message", exc.detail)))
    return errors or {fallback_field: exc.detail}


def json_object(value: str, field: str, *, empty_is_none: bool = False) -> dict[str, Any] | None:
    """Parse a JSON textarea; raises a 422 about ``field`` when it is not a JSON object."""
    if not value.strip():
        if empty_is_none:
            return None
        raise Problem(
            422,
            f"{field}: enter a JSON object",
            errors=[_error(field, "enter a JSON object, e.g. {}")],
        )
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        message = f"not valid JSON: {exc}"
        raise Problem(422, f"{field}: {message}", errors=[_error(field, message)]) from None
    except RecursionError:  # json gives up past the interpreter's recursion limit
        raise Problem(
            422, f"{field}: {NESTED_TOO_DEEP}", errors=[_error(field, NESTED_TOO_DEEP)]
        ) from None
    if not isinstance(parsed, dict):
        message = "must be a JSON object ({…}), not " + type(parsed).__name__
        raise Problem(422, f"{field}: {message}", errors=[_error(field, message)])
    return parsed


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def parse_moment(utc_value: str, local_value: str, field: str) -> datetime | None:
    """A time from a filter form.

    The page's script copies each ``datetime-local`` field, which is in the
    browser's time zone, into a hidden field as UTC ISO 8601; that is used when
    present. Without the script the visible field is taken as UTC.
    """
    value = utc_value.strip() or local_value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        message = "enter a date and time, e.g. 2024-05-01T12:00"
        raise Problem(422, f"{field}: {message}", errors=[_error(field, message)]) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        message = "enter a date and time between the years 1 and 9999 in UTC"
        raise Problem(422, f"{field}: {message}", errors=[_error(field, message)]) from None
