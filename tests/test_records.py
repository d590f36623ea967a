"""The generic record machinery (node/records/service.py, node/api/records.py), through
the first kind on it, connection limits: listing filters and cursors, refusals of unknown
parameters (REQ-IN-001) and of a cursor that is not an ID (REQ-IN-002), field-only
changes, and authorisation of a change on the record as it would be stored."""

from __future__ import annotations

import uuid

import pytest

from common.errors import Denied
from node.kinds.connection_limits import CONNECTION_LIMIT
from node.records.record import Record
from tests.conftest import CALLERS


def body(asset: str, export: float = 100.0) -> dict[str, object]:
    return {"AssetId": asset, "OrganisationId": "FSP-ACME", "DNOConnection": "UKPN_EPN",
            "LimitType": "FIRM", "ValidFrom": "2026-01-01", "ExportLimit": export}


def test_pages_follow_the_cursor_in_id_order_and_filters_apply(node):
    asset = str(uuid.uuid4())
    with node.client("dno") as c:
        made = sorted(c.post("/connection-limits", json=body(asset, n)).json()["LimitId"]
                      for n in range(5))
        c.post("/connection-limits", json=body(str(uuid.uuid4())))  # another asset
        seen, after = [], None
        while True:
            params = {"asset": asset, "limit": 2, **({"after": after} if after else {})}
            page = c.get("/connection-limits", params=params).json()
            seen += [i["LimitId"] for i in page["items"]]
            after = page.get("next")
            if not after:
                break
    assert seen == made


def test_REQ_IN_001_an_unknown_query_parameter_is_refused_not_ignored(node):
    with node.client("dno") as c:
        refused = c.get("/connection-limits", params={"colour": "red"})
    assert (refused.status_code, refused.json()["code"]) == (400, "REQ-IN-001")
    assert refused.json()["details"]["parameters"] == ["colour"]
    assert "asset" in refused.json()["details"]["accepted"]


@pytest.mark.parametrize("after", ["not-an-id", "../../etc", "x" * 500])
def test_REQ_IN_002_a_cursor_that_is_not_an_id_is_refused(node, after):
    with node.client("dno") as c:
        refused = c.get("/connection-limits", params={"after": after})
    assert (refused.status_code, refused.json()["code"]) == (400, "REQ-IN-002")


def test_set_fields_changes_only_those_fields_and_keeps_history(node):
    register = node.app.state.register
    dno = CALLERS["dno"]
    first = register.limits.create(body(str(uuid.uuid4()), 10.0), dno)
    changed = register.limits.set_fields(first.record_id, dno, first.etag, "update",
                                         {"ImportLimit": 5.0})
    assert isinstance(changed, Record) and changed.version == 2
    assert changed.as_json()["ExportLimit"] == 10.0 and changed.as_json()["ImportLimit"] == 5.0
    versions = register.limits.history(first.record_id, dno)
    assert [v["record"]["Version"] for v in versions] == [1, 2]
    assert versions[1]["action"] == CONNECTION_LIMIT.action("update")


def test_a_change_is_authorised_on_the_record_as_it_would_be_stored(node):
    """A DNO may change its limit, but not into one of another area (POL-008), and is
    told why rather than that the record does not exist."""
    register = node.app.state.register
    dno = CALLERS["dno"]
    first = register.limits.create(body(str(uuid.uuid4())), dno)
    with pytest.raises(Denied) as refused:
        register.limits.set_fields(first.record_id, dno, first.etag, "update",
                                   {"DNOConnection": "ENWL"})
    assert refused.value.code == "POL-008"
    assert register.limits.existing(first.record_id).version == 1  # nothing stored
