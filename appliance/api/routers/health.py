"""Liveness, readiness (DB, models, SIP registrations) and Prometheus metrics."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from appliance.api.deps import API_KEY, BEARER, get_session, principal_from
from appliance.store.models import User

router = APIRouter(tags=["monitoring"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process answers (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/ready")
def ready(request: Request) -> JSONResponse:
    """503 until the DB answers at the current schema; models and SIP registrations (counts) when the box runs them."""
    checks: dict[str, Any] = {}
    db = request.app.state.db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = db.is_current()
        checks["database"] = {"ok": current, "detail": "" if current else "schema not at head"}
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": exc.__class__.__name__}
    box = request.app.state.appliance
    if box is not None:
        local = getattr(box, "local", None)
        models = getattr(getattr(local, "services", None), "models", None)
        checks["models"] = {"ok": models is not None}
        # Counts only: this route needs no login, and trunk names belong to the organizations that made them.
        checks["sip"] = {"ok": box.ua is not None or not box.settings.sip.enabled,
                         "registrations": {"trunks": len(box.registrations),
                                           "registered": sum(1 for reg in box.registrations.values() if reg[0])}}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


def _allowed_network(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    cidrs = request.app.state.settings.security.metrics_allowed_cidrs
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


@router.get("/metrics", response_class=Response, responses={401: {}, 403: {}})
def metrics(request: Request, session: Annotated[Session, Depends(get_session, scope="function")],
            bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
            api_key: Annotated[str | None, Security(API_KEY)]) -> Response:
    """Prometheus text format: request latency, calls, per-stage latency, failovers, SIP registrations.

    Box-wide (trunk names, every organization's calls): open to `[security] metrics_allowed_cidrs` (loopback by
    default), else only with the superadmin's credential (an API key they made with `system:read` suits a
    scraper).
    """
    if not _allowed_network(request):
        principal = principal_from(request, session, bearer, api_key)
        user = session.get(User, principal.user_id) if principal.user_id is not None else None
        if user is None or not user.is_superadmin or not principal.can("system:read"):
            raise HTTPException(403, "the box's metrics are the superadmin's")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
