"""UC-01.3 de-registration: ask the organisation's nodes first, then withdraw it.

Contract with nodes (documented in docs/trust.md): the trust framework calls
`GET {node}/admin/active-records?org_id=<id>` over mutual TLS with a bearer token
it issued (aud = the node URL, scope `trust:deregistration`), and expects 200 with
`{"org_id": ..., "active_assets": int, "active_market_units": int}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from trust.server import certs, directory
from trust.server.directory import Actor
from trust.server.errors import ApiError
from trust.server.models import (
    Application,
    AppStatus,
    IssuedToken,
    Node,
    NodeStatus,
    OrgStatus,
    User,
)

Probe = Callable[[Node, str], dict[str, Any]]


class NodeUnreachable(Exception):
    pass


def active_records(session: Session, org_id: str, probe: Probe) -> list[dict[str, Any]]:
    """Ask each active node of the organisation what is still active there."""
    answers = []
    nodes = session.exec(select(Node).where(Node.org_id == org_id, Node.status == NodeStatus.ACTIVE))
    for node in nodes:
        try:
            answer = probe(node, org_id)
            counts = {k: int(answer[k]) for k in ("active_assets", "active_market_units")}
        except (NodeUnreachable, KeyError, TypeError, ValueError) as exc:
            raise ApiError(409, "DIR-009", "A node of this organisation could not confirm that "
                           "it holds no active records; de-registration refused.",
                           {"node": node.url, "reason": str(exc)}) from exc
        answers.append({"node": node.url, **counts})
    return answers


def deregister(session: Session, org_id: str, actor: Actor, probe: Probe,
               reason: str | None = None) -> dict[str, Any]:
    org = directory.get_organisation(session, org_id)
    if org.is_operator:
        raise ApiError(409, "DIR-005", "The operator cannot de-register itself.")
    answers = active_records(session, org_id, probe)
    busy = [a for a in answers if a["active_assets"] or a["active_market_units"]]
    if busy:
        raise ApiError(409, "DIR-008", "Active assets or market units remain. De-register or "
                       "transfer them on your node(s) first, then try again.", {"nodes": busy})
    directory.set_status(session, org_id, OrgStatus.WITHDRAWN, actor, reason or "de-registration")
    for user in session.exec(select(User).where(User.org_id == org_id)):
        user.active = False
        session.add(user)
    for app in session.exec(select(Application).where(Application.org_id == org_id)):
        app.status = AppStatus.REVOKED
        session.add(app)
    for node in session.exec(select(Node).where(Node.org_id == org_id)):
        node.status = NodeStatus.WITHDRAWN
        session.add(node)
    revoked = certs.revoke_all_of_org(session, org_id, "cessationOfOperation", actor)
    for token in session.exec(select(IssuedToken).where(IssuedToken.org_id == org_id,
                                                        col(IssuedToken.revoked).is_(False))):
        token.revoked = True
        session.add(token)
    return {"org_id": org_id, "status": OrgStatus.WITHDRAWN, "certificates_revoked": revoked,
            "nodes_checked": answers}
