"""Connection limit routes: the generic record routes (node/api/records.py) with the
limit's models."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from node.api.assets import register_of
from node.api.records import RecordRoutes, add_record_routes
from node.records.service import Records

router = APIRouter(tags=["connection limits"])
_CODE: JsonDict = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"}
_KW: JsonDict = {"type": "number", "minimum": 0, "maximum": 10_000_000}
_EXAMPLE: JsonDict = {"AssetId": "0b6f1c7e-2f8e-4a55-9d8e-6f1a2b3c4d5e", "OrganisationId": "FSP-ACME",
            "DNOConnection": "UKPN_EPN", "ExportLimit": 6000.0}


class ConnectionLimitIn(BaseModel):
    """A connection limit as a DNO or IDNO sends it. The node checks it against
    shapes/connection_limit.ttl (LIM-001..007), so those rules keep their IDs."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "required": ["AssetId", "OrganisationId", "DNOConnection"], "examples": [_EXAMPLE]})

    AssetId: Any = Field(None, description="The limited asset's ID",
                         json_schema_extra={"type": "string", "format": "uuid"})
    OrganisationId: Any = Field(None, description="The asset holder's organisation ID",
                                json_schema_extra=_CODE)
    DNOConnection: Any = Field(None, description="The licence area (DNOCode)",
                               json_schema_extra=_CODE)
    ExportLimit: Any = Field(None, description="Maximum export, kW", json_schema_extra=_KW)
    ImportLimit: Any = Field(None, description="Maximum import, kW", json_schema_extra=_KW)


class ConnectionLimitOut(BaseModel):
    LimitId: str
    id: str
    AssetId: str | None = None
    OrganisationId: str | None = None
    DNOConnection: str | None = None
    ExportLimit: float | None = None
    ImportLimit: float | None = None
    SetBy: str
    Version: int
    Created: str | None = None
    Modified: str | None = None


def limits_of(request: Request) -> Records:
    return register_of(request).limits


add_record_routes(router, RecordRoutes(
    path="/connection-limits", label="connection limit", records=limits_of,
    model_in=ConnectionLimitIn, model_out=ConnectionLimitOut, write_scope="validation:write",
    filters={"asset": "AssetId"},
    describe={"create": "A DNO or IDNO sets an import or export limit on an asset connected "
              "in one of its licence areas (POL-008). The limit is held on this node, with its "
              "history and audit trail; the asset's organisation, the DNO and NESO read it."},
))
