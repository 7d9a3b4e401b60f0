"""Login, rotating refresh tokens (reuse revokes the family), logout, who am I."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, current_principal, get_session, limit_client, settings_of
from appliance.api.security import digest, issue_access, new_refresh_token, verify_password
from appliance.config import Settings
from appliance.store.models import RefreshToken, User
from appliance.store.repositories import AuditLog

router = APIRouter(prefix="/auth", tags=["auth"])


class Login(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class Refresh(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    id: int
    email: str
    role: str
    organization_id: int
    is_superadmin: bool
    permissions: list[str]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(ts: dt.datetime | None) -> dt.datetime | None:
    return ts.replace(tzinfo=dt.UTC) if ts is not None and ts.tzinfo is None else ts


def _tokens(session: Session, settings: Settings, user: User, family: str) -> Tokens:
    access, ttl = issue_access(settings, user_id=user.id, org_id=user.organization_id)
    refresh = new_refresh_token()
    row = RefreshToken(user_id=user.id, family_id=family, token_hash=digest(refresh),
                       expires_at=_now() + dt.timedelta(days=settings.security.refresh_token_days))
    session.add(row)
    session.flush()
    return Tokens(access_token=access, refresh_token=refresh, expires_in=ttl)


@router.post("/login", responses={401: {}, 429: {}})
def login(body: Login, request: Request, session: Annotated[Session, Depends(get_session)],
          settings: Annotated[Settings, Depends(settings_of)]) -> Tokens:
    """Password login; repeated failures lock the account for `[security] lockout_minutes`."""
    limit_client(request, "login", 30)
    sec = settings.security
    user = session.scalars(select(User).where(User.email == body.email.strip().lower())).first()
    locked_until = _aware(user.locked_until) if user is not None else None
    if user is not None and locked_until is not None and locked_until > _now():
        AuditLog(session).append("auth.locked_out", actor=user.email, organization_id=user.organization_id)
        session.commit()
        retry = int((locked_until - _now()).total_seconds()) + 1
        raise HTTPException(429, "account temporarily locked after failed logins", headers={"Retry-After": str(retry)})
    if not verify_password(user.password_hash if user else None, body.password) or user is None or user.disabled:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= sec.login_max_failures:
                user.locked_until = _now() + dt.timedelta(minutes=sec.lockout_minutes)
                user.failed_logins = 0
        AuditLog(session).append("auth.login_failed", actor=body.email.strip().lower()[:320],
                                 organization_id=user.organization_id if user else None)
        session.commit()
        raise HTTPException(401, "invalid email or password")
    user.failed_logins, user.locked_until = 0, None
    AuditLog(session).append("auth.login", actor=user.email, organization_id=user.organization_id)
    return _tokens(session, settings, user, uuid.uuid4().hex)


@router.post("/refresh", responses={401: {}})
def refresh(body: Refresh, session: Annotated[Session, Depends(get_session)],
            settings: Annotated[Settings, Depends(settings_of)]) -> Tokens:
    """Trade a refresh token for a new pair. A token used twice revokes its whole family (theft signal)."""
    row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest(body.refresh_token))).first()
    if row is None:
        raise HTTPException(401, "invalid refresh token")
    user = session.get(User, row.user_id)
    if row.revoked_at is not None:
        session.execute(update(RefreshToken).where(RefreshToken.family_id == row.family_id,
                                                   RefreshToken.revoked_at.is_(None)).values(revoked_at=_now()))
        AuditLog(session).append("auth.refresh_reuse", actor=user.email if user else "",
                                 organization_id=user.organization_id if user else None,
                                 detail={"family": row.family_id})
        session.commit()
        raise HTTPException(401, "refresh token already used; all sessions of this login were revoked")
    expires = _aware(row.expires_at)
    if user is None or user.disabled or (expires is not None and expires < _now()):
        raise HTTPException(401, "refresh token expired")
    row.revoked_at = _now()
    tokens = _tokens(session, settings, user, row.family_id)
    row.replaced_by = session.scalars(select(RefreshToken.id).where(
        RefreshToken.token_hash == digest(tokens.refresh_token))).first()
    return tokens


@router.post("/logout", status_code=204)
def logout(body: Refresh, principal: Annotated[Principal, Depends(current_principal)],
           session: Annotated[Session, Depends(get_session)]) -> None:
    """Revoke the refresh token's family (this login on every device it was refreshed on)."""
    row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest(body.refresh_token))).first()
    if row is not None and row.user_id == principal.user_id:
        session.execute(update(RefreshToken).where(RefreshToken.family_id == row.family_id,
                                                   RefreshToken.revoked_at.is_(None)).values(revoked_at=_now()))
    AuditLog(session).append("auth.logout", actor=principal.actor, organization_id=principal.org_id)


@router.get("/me")
def me(principal: Annotated[Principal, Depends(current_principal)],
       session: Annotated[Session, Depends(get_session)]) -> Me:
    if principal.user_id is None:
        raise HTTPException(404, "an API key without a user")
    user = session.get(User, principal.user_id)
    assert user is not None
    return Me(id=user.id, email=user.email, role=user.role, organization_id=user.organization_id,
              is_superadmin=user.is_superadmin, permissions=sorted(principal.permissions))
