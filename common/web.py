"""HTTP helpers of both services (node and trust framework): media types, Accept ranges,
the bearer token of a request, the Server-Timing middleware."""

from __future__ import annotations

import time

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.http_errors import ApiError

JSON = "application/json"
JSONLD = "application/ld+json"
TURTLE = "text/turtle"
NTRIPLES = "application/n-triples"
CSV = "text/csv"
NDJSON = "application/x-ndjson"


def media_ranges(accept: str | None) -> list[tuple[str, float]]:
    """The media ranges of an Accept header, most preferred first (by q, then by order);
    ranges with q=0 or an unreadable q are left out."""
    ranked = []
    for position, part in enumerate((accept or "").split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranked.append((-quality, position, media.lower()))
    return [(media, -neg_q) for neg_q, _, media in sorted(ranked)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "AUTH-001",
            "A bearer access token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="fmar"'},
        )
    return token.strip()


class ServerTiming:
    """ASGI middleware: the time the app took for a request, as `Server-Timing: app;dur=`
    (ms), after any spans the endpoint gave. Plain ASGI, not `BaseHTTPMiddleware`: no
    task group and memory stream per request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                span = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
                given = headers.get("server-timing")
                headers["Server-Timing"] = f"{given}, {span}" if given else span
            await send(message)

        await self.app(scope, receive, timed)
