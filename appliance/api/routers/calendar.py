"""Appointments of the caller's organization (CRUD) and an agent's free slots. Times are the agent's local
wall-clock (`timezone` in each answer); a booking never overlaps another booked appointment of the agent."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.resources import appointments as svc

router = APIRouter(prefix="/calendar", tags=["calendar"])
Reader = Annotated[Principal, Depends(require("content:read"))]
Writer = Annotated[Principal, Depends(require("content:write"))]
Db = Annotated[Session, Depends(get_session, scope="function")]


@router.get("/appointments")
def list_appointments(principal: Reader, session: Db, agent_id: int | None = None,
                      start: Annotated[dt.datetime | None, Query(alias="from", description="ending after")] = None,
                      end: Annotated[dt.datetime | None, Query(alias="to", description="starting before")] = None,
                      status: svc.Status | None = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100,
                      offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> list[svc.AppointmentOut]:
    rows = svc.list_appointments(session, principal.org_id, agent_id=agent_id, start=start, end=end,
                                 status=status, limit=limit, offset=offset)
    zones: dict[int, str] = {}
    return [svc.appointment_out(r, zones.setdefault(r.agent_id, svc.agent_timezone(session, principal.org_id,
                                                                                 r.agent_id))) for r in rows]


@router.post("/appointments", status_code=201, responses={400: {}, 404: {}, 409: {}})
def create_appointment(body: svc.AppointmentCreate, principal: Writer, session: Db) -> svc.AppointmentOut:
    row, tz = svc.create_appointment(session, principal.org_id, body)
    audit(session, principal, "appointment.create", f"appointment:{row.id}",
          {"agent_id": row.agent_id, "starts_at": row.starts_at.isoformat()})
    return svc.appointment_out(row, tz)


@router.get("/appointments/{appointment_id}", responses={404: {}})
def get_appointment(appointment_id: int, principal: Reader, session: Db) -> svc.AppointmentOut:
    row = svc.get_appointment(session, principal.org_id, appointment_id)
    return svc.appointment_out(row, svc.agent_timezone(session, principal.org_id, row.agent_id))


@router.patch("/appointments/{appointment_id}", responses={400: {}, 404: {}, 409: {}})
def update_appointment(appointment_id: int, body: svc.AppointmentChanges, principal: Writer,
                       session: Db) -> svc.AppointmentOut:
    row, tz, changed = svc.update_appointment(session, principal.org_id, appointment_id, body)
    audit(session, principal, "appointment.update", f"appointment:{appointment_id}", {"fields": changed})
    return svc.appointment_out(row, tz)


@router.delete("/appointments/{appointment_id}", status_code=204, responses={404: {}})
def delete_appointment(appointment_id: int, principal: Writer, session: Db) -> None:
    svc.delete_appointment(session, principal.org_id, appointment_id)
    audit(session, principal, "appointment.delete", f"appointment:{appointment_id}")


@router.get("/agents/{agent_id}/availability", responses={404: {}})
def availability(agent_id: int, principal: Reader, session: Db,
                 start: Annotated[dt.datetime | None, Query(alias="from", description="default: now")] = None,
                 days: Annotated[int, Query(ge=1, le=31)] = 7,
                 minutes: Annotated[int | None, Query(ge=5, le=480)] = None) -> svc.Availability:
    """Free slots within business hours (the agent's appointment length unless `minutes` is given)."""
    return svc.availability(session, principal.org_id, agent_id, start=start, days=days, minutes=minutes)
