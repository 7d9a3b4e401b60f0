"""Liveness, readiness (DB, models, SIP registrations) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

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
        checks["database"] = {"ok": db.is_current(), "detail": "" if db.is_current() else "schema not at head"}
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


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus text format: request latency, calls, per-stage latency, failovers, SIP registrations."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
