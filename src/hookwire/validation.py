"""Checks that need more than a field's own value: JSON Schemas, catalogue names.

An event type's JSON Schema is written by the operator but runs on every event
a tenant sends, inside the server's event loop. So a schema is held to rules
that keep that safe, when it is saved and again before it is used:

- A reference (``$ref``, ``$dynamicRef``, ``$recursiveRef``) resolves only
  inside the schema itself. jsonschema would otherwise fetch any other URI
  with urllib: synchronously on the event loop, with no timeout and no address
  guard, and ``file://`` would read the server's files.
- Patterns run on RE2, never on Python's ``re``. Python's engine backtracks:
  ``^(a+)+$`` against thirty ``a`` and a ``!`` takes exponential time, and one
  such pattern stalls every request of the process. RE2 matches in time linear
  in the text, without backtracking; the price is that it cannot express
  lookaround or backreferences, so a pattern using them is refused when the
  schema is saved, with a message saying so. The keywords that match patterns
  (``pattern``, ``patternProperties``, ``additionalProperties``, which skips
  the keys those patterns match) are replaced by RE2 versions, as is
  ``format: regex`` when the schema is checked against its metaschema (on
  event data, ``format`` only annotates, as by jsonschema's default).
  ``unevaluatedProperties`` would still match ``patternProperties`` with
  ``re`` inside jsonschema, so a schema may not combine the two.
- ``uniqueItems`` is replaced by a linear-time version: jsonschema compares
  every pair of objects, which a tenant could make take minutes.
- A schema's size is bounded (:data:`MAX_SCHEMA_BYTES`), its nesting by the
  JSON nesting limit, and a reference loop that never reaches the data
  (``{"$ref": "#"}``) is refused.

What remains is validation in time bounded by the schema's size times the
data's, both limited.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import re2
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema import FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import (
    Draft3Validator,
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
    extend,
)

from hookwire.errors import FieldError, Invalid
from hookwire.jsonvalues import json_value_problem

if TYPE_CHECKING:
    from referencing._core import Resolver

MAX_SCHEMA_BYTES = 64 * 1024
# RE2's memory budget per compiled pattern; a pattern that needs more is refused.
MAX_PATTERN_MEMORY_BYTES = 1024 * 1024
MAX_SCHEMA_ERRORS_SHOWN = 10
MAX_ERROR_MESSAGE_CHARS = 300
MAX_QUOTED_CHARS = 100
# Validators ready to run, by the schema's canonical JSON: preparing one checks
# the schema against its metaschema, which costs more than most validations.
PREPARED_SCHEMAS_CACHED = 256
COMPILED_PATTERNS_CACHED = 1024

LATEST_DRAFT = Draft202012Validator


def _dialect(draft: type[Validator]) -> str:
    """The URI a schema's ``$schema`` names ``draft`` by."""
    return str(draft.META_SCHEMA.get("$id") or draft.META_SCHEMA["id"])


_DRAFTS: dict[str, type[Validator]] = {
    _dialect(draft).removesuffix("#"): draft
    for draft in (
        Draft3Validator,
        Draft4Validator,
        Draft6Validator,
        Draft7Validator,
        Draft201909Validator,
        Draft202012Validator,
    )
}
_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
RE2_LIMITS = (
    "hookwire runs schema patterns with RE2, which matches in linear time but has no "
    "lookaround ((?=…), (?!…), (?<=…), (?<!…)) and no backreferences (\\1)"
)


class SchemaRefused(Exception):
    """A JSON Schema hookwire will not run; the message says why, for a person."""


def check_json_schema(schema: dict[str, Any]) -> None:
    """Invalid about ``schema`` unless it is a valid JSON Schema that hookwire can run safely."""
    try:
        prepared_validator(schema)
    except SchemaRefused as exc:
        raise Invalid.one("schema", str(exc)) from None


def check_against_schema(data: dict[str, Any], schema: dict[str, Any]) -> None:
    """Invalid naming each failing path (the first in its detail) when ``data`` does not fit."""
    try:
        validator = prepared_validator(schema)
        errors = list(itertools.islice(validator.iter_errors(data), MAX_SCHEMA_ERRORS_SHOWN))
    except (SchemaRefused, referencing.exceptions.Unresolvable, RecursionError) as exc:
        # A schema stored before these checks existed, or a reference loop
        # that only some data reaches: the operator has to fix the schema.
        reason = str(exc) if isinstance(exc, SchemaRefused) else _unusable(exc)
        message = f"the event type's schema cannot be used: {reason}"
        raise Invalid.one(
            "event",
            message,
            f"{message}; the operator must correct it (PATCH /v1/event-types/{{name}})",
        ) from None
    if errors:
        errors.sort(key=lambda e: [(isinstance(p, str), p) for p in e.absolute_path])
        details = [
            FieldError(_data_path(err), _short(err.message, MAX_ERROR_MESSAGE_CHARS))
            for err in errors
        ]
        raise Invalid(
            details,
            f"data does not match the event type's schema at {details[0].field}: "
            f"{details[0].message}",
        )


def unknown_event_types(requested: list[str], known: set[str]) -> list[str]:
    """The names in ``requested`` that are not ``known`` (``*``, meaning all, is always known)."""
    return [name for name in requested if name != "*" and name not in known]


def prepared_validator(schema: dict[str, Any]) -> Validator:
    """A validator for ``schema`` that fetches nothing and matches patterns with RE2.

    Raises :class:`SchemaRefused` when the schema breaks a rule of this module.
    """
    problem = json_value_problem(schema)
    if problem is not None:
        where, why = problem
        raise SchemaRefused(f"{why} (at schema{where})" if where else why)
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    if len(text) > MAX_SCHEMA_BYTES:
        raise SchemaRefused(
            f"the schema is {len(text)} bytes as JSON; at most {MAX_SCHEMA_BYTES} are allowed"
        )
    return _prepare(text)


@functools.lru_cache(maxsize=PREPARED_SCHEMAS_CACHED)
def _prepare(text: str) -> Validator:
    # Parsed again from the cache key: the cached validator owns its schema,
    # whatever the caller does with the dict it passed in.
    schema = json.loads(text)
    draft = _draft_of(schema)
    metaschema = draft(draft.META_SCHEMA, format_checker=_metaschema_format_checker(draft))
    error = best_match(metaschema.iter_errors(schema))
    if error is not None:
        raise SchemaRefused(_metaschema_error(error))
    _check_subschemas(draft, schema)
    validator = _safe_draft(draft)(schema, registry=referencing.Registry())
    try:
        # Event data is always an object: a loop of references that never
        # descends into it shows on an empty one.
        for _ in validator.iter_errors({}):
            pass
    except (referencing.exceptions.Unresolvable, RecursionError) as exc:
        raise SchemaRefused(_unusable(exc)) from None
    return validator


def _draft_of(schema: dict[str, Any]) -> type[Validator]:
    dialect = schema.get("$schema")
    if dialect is None:
        return LATEST_DRAFT
    draft = _DRAFTS.get(dialect.removesuffix("#")) if isinstance(dialect, str) else None
    if draft is None:
        known = _dialect(LATEST_DRAFT)
        raise SchemaRefused(
            f"$schema {_quoted(dialect)} is not a JSON Schema draft hookwire knows; "
            f"use {known!r} or leave $schema out"
        )
    return draft


@functools.cache
def _metaschema_format_checker(draft: type[Validator]) -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = {**draft.FORMAT_CHECKER.checkers, "regex": (_is_pattern, re2.error)}
    return checker


def _is_pattern(instance: object) -> bool:
    if isinstance(instance, str):
        _compiled(instance)
    return True


def _metaschema_error(exc: ValidationError) -> str:
    if exc.validator == "format" and exc.validator_value == "regex":
        return _pattern_refused(exc.instance, exc.cause)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
    return f"not a valid JSON Schema{f' at schema{where}' if where else ''}: " + _short(
        exc.message, MAX_ERROR_MESSAGE_CHARS
    )


def _check_subschemas(draft: type[Validator], schema: dict[str, Any]) -> None:
    """Patterns RE2 can run and references that resolve inside the schema, everywhere."""
    try:
        subschemas = list(_subschemas(draft, schema))
    except (AttributeError, TypeError, KeyError, ValueError):
        # referencing cannot walk a few shapes the older metaschemas allow
        # (draft 3's ``extends`` as an object); unchecked is unsafe.
        raise SchemaRefused(
            "its subschemas cannot all be found, so its references and patterns cannot be "
            "checked; write it for draft 2020-12"
        ) from None
    uses_unevaluated = uses_pattern_properties = False
    for resolver, node in subschemas:
        pattern = node.get("pattern")
        patterns = [pattern] if isinstance(pattern, str) else []
        if isinstance(node.get("patternProperties"), dict):
            patterns.extend(node["patternProperties"])
            uses_pattern_properties = True
        uses_unevaluated = uses_unevaluated or "unevaluatedProperties" in node
        for each in patterns:
            try:
                _compiled(each)
            except re2.error as exc:
                raise SchemaRefused(_pattern_refused(each, exc)) from None
        for keyword in _REFERENCE_KEYWORDS:
            reference = node.get(keyword)
            if isinstance(reference, str):
                try:
                    resolver.lookup(reference)
                except referencing.exceptions.Unresolvable as exc:
                    raise SchemaRefused(_reference_refused(keyword, reference, exc)) from None
    if uses_unevaluated and uses_pattern_properties:
        raise SchemaRefused(
            "unevaluatedProperties cannot be combined with patternProperties: jsonschema "
            "evaluates that combination with Python's backtracking regular expressions, not "
            "RE2; use additionalProperties instead"
        )


def _subschemas(
    draft: type[Validator], schema: dict[str, Any]
) -> Iterator[tuple[Resolver[Any], dict[str, Any]]]:
    """Every subschema with the resolver that applies in it, as jsonschema sees them."""
    specification = referencing.jsonschema.specification_with(
        _dialect(draft), default=referencing.Specification.OPAQUE
    )
    root = specification.create_resource(schema)
    pending = [(referencing.Registry().resolver_with_root(root), root)]
    while pending:
        resolver, resource = pending.pop()
        if isinstance(resource.contents, dict):
            yield resolver, resource.contents
        for subresource in resource.subresources():
            pending.append((resolver.in_subresource(subresource), subresource))


def _reference_refused(
    keyword: str, reference: str, exc: referencing.exceptions.Unresolvable
) -> str:
    if isinstance(exc, referencing.exceptions.PointerToNowhere):
        return f"{keyword} {_quoted(reference)} points to nothing in the schema"
    if isinstance(exc, referencing.exceptions.NoSuchAnchor | referencing.exceptions.InvalidAnchor):
        return f"{keyword} {_quoted(reference)} names an anchor the schema does not define"
    return (
        f"{keyword} {_quoted(reference)} is not allowed: only references inside the schema "
        "(#/…) are resolved"
    )


def _unusable(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return 'its references loop without reaching the data (as {"$ref": "#"} does)'
    if isinstance(exc, referencing.exceptions.Unresolvable):
        return f"the reference {_quoted(str(exc.ref))} does not resolve inside the schema"
    return str(exc)


def _pattern_refused(pattern: object, exc: BaseException | None) -> str:
    reason = exc.args[0] if exc is not None and exc.args else "not a regular expression"
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return f"the pattern {_quoted(pattern)} cannot be used ({reason}): {RE2_LIMITS}"


@functools.lru_cache(maxsize=COMPILED_PATTERNS_CACHED)
def _compiled(pattern: str) -> Any:
    """The RE2 program for ``pattern``; raises ``re2.error`` when RE2 cannot run it."""
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's answer, not a log line
    options.max_mem = MAX_PATTERN_MEMORY_BYTES
    try:
        return re2.compile(pattern, options)
    except UnicodeEncodeError:
        raise re2.error("the pattern is not valid Unicode") from None


# --- the validator: jsonschema's drafts with the keywords above replaced ----------


# Keyword functions as jsonschema calls them: (validator, the keyword's value, instance, schema).


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _compiled(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = [_compiled(p) for p in schema.get("patternProperties", {})]
    extras = [
        key for key in instance if key not in declared and not any(p.search(key) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        joined = ", ".join(repr(each) for each in sorted(extras))
        if patterns:
            regexes = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {regexes}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({joined} {verb} unexpected)"
            )


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _comparable(item)
        if key in seen:
            repeated = _short(repr(item), MAX_QUOTED_CHARS)
            yield ValidationError(f"has non-unique elements: {repeated} repeats an earlier one")
            return
        seen.add(key)


def _comparable(value: Any) -> Any:
    """A hashable stand-in equal for values JSON Schema calls equal (1 and 1.0, not 1 and true)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(_comparable(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, _comparable(v)) for k, v in value.items()))
    return (type(value).__name__, value)


_SAFE_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}


@functools.cache
def _safe_draft(draft: type[Validator]) -> type[Validator]:
    replaced = {k: v for k, v in _SAFE_KEYWORDS.items() if k in draft.VALIDATORS}
    return cast("type[Validator]", extend(draft, replaced))  # type: ignore[no-untyped-call]


def _data_path(error: ValidationError) -> str:
    path = error.absolute_path
    return "data" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in path)


def _quoted(value: object) -> str:
    return repr(_short(value, MAX_QUOTED_CHARS)) if isinstance(value, str) else repr(value)[:100]


def _short(text: object, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"
