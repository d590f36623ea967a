"""Connection limits, the third record kind: an import or export limit a DNO or IDNO sets on
an asset connected in its licence area.

- held on the DNO's node (the asset itself is on its holder's node, often another one);
- written by a DNO or IDNO, only for its licence areas (POL-008);
- read by the asset's organisation, the DNO of the area and NESO (POL-003, as assets);
- shapes: shapes/connection_limit.ttl (LIM-001..007); errors LIM-IN-*, LIM-VAL, LIM-404,
  LIM-412, LIM-428;
- a generic kind (node/records/service.py): every write through the one write path
  (node/records/unit.py), with history and audit.

Deleting a limit removes the current record (SPARQL no longer sees it); its versions and
audit entries stay.
"""

from __future__ import annotations

from common.vocab import FMAR, ID_BASE, SHAPES_DIR
from node.asset_fields import Field, FieldTable
from node.records.kind import RecordKind
from node.records.service import Records
from node.records.unit import UnitOfWork

LIMIT_BASE = ID_BASE + "connection-limit/"
SHAPES_FILE = SHAPES_DIR / "connection_limit.ttl"

FIELDS = (
    Field("AssetId", FMAR.limitsAsset, "asset"),
    Field("OrganisationId", FMAR.organisation, "org"),  # the asset's holder: it reads the limit
    Field("DNOConnection", FMAR.dnoConnection, "code:DNOCode"),
    Field("ExportLimit", FMAR.exportLimit, "decimal"),
    Field("ImportLimit", FMAR.importLimit, "decimal"),
)
STATE_FIELDS = ("LimitId", "SetBy", "Version", "Created", "Modified")
TABLE = FieldTable("LIM", FIELDS, STATE_FIELDS, "LimitId", "A connection limit",
                   "connection-limit field names",
                   "the fields are " + ", ".join(f.name for f in FIELDS))


CONNECTION_LIMIT = RecordKind(
    name="connection-limit", label="connection limit", code="LIM", iri_base=LIMIT_BASE,
    rdf_class=FMAR.ConnectionLimit, table=TABLE, shapes=(SHAPES_FILE,),
    rules=("LIM-001", "LIM-002", "LIM-003", "LIM-004", "LIM-005", "LIM-006", "LIM-007",
           "LIM-IN-001", "LIM-IN-002", "LIM-IN-003", "LIM-VAL", "LIM-404", "LIM-412",
           "LIM-428", "POL-008"),
    held_by="the DNO's (or IDNO's) node",
)


class ConnectionLimits(Records):
    """Limits need nothing beyond their shapes (LIM-001..007) and policy (POL-003, POL-008)."""

    def __init__(self, unit: UnitOfWork):
        super().__init__(unit, CONNECTION_LIMIT)
