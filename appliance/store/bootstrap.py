"""First-run setup: organization, owner/superadmin, default agent "Reception", catch-all route."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import select

from appliance.agents import default_reception_agent
from appliance.config import Settings
from appliance.store.db import Database, open_database
from appliance.store.models import Agent, Organization, Route, User
from appliance.store.repositories import AuditLog

AGENT_COLUMNS = ("name", "language", "greeting", "system_prompt", "voice", "timezone",
                 "knowledge_enabled", "recording_enabled")


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    created: bool
    org_id: int
    admin_email: str
    admin_password: str | None  # only when generated here, to print once


def agent_row_fields(config: dict[str, object]) -> dict[str, object]:
    """Split an AgentConfig dict into the queryable columns and the JSON `config` column."""
    cols = {k: config[k] for k in AGENT_COLUMNS if k in config}
    rest = {k: v for k, v in config.items() if k not in AGENT_COLUMNS and k not in ("id", "organization_id")}
    return {**cols, "config": rest}


def bootstrap(db: Database, settings: Settings, *, org_name: str = "My Organization",
              admin_email: str = "admin@localhost", admin_password: str | None = None) -> BootstrapResult:
    """Create the first organization, its owner (superadmin), Reception and a '*' route; idempotent."""
    del settings  # reserved: per-site defaults
    with db.session() as s:
        existing = s.scalars(select(Organization).order_by(Organization.id).limit(1)).first()
        if existing is not None:
            return BootstrapResult(False, existing.id, admin_email, None)
        generated = admin_password is None
        password = admin_password or secrets.token_urlsafe(12)
        org = Organization(name=org_name)
        s.add(org)
        s.flush()
        s.add(User(organization_id=org.id, email=admin_email.lower(), password_hash=PasswordHasher().hash(password),
                   role="owner", is_superadmin=True))
        config = default_reception_agent()
        config["organization_name"] = org_name
        agent = Agent(organization_id=org.id, **agent_row_fields(config))  # type: ignore[arg-type]
        s.add(agent)
        s.flush()
        s.add(Route(organization_id=org.id, did_pattern="*", agent_id=agent.id, priority=1000))
        AuditLog(s).append("system.init", target=f"organization:{org.id}", organization_id=org.id,
                           detail={"admin": admin_email.lower()})
        return BootstrapResult(True, org.id, admin_email.lower(), password if generated else None)


def initialise(settings: Settings, *, org_name: str = "My Organization", admin_email: str = "admin@localhost",
               admin_password: str | None = None) -> BootstrapResult:
    """Data dir, schema at head and first-run rows: everything `vocaliq init` and the demo need; idempotent."""
    settings.paths.ensure()
    db = open_database(settings)
    try:
        db.upgrade()
        return bootstrap(db, settings, org_name=org_name, admin_email=admin_email, admin_password=admin_password)
    finally:
        db.close()
