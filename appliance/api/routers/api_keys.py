"""API keys: the secret is shown once and stored hashed; scopes narrow the owner's permissions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from appliance.api import rbac
from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.security import digest, new_api_key
from appliance.store.models import ApiKey
from appliance.store.repositories import TenantRepo

router = APIRouter(prefix="/api-keys", tags=["api keys"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("scopes")
    @classmethod
    def known(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - rbac.ALL_PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return scopes


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class KeyCreated(KeyOut):
    secret: str = Field(description="shown once; store it now")


def _out(key: ApiKey) -> KeyOut:
    return KeyOut(id=key.id, name=key.name, prefix=key.prefix, scopes=list(key.scopes or []),
                  created_at=key.created_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at)


@router.get("")
def list_keys(principal: Annotated[Principal, Depends(require("keys:manage"))],
              session: Annotated[Session, Depends(get_session, scope="function")]) -> list[KeyOut]:
    return [_out(k) for k in TenantRepo(session, ApiKey, principal.org_id).find(order_by=ApiKey.id)]


@router.post("", status_code=201)
def create_key(body: KeyCreate, principal: Annotated[Principal, Depends(require("keys:manage"))],
               session: Annotated[Session, Depends(get_session, scope="function")]) -> KeyCreated:
    beyond = set(body.scopes) - principal.permissions
    if beyond:
        raise HTTPException(403, f"you cannot grant scopes you do not hold: {', '.join(sorted(beyond))}")
    secret, prefix = new_api_key()
    key = TenantRepo(session, ApiKey, principal.org_id).add(
        name=body.name, prefix=prefix, key_hash=digest(secret), scopes=body.scopes or sorted(principal.permissions),
        user_id=principal.user_id)
    audit(session, principal, "api_key.create", f"api_key:{key.id}", {"name": body.name, "prefix": prefix})
    return KeyCreated(**_out(key).model_dump(), secret=secret)


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: int, principal: Annotated[Principal, Depends(require("keys:manage"))],
               session: Annotated[Session, Depends(get_session, scope="function")]) -> None:
    key = TenantRepo(session, ApiKey, principal.org_id).get(key_id)
    if key.revoked_at is None:
        key.revoked_at = dt.datetime.now(dt.UTC)
    audit(session, principal, "api_key.revoke", f"api_key:{key.id}", {"prefix": key.prefix})
