"""What every answer of the portal carries (a strict Content-Security-Policy and the other
hardening headers), the session cookie's attributes, and the CSRF check."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.config import PortalSettings


def csp(settings: PortalSettings) -> str:
    """Only the portal's own files; forms post to the portal, whose sign-in redirects on to
    the trust framework's login page (form-action covers that redirect)."""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src 'self'; form-action 'self' {settings.trust_url}; "
            "frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, settings: PortalSettings):
        self.app = app
        self.headers = [
            (b"content-security-policy", csp(settings).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"),
        ]
        if settings.secure_cookies:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def cookie_name(settings: PortalSettings) -> str:
    """`__Host-` (Secure, path /, no Domain) wherever the portal runs on https."""
    return "__Host-fmar-portal" if settings.secure_cookies else "fmar-portal"


def cookie_args(settings: PortalSettings) -> dict[str, object]:
    """HttpOnly, SameSite=Lax (the trust framework's redirect back to /callback is a
    cross-site top-level navigation, which Strict would strip), Secure on https."""
    return {"httponly": True, "samesite": "lax", "secure": settings.secure_cookies,
            "path": "/"}


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
