"""Checks that need more than a field's own value: JSON Schemas, catalogue names."""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from hookwire.errors import Problem, invalid


def check_json_schema(schema: dict[str, Any]) -> None:
    """Raise a 422 unless ``schema`` is itself a valid JSON Schema."""
    try:
        validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise invalid("schema", f"not a valid JSON Schema: {exc.message}") from None


def check_against_schema(data: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise a 422 naming the first failing path when ``data`` does not fit ``schema``."""
    validator = validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        details = [
            {
                "field": "data"
                + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path),
                "message": err.message,
            }
            for err in errors[:10]
        ]
        raise Problem(
            422,
            f"data does not match the event type's schema at {details[0]['field']}: "
            f"{details[0]['message']}",
            errors=details,
        )


def unknown_event_types(requested: list[str], known: set[str]) -> list[str]:
    return [name for name in requested if name != "*" and name not in known]
