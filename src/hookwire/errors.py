"""RFC 9457 problem details: every error hookwire answers has this shape."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookwire.jsonvalues import NESTED_TOO_DEEP
from hookwire.storage import Conflict, InvalidCursor, NotFound

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://hookwire.dev/problems/"
# RFC 9110 renamed these; Python's HTTPStatus still has the RFC 7231 phrases.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class Problem(Exception):
    """An error to answer as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers


def invalid(field: str, message: str) -> Problem:
    """A 422 about one field, in the same shape as pydantic's validation errors."""
    return Problem(422, f"{field}: {message}", errors=[{"field": field, "message": message}])


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


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        # pydantic prefixes messages of our validators' ValueErrors; the
        # message itself is written for a person already.
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            message = "the body is not valid JSON: " + str(err.get("ctx", {}).get("error", ""))
        errors.append({"field": _field_path(tuple(err.get("loc", ()))), "message": message})
    return errors


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


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error hookwire raises, and FastAPI's own, to problem+json."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.detail, exc.errors, exc.headers)

    async def on_not_found(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(404, str(exc))

    async def on_conflict(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(409, str(exc))

    async def on_cursor(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(422, str(exc), [{"field": "query.cursor", "message": str(exc)}])

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
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

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(NotFound, on_not_found)
    app.add_exception_handler(Conflict, on_conflict)
    app.add_exception_handler(InvalidCursor, on_cursor)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
