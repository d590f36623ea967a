"""The OpenAPI contract shared by the node and the trust framework: security schemes, the
per-route security requirement and response media types. Error statuses come from
`common.http_errors.error_responses`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from common.http_errors import ErrorBody, error_responses

MUTUAL_TLS = {
    "type": "mutualTLS",
    "description": "A client certificate issued by the federation CA. Access tokens issued "
    "to a certificate-authenticated client are bound to it (RFC 8705, `cnf`).",
}
BEARER = {
    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    "description": "An access token in `Authorization: Bearer`.",
}
RATE_LIMITED = error_responses(429)[429]
ETAG = {"ETag": {"description": "The record version, for If-Match", "schema": {"type": "string"}}}


def secured(*scopes: str, mtls: bool = True, extra: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    """`openapi_extra` of a route that needs an access token with `scopes` (and, with
    `mtls`, the client certificate it is bound to), with the refusals of authentication:
    401 and 403, and for a node (`mtls`) 503 AUTH-014 when the trust framework cannot be
    reached to check the token. Public routes leave this out."""
    requirement: dict[str, list[str]] = {"oauth2": list(scopes)}
    if mtls:
        requirement["mutualTLS"] = []
    refusals = error_responses(401, 403, 503) if mtls else error_responses(401, 403)
    extra = extra or {}
    return {**extra, "security": [requirement],
            "responses": {**{str(k): v for k, v in refusals.items()},
                          **extra.get("responses", {})}}


def content(*media_types: str, schema: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    """A response: `content` for each media type with `schema`, by default an object for
    JSON types and a string for the others; `extra` adds e.g. a description or headers."""

    def default(media: str) -> dict[str, Any]:
        return {"type": "object"} if media.endswith("json") else {"type": "string"}

    return {**extra, "content": {m: {"schema": schema or default(m)} for m in media_types}}


def or_empty(pattern: str) -> str:
    """The pattern of a parameter whose empty value means "no filter"."""
    return f"^({pattern.removeprefix('^').removesuffix('$')})?$"


# A node's inbox (POST /inbox/events): the sending node's signature is the credential
WEBHOOK_SIGNATURE: dict[str, Any] = {
    "type": "apiKey", "in": "header", "name": "webhook-signature",
    "description": "Standard Webhooks `v1jws,<detached JWS>` by the sending node's key, "
    "certified by the federation CA, with `webhook-id` and `webhook-timestamp`."}


def signed_webhook() -> dict[str, Any]:
    """`openapi_extra` of a route whose credential is a signed webhook (no token)."""
    return {"security": [{"webhookSignature": []}]}


def install_openapi(app: FastAPI, *, token_url: str | None, scopes: dict[str, str],
                    authorization_url: str | None = None) -> None:
    """Add the security schemes to the app's OpenAPI document, make every 422 show the
    project's error body, and give every operation the 429 of the rate limits (FMAR_RATE_*,
    which apply to every route). Without a token URL (a development node with static tokens)
    the routes' `oauth2` requirement becomes a plain bearer token."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes, tags=app.openapi_tags)
        components = doc.setdefault("components", {})
        schemes: dict[str, Any] = {"mutualTLS": MUTUAL_TLS, "bearer": BEARER,
                                   "webhookSignature": WEBHOOK_SIGNATURE}
        if token_url:
            flows: dict[str, Any] = {"clientCredentials": {"tokenUrl": token_url,
                                                           "scopes": scopes}}
            if authorization_url:
                flows["authorizationCode"] = {"authorizationUrl": authorization_url,
                                              "tokenUrl": token_url, "scopes": scopes}
            schemes["oauth2"] = {"type": "oauth2", "flows": flows}
        components["securitySchemes"] = schemes
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                if not token_url and "security" in operation:
                    operation["security"] = [
                        {"bearer": requirement["oauth2"]} if "oauth2" in requirement
                        else requirement for requirement in operation["security"]]
                responses = operation.setdefault("responses", {})
                limited = responses.setdefault("429", {"description": RATE_LIMITED["description"],
                                                       "content": {}})
                limited["content"].update(RATE_LIMITED["content"])
                limited["headers"] = RATE_LIMITED["headers"]
                invalid = responses.get("422")
                if invalid:
                    invalid["content"] = {"application/json": {"schema": {
                        "$ref": "#/components/schemas/ErrorBody"}}}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
