"""Request and response helpers shared by the routers: bodies, media types, ETags."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator

import anyio.from_thread
from fastapi import Request

from common.http_errors import ApiError
from common.web import CSV, JSON, JSONLD, NTRIPLES, TURTLE, media_ranges


def too_large(limit: int) -> ApiError:
    return ApiError(413, "REQ-413", f"The body is larger than the limit of {limit} bytes.",
                    {"limit_bytes": limit})


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


async def stream_body(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large(limit)
        yield chunk


def blocking_chunks(request: Request, limit: int) -> Iterator[bytes]:
    """The body as it streams in (REQ-413 past `limit`), for a reader running in a worker
    thread (`run_in_threadpool`)."""
    stream = stream_body(request, limit)
    while True:
        try:
            yield anyio.from_thread.run(stream.__anext__)
        except StopAsyncIteration:
            return


def media_type(request: Request) -> str:
    return request.headers.get("content-type", JSON).split(";")[0].strip().lower()


def negotiate(request: Request, offered: list[str], fmt: str | None = None) -> str:
    """Pick a response type from `?format=` or the Accept header (406 if none fits)."""
    aliases = {"json": JSON, "jsonld": JSONLD, "json-ld": JSONLD, "turtle": TURTLE, "ttl": TURTLE,
               "nt": NTRIPLES, "ntriples": NTRIPLES, "csv": CSV}
    if fmt is not None:
        chosen = aliases.get(fmt)
        if chosen in offered:
            return chosen
        raise ApiError(406, "REQ-406", f"Format '{fmt}' is not offered here.",
                       {"offered": offered})
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return offered[0]
    for media, _ in media_ranges(accept):
        if media in ("*/*", "application/*") and offered:
            return offered[0]
        if media in offered:
            return media
    raise ApiError(406, "REQ-406", "None of the accepted media types is offered here.",
                   {"offered": offered})
