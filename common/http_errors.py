"""Errors as JSON: a stable `code`, a human `message` and optional details."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from common import errors as domain

log = logging.getLogger("fmar.errors")


class ErrorBody(BaseModel):
    """The body of every error answer (documented in the OpenAPI of node and trust)."""

    code: str = Field(description="Stable error or rule ID (docs/rules.md)",
                      examples=["POL-001"])
    message: str = Field(description="What went wrong, for a person")
    details: Any = Field(None, description="Facts about the error (violations, limits, ...)")


class ApiError(domain.DomainError):
    """An HTTP-level error raised by the API layer (api/) itself, with its status.
    Domain code raises `common.errors` classes instead."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(code, message, details, headers)
        self.status = status


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


# The one place a domain error becomes an HTTP status.
STATUS_OF: dict[type[domain.DomainError], int] = {
    domain.BadInput: 400,
    domain.Unauthenticated: 401,
    domain.Denied: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.Gone: 410,
    domain.Stale: 412,
    domain.TooLarge: 413,
    domain.Invalid: 422,
    domain.VersionRequired: 428,
    domain.Throttled: 429,
    domain.UpstreamFailed: 502,
    domain.Unavailable: 503,
    domain.TimedOut: 504,
}


def status_of(error: domain.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def domain_response(error: domain.DomainError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=status_of(error), headers=error.headers)


_HTTP_CODES = {
    400: "HTTP-400",
    401: "AUTH-001",
    403: "POL-000",
    404: "HTTP-404",
    405: "HTTP-405",
    406: "HTTP-406",
    413: "HTTP-413",
    415: "HTTP-415",
}


def allowed_methods(request: Request) -> str | None:
    """`Allow` of a 405 (RFC 9110): the methods the OpenAPI document gives the most
    specific path template matching this path (Starlette names only the first route's,
    and FastAPI has one route per method)."""
    path = request.scope.get("path", "")
    matching = [
        (template.count("{"), [method.upper() for method in operations])
        for template, operations in request.app.openapi().get("paths", {}).items()
        if compile_path(template)[0].match(path)
    ]
    return ", ".join(min(matching)[1]) if matching else None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(domain.DomainError)
    async def _domain_error(_: Request, exc: domain.DomainError) -> JSONResponse:
        return domain_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"HTTP-{exc.status_code}")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        return error_response(ApiError(exc.status_code, code, str(exc.detail),
                                       headers=headers or None))

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"location": list(map(str, e.get("loc", ()))), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return error_response(
            ApiError(422, "REQ-001", "The request parameters are not valid.", details)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            ApiError(500, "SRV-001", "The node could not complete the request; it was logged.")
        )


_MEANING = {
    400: "Bad input (malformed body or parameter); see `code`",
    401: "No access token, or one that is not valid (see WWW-Authenticate)",
    403: "Refused by policy (POL-*) or authentication rules (AUTH-*)",
    404: "No such resource, or none the caller may see",
    405: "The path does not take this method (see Allow)",
    406: "None of the accepted media types (Accept or `format`) is offered",
    409: "Conflicts with the current state (duplicate, de-registered, ...)",
    410: "The record moved to another node in a switch (SWITCH-410, `details.moved_to`)",
    412: "If-Match does not match the current ETag",
    413: "The body is larger than the limit",
    415: "The Content-Type is not accepted here",
    422: "The request is well formed but not valid (SHACL rules, parameters)",
    428: "If-Match is required",
    429: "Too many requests; retry after `Retry-After` seconds",
    502: "A node or service this one depends on answered with an error",
    503: "A service this one depends on is not configured or cannot be reached",
    504: "The query ran past its time limit",
}

_HEADERS = {
    401: {"WWW-Authenticate": {"description": "The bearer scheme and the error",
                               "schema": {"type": "string"}}},
    405: {"Allow": {"description": "The methods this path accepts", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for the error statuses a route can answer, each with the JSON
    error body (ErrorBody)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        # JSON whatever the route's own media type (install_openapi adds ErrorBody).
        entry: dict[str, Any] = {"description": _MEANING[status], "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        out[status] = entry
    return out
