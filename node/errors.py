"""Errors as JSON: a stable `code`, a human `message` and optional details."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("fmar.errors")


class ApiError(Exception):
    """An error the client should see, with a stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"HTTP-{exc.status_code}")
        return error_response(ApiError(exc.status_code, code, str(exc.detail)))

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
