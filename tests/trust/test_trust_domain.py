"""Domain functions without a server: keys, status machine, roles, validation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from trust import directory, keys, validation
from trust.config import TrustSettings
from trust.db import make_engine, migrate
from trust.errors import ApiError
from trust.models import SigningKey, utcnow
from trust.roles import normalise_role, scopes_for, user_scopes
from trust.schemas import Contact, OrganisationIn


@pytest.fixture()
def session(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def new_org(session, roles=("FSP",)):
    return directory.register_organisation(session, OrganisationIn(
        legal_name="Domain Ltd", roles=list(roles), email="d@d.example",
        primary_contact=Contact(first_name="D", last_name="D", email="d@d.example")))


@pytest.fixture()
def settings(tmp_path):
    return TrustSettings(data_dir=tmp_path, kek="domain-test-key-encryption-key")


def test_rotation_keeps_the_retired_key_until_its_tokens_expire(session, settings):
    first = keys.current_key(session, settings)
    assert keys.current_key(session, settings).kid == first.kid  # no rotation before it is due
    second = keys.rotate(session, settings)
    published = {k["kid"] for k in keys.jwks(session, settings)["keys"]}
    assert published == {first.kid, second.kid}
    old = session.get(SigningKey, first.kid)
    assert old.expires_at - old.retired_at >= timedelta(seconds=keys.MAX_TOKEN_TTL)
    old.expires_at = utcnow() - timedelta(seconds=1)
    session.add(old)
    assert {k["kid"] for k in keys.jwks(session, settings)["keys"]} == {second.kid}
    assert "d" not in keys.jwks(session, settings)["keys"][0]  # never the private part


def test_keys_rotate_by_age(session, settings):
    first = keys.current_key(session, settings)
    first.created_at = utcnow() - timedelta(days=31)
    session.add(first)
    assert keys.current_key(session, settings).kid != first.kid


def test_withdrawn_is_final(session):
    org = new_org(session)
    directory.set_status(session, org.id, "Withdrawn", directory.SYSTEM, "test")
    with pytest.raises(ApiError) as err:
        directory.set_status(session, org.id, "Active", directory.SYSTEM)
    assert err.value.code == "DIR-005"
    assert [e.to_status for e in directory.history(session, org.id)] == [
        "Pending Approval", "Withdrawn"]


def test_elexon_role_names_map_to_token_roles():
    assert normalise_role("Distribution Network Operator (DNO)") == "DNO"
    assert normalise_role("Flexibility Service Provider (FSP)") == "FSP"
    assert normalise_role("NESO/TSO") == "NESO"
    assert normalise_role("Wizard") is None


def test_scopes_follow_roles_and_viewers_never_write():
    assert "assets:write" in scopes_for({"FSP"}) and "assets:write" not in scopes_for({"DNO"})
    assert "validation:write" in scopes_for({"DNO"})
    assert scopes_for({"Regulator"}) == {"sparql:query", "federation:query"}
    assert not {s for s in user_scopes(["FSP"], "viewer") if s.endswith(":write")}


@pytest.mark.parametrize("number, ok", [("01234567", True), ("SC123456", True),
                                        ("OC300001", True), ("1234567", False),
                                        ("ABCDEFGH", False), ("12 34 56 78", True)])
def test_company_numbers(number, ok):
    if ok:
        assert validation.company_number(number)
    else:
        with pytest.raises(ApiError):
            validation.company_number(number)


@pytest.mark.parametrize("phone, ok", [("+447700900123", True), ("+44 7700 900123", True),
                                       ("07700900123", False), ("+0123456789", False),
                                       ("+1234", False)])
def test_e164(phone, ok):
    if ok:
        assert validation.phone(phone).startswith("+")
    else:
        with pytest.raises(ApiError):
            validation.phone(phone)
