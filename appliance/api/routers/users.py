"""Users of the caller's organization, with roles (owner, admin, editor, viewer, auditor)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.rbac import Role, may_assign
from appliance.api.security import hash_password
from appliance.store.models import ApiKey, RefreshToken, User

router = APIRouter(prefix="/users", tags=["users"])


class UserCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=12, max_length=1024)
    role: Role = Role.VIEWER


class UserPatch(BaseModel):
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=12, max_length=1024)


class UserOut(BaseModel):
    id: int
    email: str
    role: str
    disabled: bool


def _out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, role=user.role, disabled=user.disabled)


def end_sessions(session: Session, user: User, *, keys: bool = False) -> None:
    """Revoke the user's refresh tokens (every login ends at its next refresh) and, with `keys`, their API keys.

    Access tokens need nothing: each request re-reads the user, so a disabled user is refused at once, and a
    changed role applies to the next request.
    """
    now = dt.datetime.now(dt.UTC)
    session.execute(update(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    if keys:
        session.execute(update(ApiKey).where(ApiKey.user_id == user.id, ApiKey.organization_id == user.organization_id,
                                             ApiKey.revoked_at.is_(None)).values(revoked_at=now))


def _get(session: Session, principal: Principal, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.organization_id != principal.org_id:
        raise HTTPException(404, f"user {user_id} not found")
    return user


@router.get("")
def list_users(principal: Annotated[Principal, Depends(require("users:manage"))],
               session: Annotated[Session, Depends(get_session, scope="function")]) -> list[UserOut]:
    users = session.scalars(select(User).where(User.organization_id == principal.org_id).order_by(User.id))
    return [_out(u) for u in users]


@router.post("", status_code=201, responses={409: {}})
def create_user(body: UserCreate, principal: Annotated[Principal, Depends(require("users:manage"))],
                session: Annotated[Session, Depends(get_session, scope="function")]) -> UserOut:
    if not may_assign(principal.role, body.role):
        raise HTTPException(403, f"a {principal.role} cannot create a {body.role}")
    email = str(body.email).lower()
    if session.scalars(select(User).where(User.email == email)).first() is not None:
        raise HTTPException(409, "a user with this email exists")
    user = User(organization_id=principal.org_id, email=email, password_hash=hash_password(body.password),
                role=body.role.value)
    session.add(user)
    session.flush()
    audit(session, principal, "user.create", f"user:{user.id}", {"email": email, "role": body.role.value})
    return _out(user)


@router.get("/{user_id}")
def get_user(user_id: int, principal: Annotated[Principal, Depends(require("users:manage"))],
             session: Annotated[Session, Depends(get_session, scope="function")]) -> UserOut:
    return _out(_get(session, principal, user_id))


@router.patch("/{user_id}")
def update_user(user_id: int, body: UserPatch, principal: Annotated[Principal, Depends(require("users:manage"))],
                session: Annotated[Session, Depends(get_session, scope="function")]) -> UserOut:
    user = _get(session, principal, user_id)
    if not may_assign(principal.role, user.role) or (body.role and not may_assign(principal.role, body.role)):
        raise HTTPException(403, f"a {principal.role} cannot change this user's role")
    if user.id == principal.user_id and (body.disabled or body.role):
        raise HTTPException(409, "you cannot disable yourself or change your own role")
    changes: dict[str, object] = {}
    if body.role is not None:
        user.role = changes["role"] = body.role.value
    if body.disabled is not None:
        user.disabled = changes["disabled"] = body.disabled
    if body.password is not None:
        user.password_hash = hash_password(body.password)
        changes["password"] = "changed"
    if body.password is not None or body.disabled:
        end_sessions(session, user)  # their API keys are refused while they are disabled, kept for re-enabling
    audit(session, principal, "user.update", f"user:{user.id}", changes)
    return _out(user)


@router.delete("/{user_id}", status_code=204)
def delete_user(user_id: int, principal: Annotated[Principal, Depends(require("users:manage"))],
                session: Annotated[Session, Depends(get_session, scope="function")]) -> None:
    user = _get(session, principal, user_id)
    if user.id == principal.user_id or not may_assign(principal.role, user.role):
        raise HTTPException(403, "you cannot delete this user")
    end_sessions(session, user, keys=True)  # their keys would otherwise outlive them (user_id is set to NULL)
    session.delete(user)
    audit(session, principal, "user.delete", f"user:{user_id}", {"email": user.email})
