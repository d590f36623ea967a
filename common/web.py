"""HTTP helpers of both services (node and trust framework): media types, Accept ranges,
the bearer token of a request."""

from __future__ import annotations

from fastapi import Request

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
