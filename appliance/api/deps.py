"""Request dependencies: the DB session, who is calling (`Principal`), RBAC and rate limits.

Add a route: `def handler(p: Annotated[Principal, Depends(require("agents:read"))], s: DbSession)` and query
org-owned rows only through `tenant_repo(s, p, Model)` (another org's id is then a 404, like a missing one).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from appliance.api import rbac
from appliance.api.ratelimit import Limiter
from appliance.api.security import API_KEY_PREFIX, TokenError, digest, password_stamp, read_access
from appliance.config import Settings
from appliance.store.db import Database
from appliance.store.models import ApiKey, Base, User
from appliance.store.repositories import AuditLog, TenantRepo

T = TypeVar("T", bound=Base)
# Refused credentials per client address and minute that are audited; beyond it: 429 and no audit row, so
# a flood of garbage tokens cannot grow the audit log (or its hash chain) at will.
REFUSALS_PER_MINUTE = 30
# `last_used_at` is written at most this often per key: a key used for every request must not make every
# request a write.
KEY_USE_RESOLUTION = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user (JWT) or an API key, always inside one organization."""

    org_id: int
    role: str
    user_id: int | None = None
    api_key_id: int | None = None
    is_superadmin: bool = False
    email: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> str:
        """Who did it, as the audit log names them: the user's email or `api_key:<id>`."""
        return self.email if self.api_key_id is None else f"api_key:{self.api_key_id}"

    @property
    def scopes(self) -> frozenset[str]:
        """What this caller may do: the role's permissions (narrowed by an API key's scopes)."""
        return self.permissions

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(db: Annotated[Database, Depends(database)]) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back when it raises.

    Always `Depends(get_session, scope="function")` (or `DbSession`): FastAPI's default "request" scope would
    commit after the answer is sent (a client told 201 could not yet read it from another connection, and a
    failed commit would go unreported), and a mix of scopes gives one request two transactions.
    """
    with db.session() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def refuse(request: HTTPConnection, reason: str, detail: dict[str, Any] | None = None) -> HTTPException:
    """Audit a refused credential (in its own transaction: the request's is rolled back) and return 401.

    Past REFUSALS_PER_MINUTE from one client address the answer is 429 and nothing more is written.
    """
    db: Database = request.app.state.db
    client = request.client.host if request.client else ""
    limiter: Limiter = request.app.state.limiter
    verdict = limiter.hit(f"refused:{client}", REFUSALS_PER_MINUTE)
    if not verdict.allowed:
        return HTTPException(429, "too many refused credentials", headers={"Retry-After": str(verdict.retry_after)})
    with db.session() as s:
        AuditLog(s).append("auth.refused", actor=client, target=request.url.path,
                           detail={"reason": reason, **(detail or {})})
    return _unauthorized(reason)


def _from_api_key(request: HTTPConnection, session: Session, secret: str) -> Principal:
    key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest(secret))).first()
    if key is None or key.revoked_at is not None:
        raise refuse(request, "unknown or revoked API key", {"prefix": secret[:11]})
    user = session.get(User, key.user_id) if key.user_id is not None else None
    if user is not None and user.organization_id != key.organization_id:
        raise refuse(request, "API key and its user belong to different organizations", {"key": key.id})
    if user is not None and user.disabled:
        raise refuse(request, "API key owner disabled", {"key": key.id})
    role = user.role if user is not None else rbac.Role.VIEWER
    granted = rbac.permissions(role) & frozenset(key.scopes or rbac.permissions(role))
    now = dt.datetime.now(dt.UTC)
    last = key.last_used_at
    if last is None or now - (last if last.tzinfo else last.replace(tzinfo=dt.UTC)) >= KEY_USE_RESOLUTION:
        key.last_used_at = now
    return Principal(org_id=key.organization_id, role=role, api_key_id=key.id, permissions=granted,
                     user_id=key.user_id, email=f"api_key:{key.prefix}")


def _from_jwt(request: HTTPConnection, session: Session, token: str) -> Principal:
    try:
        claims = read_access(request.app.state.settings, token)
    except TokenError as exc:
        raise refuse(request, str(exc)) from None
    user = session.get(User, claims.user_id)
    if user is None or user.disabled or user.organization_id != claims.org_id:
        raise refuse(request, "user unknown or disabled", {"user": claims.user_id})
    if not hmac.compare_digest(claims.stamp, password_stamp(user.password_hash)):
        raise refuse(request, "token issued before the password changed", {"user": claims.user_id})
    return Principal(org_id=user.organization_id, role=user.role, user_id=user.id, email=user.email,
                     is_superadmin=user.is_superadmin, permissions=rbac.permissions(user.role))


# Declared as security schemes (not plain headers): /api/docs gets an "Authorize" button and generated clients
# and schemathesis send credentials instead of inventing header values.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="An access token from POST /auth/login, or an API key (vq_...).")
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey", description="An API key (vq_...).")


def principal_from(request: HTTPConnection, session: Session, bearer: HTTPAuthorizationCredentials | None,
                   api_key: str | None) -> Principal:
    """The caller named by `X-API-Key` (it wins) or `Authorization: Bearer` (a JWT or an API key); 401 else."""
    if api_key:
        return _from_api_key(request, session, api_key)
    if bearer is not None and bearer.credentials:
        return authenticate(request, session, bearer.credentials)
    raise _unauthorized("authentication required")


def current_principal(request: Request, session: Annotated[Session, Depends(get_session, scope="function")],
                      bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
                      api_key: Annotated[str | None, Security(API_KEY)]) -> Principal:
    """Who is calling, rate limited per user or key and per organization."""
    principal = principal_from(request, session, bearer, api_key)
    enforce_rate_limits(request, principal)
    request.state.principal = principal
    return principal


def authenticate(conn: HTTPConnection, session: Session, credential: str) -> Principal:
    """A bare credential (JWT or API key), e.g. from a WebSocket's `token` query parameter."""
    if credential.startswith(API_KEY_PREFIX):
        return _from_api_key(conn, session, credential)
    return _from_jwt(conn, session, credential)


def enforce_rate_limits(request: Request, principal: Principal) -> None:
    limiter: Limiter = request.app.state.limiter
    per_minute = request.app.state.settings.security.rate_limit_per_minute
    own = f"key:{principal.api_key_id}" if principal.api_key_id is not None else f"user:{principal.user_id}"
    for key, limit in ((own, per_minute), (f"org:{principal.org_id}", per_minute * 5)):
        verdict = limiter.hit(key, limit)
        if not verdict.allowed:
            raise HTTPException(429, f"rate limit exceeded ({key.split(':')[0]})",
                                headers={"Retry-After": str(verdict.retry_after)})


def limit_client(request: Request, bucket: str, limit: int) -> None:
    """Rate limit an unauthenticated route (e.g. login) by client address."""
    limiter: Limiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    verdict = limiter.hit(f"{bucket}:{client}", limit)
    if not verdict.allowed:
        raise HTTPException(429, "too many requests", headers={"Retry-After": str(verdict.retry_after)})


def require(permission: str) -> Callable[..., Principal]:
    """Dependency: the caller must hold `permission` (see rbac.py); 403 otherwise.

    The returned callable carries `.permission`, so tests can read every route's requirement from the app.
    """
    if permission not in rbac.ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(permission):
            raise HTTPException(403, f"this needs the {permission!r} permission")
        return principal

    setattr(check, "permission", permission)  # noqa: B010 - a plain attribute on a function; mypy wants setattr
    return check


def tenant_repo(session: Session, principal: Principal, model: type[T]) -> TenantRepo[T]:
    """`model`'s rows as the caller may see them: their organization's only (another org's id is a 404)."""
    return TenantRepo(session, model, principal.org_id)


def superadmin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """Dependency: the box's superadmin, signed in as a user (an API key never acts as the superadmin)."""
    if not principal.is_superadmin or principal.api_key_id is not None:
        raise HTTPException(403, "only the superadmin may do this")
    return principal


def audit(session: Session, principal: Principal, action: str, target: str = "",
          detail: dict[str, Any] | None = None) -> None:
    """Append to the hash-chained audit log in the request's transaction."""
    AuditLog(session).append(action, actor=principal.actor, target=target, organization_id=principal.org_id,
                             detail=detail)
