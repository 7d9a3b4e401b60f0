"""Organizations: the superadmin creates them with their first admin; org admins edit their settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require, superadmin
from appliance.api.security import hash_password
from appliance.store.models import Organization, Setting, User
from appliance.store.repositories import AuditLog

router = APIRouter(prefix="/organizations", tags=["organizations"])

DEFAULTS: dict[str, Any] = {"retention_days": 365, "recording_default": True, "hosted_fallback_allowed": False}


class OrgCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    admin_email: EmailStr
    admin_password: str = Field(min_length=12, max_length=1024)


class OrgSettings(BaseModel):
    retention_days: int = Field(365, ge=1, le=3650)
    recording_default: bool = True
    hosted_fallback_allowed: bool = False


class OrgSettingsPatch(BaseModel):
    retention_days: int | None = Field(None, ge=1, le=3650)
    recording_default: bool | None = None
    hosted_fallback_allowed: bool | None = None


class OrgOut(BaseModel):
    id: int
    name: str
    settings: OrgSettings


def org_settings(session: Session, org_id: int) -> OrgSettings:
    rows = session.scalars(select(Setting).where(Setting.organization_id == org_id,
                                                 Setting.key.in_(list(DEFAULTS)))).all()
    return OrgSettings(**{**DEFAULTS, **{r.key: r.value for r in rows}})


def _out(session: Session, org: Organization) -> OrgOut:
    return OrgOut(id=org.id, name=org.name, settings=org_settings(session, org.id))


@router.post("", status_code=201, responses={409: {}})
def create_org(body: OrgCreate, principal: Annotated[Principal, Depends(superadmin)],
               session: Annotated[Session, Depends(get_session, scope="function")]) -> OrgOut:
    if session.scalars(select(Organization).where(Organization.name == body.name)).first() is not None:
        raise HTTPException(409, "an organization with this name exists")
    email = str(body.admin_email).lower()
    if session.scalars(select(User).where(User.email == email)).first() is not None:
        raise HTTPException(409, "a user with this email exists")
    org = Organization(name=body.name)
    session.add(org)
    session.flush()
    session.add(User(organization_id=org.id, email=email, password_hash=hash_password(body.admin_password),
                     role="admin"))
    audit(session, principal, "org.create", f"organization:{org.id}", {"name": body.name, "admin": email})
    # The new organization's own log starts with its creation (its auditors cannot read the superadmin's org).
    # The actor is the role, not the superadmin's email: that belongs to the superadmin's own organization.
    AuditLog(session).append("org.created", actor="superadmin", target=f"organization:{org.id}",
                             organization_id=org.id, detail={"admin": email})
    return _out(session, org)


@router.get("")
def list_orgs(principal: Annotated[Principal, Depends(require("calls:read"))],
              session: Annotated[Session, Depends(get_session, scope="function")]) -> list[OrgOut]:
    """The superadmin sees every organization; anyone else only their own."""
    if principal.is_superadmin and principal.api_key_id is None:
        orgs = session.scalars(select(Organization).order_by(Organization.id)).all()
    else:
        orgs = [o for o in [session.get(Organization, principal.org_id)] if o is not None]
    return [_out(session, o) for o in orgs]


@router.get("/current")
def current_org(principal: Annotated[Principal, Depends(require("calls:read"))],
                session: Annotated[Session, Depends(get_session, scope="function")]) -> OrgOut:
    org = session.get(Organization, principal.org_id)
    assert org is not None
    return _out(session, org)


@router.patch("/current/settings")
def update_settings(body: OrgSettingsPatch, principal: Annotated[Principal, Depends(require("org:manage"))],
                    session: Annotated[Session, Depends(get_session, scope="function")]) -> OrgOut:
    changes = body.model_dump(exclude_none=True)
    for key, value in changes.items():
        row = session.get(Setting, (principal.org_id, key))
        if row is None:
            session.add(Setting(organization_id=principal.org_id, key=key, value=value))
        else:
            row.value = value
    session.flush()
    audit(session, principal, "org.settings", f"organization:{principal.org_id}", changes)
    return current_org(principal, session)
