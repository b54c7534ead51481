"""RFC 9457 problem details: every error hookwire answers has this shape."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookwire.errors import (
    FieldError,
    HookwireError,
    Invalid,
    Unauthorized,
    Unavailable,
    http_status,
)
from hookwire.jsonvalues import NESTED_TOO_DEEP
from hookwire.service.inputs import error_message

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://hookwire.dev/problems/"
# RFC 9110 renamed these; Python's HTTPStatus still has the RFC 7231 phrases.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def problem_response(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if where == "body" and rest else ".".join([where, *rest])
    return ".".join(parts)


def validation_errors(
    exc: RequestValidationError, content_type: str | None = None
) -> list[dict[str, Any]]:
    """FastAPI's validation errors by field, with the messages the dashboard shows too.

    Two of FastAPI's own are said in the API's words: a JSON syntax error names
    the body and where in it (line and column), not an offset posing as a
    field; a body that is not an object because it was not sent as JSON says
    which header to send.
    """
    answers = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":  # only FastAPI parses JSON text
            answers.append({"field": "body", "message": _json_syntax(err, exc.body)})
        elif loc == ("body",) and not _is_json(content_type):
            shown = f"`{content_type}`" if content_type else "none"
            message = (
                "send the body as JSON with the header `Content-Type: application/json` "
                f"(this request's Content-Type: {shown})"
            )
            answers.append({"field": "body", "message": message})
        elif loc == ("body",) and err.get("type") in ("model_attributes_type", "dict_type"):
            answers.append({"field": "body", "message": "the body must be a JSON object"})
        else:
            answers.append({"field": _field_path(loc), "message": error_message(err)})
    return answers


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _json_syntax(err: Mapping[str, Any], document: Any) -> str:
    """Where a JSON syntax error is, as line and column (1-based), and why."""
    why = str((err.get("ctx") or {}).get("error", "")) or "not JSON"
    loc = tuple(err.get("loc", ()))
    offset = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    if offset is None or not isinstance(document, str):
        return f"the body is not valid JSON: {why}"
    line = document.count("\n", 0, offset) + 1
    column = offset - (document.rfind("\n", 0, offset) + 1) + 1
    return f"the body is not valid JSON at line {line}, column {column}: {why}"


def unreadable_body(exc: StarletteHTTPException) -> str | None:
    """Why a JSON body could not be parsed, when that is what FastAPI's 400 stands for.

    FastAPI answers a JSON syntax error with a validation error (422), but any
    other failure of ``json.loads`` with a bare 400 that keeps the reason only as
    its cause: nesting past the interpreter's recursion limit, bytes that are
    not UTF-8, an integer of more digits than Python converts.
    """
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, RecursionError):
        return NESTED_TOO_DEEP
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid UTF-8 text"
    if isinstance(cause, ValueError):
        return "the body cannot be read as JSON: " + str(cause).split(";")[0]
    return None


_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# What a 503 asks the caller to wait: about the database timeout, rounded up.
RETRY_AFTER_SECONDS = 5


def domain_problem(exc: HookwireError) -> JSONResponse:
    """The problem+json answer to an error of the service layer or storage."""
    if isinstance(exc, Invalid):
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        return problem_response(422, exc.detail, errors)
    if isinstance(exc, Unauthorized):
        return problem_response(401, str(exc), headers=_CHALLENGE)
    if isinstance(exc, Unavailable):
        detail = f"{exc}; nothing may have been stored: retry in a few seconds"
        return problem_response(503, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return problem_response(http_status(exc), str(exc))


def install_problem_handlers(app: FastAPI) -> None:
    """Map the domain's errors, and FastAPI's own, to problem+json."""

    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HookwireError)
        return domain_problem(exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc, request.headers.get("content-type"))
        summary = Invalid([FieldError(e["field"], e["message"]) for e in errors]).detail
        return problem_response(422, f"invalid request: {summary}", errors)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        unreadable = unreadable_body(exc)
        if unreadable is not None:
            error = {"field": "body", "message": unreadable}
            return problem_response(422, f"body: {unreadable}", [error])
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such path; the API lives under /v1 (see /docs)"
        return problem_response(exc.status_code, detail, headers=exc.headers)

    app.add_exception_handler(HookwireError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
