"""Storage on real databases: migrations both ways, SQLite durability settings, tenant isolation, audit chain.

Every test runs on SQLite and on the PostgreSQL at 127.0.0.1:5432 (database `test`), each PostgreSQL run in a
schema of its own so parallel runs never collide; skipped with the reason when that server is absent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from appliance.errors import NotFound, StorageError
from appliance.store.db import Database
from appliance.store.models import Agent, Appointment, AuditEntry, Base, Contact, Organization
from appliance.store.repositories import AuditLog, TenantRepo
from tests.postgres import pg_schema_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'vocaliq.db'}")
        database.upgrade()
        yield database
        database.close()
        return
    for url in pg_schema_url():
        database = Database(url)
        database.upgrade()
        yield database
        database.close()


def test_migrations_go_up_down_and_up_again_and_match_the_models(db: Database) -> None:
    assert db.is_current()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.downgrade("base")
    assert db.current_revision() is None
    db.upgrade()
    assert db.is_current()
    with db.session() as s:
        s.add(Organization(name="after round trip"))


def test_sqlite_runs_with_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'v.db'}")
    database.upgrade()
    with database.engine.connect() as conn:
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
        assert conn.execute(text("pragma synchronous")).scalar() == 2
        assert conn.execute(text("pragma foreign_keys")).scalar() == 1
    orphan_route = "insert into routes (organization_id, did_pattern, agent_id, priority) values (1, '*', 99, 1)"
    with pytest.raises(StorageError), database.session() as s:  # refused by the DB: no such agent
        s.execute(text(orphan_route))


def _two_orgs(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        a, b = Organization(name="A"), Organization(name="B")
        s.add_all([a, b])
        s.flush()
        agent = TenantRepo(s, Agent, a.id).add(name="Reception")
        return a.id, b.id, agent.id


def test_another_organizations_id_is_not_found(db: Database) -> None:
    org_a, org_b, agent_id = _two_orgs(db)
    with db.session() as s:
        assert TenantRepo(s, Agent, org_a).get(agent_id).name == "Reception"
        with pytest.raises(NotFound):
            TenantRepo(s, Agent, org_b).get(agent_id)
        assert TenantRepo(s, Agent, org_b).find() == []
        with pytest.raises(NotFound):
            TenantRepo(s, Agent, org_b).delete(agent_id)
    with db.session() as s:
        assert TenantRepo(s, Agent, org_a).get(agent_id) is not None  # the refused delete removed nothing
        with pytest.raises(TypeError):
            TenantRepo(s, Organization, org_a)  # not tenant-owned: no repository


def test_the_database_itself_refuses_a_double_booking(db: Database) -> None:
    org_a, _, agent_id = _two_orgs(db)
    start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    with db.session() as s:
        TenantRepo(s, Appointment, org_a).add(agent_id=agent_id, name="Ann", starts_at=start,
                                              ends_at=start + dt.timedelta(minutes=30))
    with pytest.raises(StorageError), db.session() as s:
        TenantRepo(s, Appointment, org_a).add(agent_id=agent_id, name="Bob", starts_at=start,
                                              ends_at=start + dt.timedelta(minutes=30))
    with db.session() as s:
        assert [a.name for a in TenantRepo(s, Appointment, org_a).find()] == ["Ann"]


def test_audit_chain_verifies_and_detects_a_tampered_entry(db: Database) -> None:
    org_a, _, _ = _two_orgs(db)
    with db.session() as s:
        log = AuditLog(s)
        for i in range(3):
            log.append("contact.create", actor="admin@a", target=f"contact:{i}", organization_id=org_a)
    with db.session() as s:
        assert AuditLog(s).verify() == (True, None)
        second = s.query(AuditEntry).order_by(AuditEntry.id).all()[1]
        second.target = "contact:999"  # someone edits history in the DB
        second_id = second.id
    with db.session() as s:
        assert AuditLog(s).verify() == (False, second_id)


def test_a_failed_write_keeps_what_was_stored(db: Database) -> None:
    org_a, _, _ = _two_orgs(db)
    with db.session() as s:
        TenantRepo(s, Contact, org_a).add(name="Kept", phone="+4930123456")
    with pytest.raises(StorageError), db.session() as s:
        TenantRepo(s, Contact, org_a).add(name="Lost")
        s.add(Organization(name="A"))  # duplicate name: the whole transaction rolls back
        s.flush()
    with db.session() as s:
        assert [c.name for c in TenantRepo(s, Contact, org_a).find()] == ["Kept"]
