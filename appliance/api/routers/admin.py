"""System information, audit log query and verification of its hash chain."""

from __future__ import annotations

import datetime as dt
import os
import platform
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, get_session, require
from appliance.api.resources.live_calls import live_calls
from appliance.store.models import AuditEntry
from appliance.store.repositories import AuditLog

router = APIRouter(prefix="/admin", tags=["admin"])


class AuditOut(BaseModel):
    id: int
    ts: dt.datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class ChainOut(BaseModel):
    intact: bool
    first_bad_id: int | None


@router.get("/system")
def system(request: Request, principal: Annotated[Principal, Depends(require("system:read"))]) -> dict[str, Any]:
    settings = request.app.state.settings
    box = request.app.state.appliance
    return {"version": request.app.version, "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "database": request.app.state.db.safe_url,
            "hosted_models_enabled": bool(getattr(settings.models, "hosted_enabled", False)),
            "live_calls": len(live_calls(box, principal.org_id))}  # this organization's only


@router.get("/audit")
def audit_log(principal: Annotated[Principal, Depends(require("audit:read"))],
              session: Annotated[Session, Depends(get_session, scope="function")],
              action: Annotated[str | None, Query(max_length=100)] = None,
              actor: Annotated[str | None, Query(max_length=320)] = None,
              since: dt.datetime | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[AuditOut]:
    """This organization's audit entries, newest first."""
    stmt = select(AuditEntry).where(AuditEntry.organization_id == principal.org_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if since:
        stmt = stmt.where(AuditEntry.ts >= since)
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).offset(offset).limit(limit))
    return [AuditOut(id=r.id, ts=r.ts, actor=r.actor, action=r.action, target=r.target, detail=r.detail or {})
            for r in rows]


@router.get("/audit/verify")
def verify_chain(principal: Annotated[Principal, Depends(require("audit:read"))],
                 session: Annotated[Session, Depends(get_session, scope="function")]) -> ChainOut:
    """Recompute the whole chain (every org's entries are links of one chain)."""
    intact, bad = AuditLog(session).verify()
    return ChainOut(intact=intact, first_bad_id=bad)
