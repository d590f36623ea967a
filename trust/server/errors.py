"""Errors of the trust framework: the node's JSON error shape, plus OAuth's `error` field."""

from __future__ import annotations

from typing import Any

from common.http_errors import ApiError, install_error_handlers

__all__ = ["ApiError", "OAuthError", "install_error_handlers"]


class OAuthError(ApiError):
    """An OAuth endpoint error: `{code, message, details}` and RFC 6749 `error`."""

    def __init__(self, status: int, code: str, error: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(status, code, message, details, headers)
        self.error = error

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"] = self.error
        body["error_description"] = self.message
        return body
