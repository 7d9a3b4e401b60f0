"""Login, rotating refresh tokens (reuse revokes the family), logout, who am I."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, current_principal, get_session, limit_client, refuse, settings_of
from appliance.api.security import digest, issue_access, new_refresh_token, verify_password
from appliance.config import Settings
from appliance.store.models import RefreshToken, User
from appliance.store.repositories import AuditLog

router = APIRouter(prefix="/auth", tags=["auth"])

LOGINS_PER_MINUTE = 30  # per client address, whatever the email
REFRESHES_PER_MINUTE = 60
MAX_LOCKOUT = dt.timedelta(days=1)


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
    access, ttl = issue_access(settings, user_id=user.id, org_id=user.organization_id,
                               password_hash=user.password_hash)
    refresh = new_refresh_token()
    row = RefreshToken(user_id=user.id, family_id=family, token_hash=digest(refresh),
                       expires_at=_now() + dt.timedelta(days=settings.security.refresh_token_days))
    session.add(row)
    session.flush()
    return Tokens(access_token=access, refresh_token=refresh, expires_in=ttl)


def lockout(failures: int, settings: Settings) -> dt.timedelta | None:
    """How long `failures` consecutive failed logins lock the account: none below `login_max_failures`, then
    `lockout_minutes`, doubling with every further failure (backoff), at most a day."""
    over = failures - settings.security.login_max_failures
    if over < 0:
        return None
    return min(dt.timedelta(minutes=settings.security.lockout_minutes) * (1 << min(over, 20)), MAX_LOCKOUT)


@router.post("/login", responses={401: {}, 429: {}})
def login(body: Login, request: Request, session: Annotated[Session, Depends(get_session, scope="function")],
          settings: Annotated[Settings, Depends(settings_of)]) -> Tokens:
    """Password login. `login_max_failures` failures in a row lock the account for `lockout_minutes`; each
    further failure after that doubles the lock. A success resets the count."""
    limit_client(request, "login", LOGINS_PER_MINUTE)
    email = body.email.strip().lower()
    user = session.scalars(select(User).where(User.email == email)).first()
    locked_until = _aware(user.locked_until) if user is not None else None
    if user is not None and locked_until is not None and locked_until > _now():
        AuditLog(session).append("auth.locked_out", actor=user.email, organization_id=user.organization_id)
        session.commit()
        retry = int((locked_until - _now()).total_seconds()) + 1
        raise HTTPException(429, "account temporarily locked after failed logins", headers={"Retry-After": str(retry)})
    if not verify_password(user.password_hash if user else None, body.password) or user is None or user.disabled:
        if user is not None:
            user.failed_logins += 1
            lock = lockout(user.failed_logins, settings)
            if lock is not None:
                user.locked_until = _now() + lock
                AuditLog(session).append("auth.lockout", actor=user.email, organization_id=user.organization_id,
                                         detail={"failures": user.failed_logins,
                                                 "minutes": int(lock.total_seconds() // 60)})
        AuditLog(session).append("auth.login_failed", actor=email[:320],
                                 organization_id=user.organization_id if user else None)
        session.commit()
        raise HTTPException(401, "invalid email or password")
    user.failed_logins, user.locked_until = 0, None
    AuditLog(session).append("auth.login", actor=user.email, organization_id=user.organization_id)
    return _tokens(session, settings, user, uuid.uuid4().hex)


def _revoke_family(session: Session, family: str) -> None:
    session.execute(update(RefreshToken).where(RefreshToken.family_id == family,
                                               RefreshToken.revoked_at.is_(None)).values(revoked_at=_now()))


@router.post("/refresh", responses={401: {}, 429: {}})
def refresh(body: Refresh, request: Request, session: Annotated[Session, Depends(get_session, scope="function")],
            settings: Annotated[Settings, Depends(settings_of)]) -> Tokens:
    """Trade a refresh token for a new pair. A token used twice revokes its whole family (theft signal)."""
    limit_client(request, "refresh", REFRESHES_PER_MINUTE)
    row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest(body.refresh_token))).first()
    if row is None:
        raise refuse(request, "unknown refresh token")
    user = session.get(User, row.user_id)
    # Spend the token with a conditional write: of two requests racing with one token only one can win, and
    # the loser is treated as the reuse it is.
    spent = row.revoked_at is None and session.execute(
        update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())).rowcount == 1  # type: ignore[attr-defined]
    if not spent:
        _revoke_family(session, row.family_id)
        AuditLog(session).append("auth.refresh_reuse", actor=user.email if user else "",
                                 organization_id=user.organization_id if user else None,
                                 detail={"family": row.family_id})
        session.commit()
        raise HTTPException(401, "refresh token already used; all sessions of this login were revoked")
    expires = _aware(row.expires_at)
    if user is None or user.disabled or (expires is not None and expires < _now()):
        session.commit()  # the token stays spent
        raise refuse(request, "refresh token expired or its user disabled", {"user": row.user_id})
    tokens = _tokens(session, settings, user, row.family_id)
    row.replaced_by = session.scalars(select(RefreshToken.id).where(
        RefreshToken.token_hash == digest(tokens.refresh_token))).first()
    return tokens


@router.post("/logout", status_code=204)
def logout(body: Refresh, principal: Annotated[Principal, Depends(current_principal)],
           session: Annotated[Session, Depends(get_session, scope="function")]) -> None:
    """Revoke the refresh token's family (this login on every device it was refreshed on)."""
    row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest(body.refresh_token))).first()
    if row is not None and row.user_id == principal.user_id:
        _revoke_family(session, row.family_id)
    AuditLog(session).append("auth.logout", actor=principal.actor, organization_id=principal.org_id)


@router.get("/me")
def me(principal: Annotated[Principal, Depends(current_principal)],
       session: Annotated[Session, Depends(get_session, scope="function")]) -> Me:
    if principal.user_id is None:
        raise HTTPException(404, "an API key without a user")
    user = session.get(User, principal.user_id)
    assert user is not None
    return Me(id=user.id, email=user.email, role=user.role, organization_id=user.organization_id,
              is_superadmin=user.is_superadmin, permissions=sorted(principal.permissions))
