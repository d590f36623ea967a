"""Public discovery: the node's DCAT catalogue and its machine-readable licence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from rdflib import Graph

from common.http_errors import ApiError, error_responses
from common.openapi import content
from node.api import services as deps
from node.config import NodeSettings
from node.federation.catalogue import LICENCE_TERMS, catalogue_graph, licence_graph

router = APIRouter(tags=["discovery"])
Settings = Annotated[NodeSettings, Depends(deps.settings)]

FORMATS = {"text/turtle": "turtle", "application/ld+json": "json-ld",
           "application/n-triples": "nt", "application/rdf+xml": "xml"}


RDF = {200: content(*FORMATS), **error_responses(406)}


def _rdf(request: Request, graph: Graph) -> Response:
    accept = request.headers.get("accept", "")
    chosen = "text/turtle"
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in FORMATS:
            chosen = media
            break
        if media == "application/json":
            chosen = "application/ld+json"
            break
    else:
        wanted = [p.split(";")[0].strip() for p in accept.split(",") if p.strip()]
        if wanted and not any(w in ("*/*", "text/*", "application/*") or w.startswith(
                "text/html") for w in wanted):
            raise ApiError(406, "HTTP-406", "The catalogue is RDF: Turtle, JSON-LD, "
                           "N-Triples or RDF/XML.", {"available": sorted(FORMATS)})
    return Response(graph.serialize(format=FORMATS[chosen]), media_type=chosen)


@router.get("/catalogue", summary="DCAT catalogue of this node (public)",
            description="A dcat:Catalog with the node's dcat:DataService entries (SPARQL "
            "endpoint, REST API, query forms, federation), each with dcat:endpointURL, an "
            "OpenAPI dcat:endpointDescription and the IB1 data-catalog-records fields "
            "(publisher, licence, trust framework, scheme, assurance, sensitivity class, "
            "ib1:roleRequiredToAccess), and the datasets it serves with their "
            "distributions. Turtle by default, JSON-LD, N-Triples or RDF/XML by Accept. "
            "No token needed.",
            response_class=Response, responses=RDF)
def catalogue(request: Request, settings: Settings) -> Response:
    return _rdf(request, catalogue_graph(settings, settings.name))


@router.get("/catalogue/licence", summary="The data licence (ib1:License and ODRL, public)",
            response_class=Response, responses=RDF)
def licence(request: Request, settings: Settings) -> Response:
    return _rdf(request, licence_graph(settings))


@router.get("/catalogue/licence/terms", summary="The legal text of the data licence (public)",
            response_class=Response, responses={200: content("text/plain")})
def licence_terms() -> Response:
    return Response(LICENCE_TERMS, media_type="text/plain; charset=utf-8")
