"""Schema migrations on each backend: up, down and up again; no create_all."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel import Session

from trust.server.db import downgrade, make_engine, migrate
from trust.server.directory import SYSTEM, register_organisation, set_status
from trust.server.schemas import Contact, OrganisationIn

TABLES = {"organisation", "orgevent", "user", "application", "node", "certificate",
          "signingkey", "issuedtoken", "grant", "hosting", "audit_head", "alembic_version"}


def test_migrations_up_down_up(database_url, tmp_path):
    url = database_url
    if url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'm.db'}"  # the shared database belongs to the server
        migrate(url)
        engine = make_engine(url)
        assert TABLES <= set(inspect(engine).get_table_names())
        downgrade(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(url)
        assert TABLES <= set(inspect(engine).get_table_names())
        engine.dispose()
    else:  # the server's schema is already at head: migrating again is a no-op
        migrate(url)
        engine = make_engine(url)
        assert TABLES <= set(inspect(engine).get_table_names())
        engine.dispose()


def test_organisation_round_trip_keeps_json_and_time_zones(database_url, federation):
    engine = make_engine(database_url)
    with Session(engine) as session:
        org = register_organisation(session, OrganisationIn(
            legal_name="Roundtrip Ltd", registration_number="NI654321", roles=["DNO"],
            dno_areas=["NGED_WMID"], email="info@roundtrip.example",
            primary_contact=Contact(first_name="A", last_name="B", email="a@roundtrip.example",
                                    mobile="+44 7700 900123")))
        set_status(session, org.id, "Active", SYSTEM, "approved")
        session.commit()
        org_id = org.id
    with Session(engine) as session:
        from trust.server.models import Organisation

        again = session.get(Organisation, org_id)
        assert again.dno_areas == ["NGED_WMID"] and again.roles == ["DNO"]
        assert again.contacts["primary"]["mobile"] == "+447700900123"
        assert again.created_at.tzinfo is not None
        assert again.status == "Active"
    engine.dispose()


def test_models_and_migrations_agree(tmp_path):
    """A model changed without a migration shows up here (make one with autogenerate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import trust.server.audit_heads
    import trust.server.models  # noqa: F401

    url = f"sqlite:///{tmp_path / 'drift.db'}"
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        def ours(obj, name, type_, reflected, compare_to) -> bool:  # only the trust tables
            table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
            return table in TABLES

        context = MigrationContext.configure(conn, opts={"include_object": ours})
        diffs = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diffs == []
