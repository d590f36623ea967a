"""Domain functions without a server: keys, status machine, roles, validation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from common.roles import normalise_role, scopes_for, user_scopes
from trust.server import directory, keys, validation
from trust.server.config import TrustSettings
from trust.server.db import make_engine, migrate
from trust.server.errors import ApiError
from trust.server.models import SigningKey, utcnow
from trust.server.schemas import Contact, OrganisationIn


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
    assert scopes_for({"Regulator"}) == {"sparql:query", "federation:query", "reports:write"}
    assert not {s for s in user_scopes(["FSP"], "viewer") if s.endswith(":write")}


@pytest.mark.parametrize("number, normalised", [("01234567", "01234567"), ("SC123456", "SC123456"),
                                                ("OC300001", "OC300001"), ("12 34 56 78", "12345678"),
                                                (" sc123456 ", "SC123456")])
def test_DIR_001_ok_company_numbers(number, normalised):
    assert validation.company_number(number) == normalised


@pytest.mark.parametrize("number", ["1234567", "ABCDEFGH", "123456789", "SC12345", ""])
def test_DIR_001_bad_company_numbers(number):
    with pytest.raises(ApiError) as refused:
        validation.company_number(number)
    assert (refused.value.status, refused.value.code) == (422, "DIR-001")
    assert refused.value.details == {"field": "registration_number", "value": number}


@pytest.mark.parametrize("phone, normalised", [("+447700900123", "+447700900123"),
                                               ("+44 7700 900123", "+447700900123"),
                                               ("+44 (7700) 900-123", "+447700900123")])
def test_DIR_003_ok_e164(phone, normalised):
    assert validation.phone(phone) == normalised


@pytest.mark.parametrize("phone", ["07700900123", "+0123456789", "+1234", "+44770090012345678"])
def test_DIR_003_bad_e164(phone):
    with pytest.raises(ApiError) as refused:
        validation.phone(phone)
    assert (refused.value.status, refused.value.code) == (422, "DIR-003")
    assert refused.value.details == {"field": "mobile", "value": phone}
