"""From HTML forms to the service's input, and from the service's errors back to form fields.

The dashboard validates with the same input models and rules as the API
(:mod:`hookwire.service.inputs`, the service), so a person sees the same rules
and messages as a script does; this module only translates between form fields
and that input, and maps every :class:`Invalid` to the fields it names.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData

from hookwire.errors import HookwireError, Invalid
from hookwire.jsonvalues import NESTED_TOO_DEEP
from hookwire.service.inputs import NO_EVENTS_MESSAGE

ALL_EVENTS = "*"


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
    # Only when the form has the field: a form without it (an older page still
    # open) must not switch a Standard Webhooks or fifo webhook back to the default.
    for choice in ("signature_scheme", "format", "ordering"):
        if text(form, choice):
            fields[choice] = text(form, choice)
    if with_token:
        # Left empty, the token is generated, as when the API's `token` is omitted.
        fields["token"] = text(form, "token").strip() or None
    return fields


def form_errors(exc: HookwireError, fallback_field: str) -> dict[str, str]:
    """The first message per form field; a nested path (``data.key``) counts for its root.

    An error that names no field (a conflict, say) is shown at ``fallback_field``.
    """
    errors: dict[str, str] = {}
    if isinstance(exc, Invalid):
        for error in exc.errors:
            field = error.field.split(".")[0].split("[")[0]
            message = _FORM_WORDS.get(error.message, error.message)
            errors.setdefault(field or fallback_field, message)
    return errors or {fallback_field: str(exc)}


# The API's words where a form has its own controls to name instead.
_FORM_WORDS = {NO_EVENTS_MESSAGE: "choose at least one event, or All events"}


def json_object(value: str, field: str, *, empty_is_none: bool = False) -> dict[str, Any] | None:
    """Parse a JSON textarea; Invalid about ``field`` when it is not a JSON object."""
    if not value.strip():
        if empty_is_none:
            return None
        raise Invalid.one(field, "enter a JSON object, e.g. {}")
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise Invalid.one(field, f"not valid JSON: {exc}") from None
    except RecursionError:  # json gives up past the interpreter's recursion limit
        raise Invalid.one(field, NESTED_TOO_DEEP) from None
    if not isinstance(parsed, dict):
        raise Invalid.one(field, "must be a JSON object ({…}), not " + type(parsed).__name__)
    return parsed


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
        raise Invalid.one(field, "enter a date and time, e.g. 2024-05-01T12:00") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise Invalid.one(
            field, "enter a date and time between the years 1 and 9999 in UTC"
        ) from None
