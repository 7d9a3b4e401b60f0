"""Appointments of an organization's agents, and when an agent is free.

Times are the agent's local wall-clock (naive, in `AgentConfig.timezone`), as a caller books them by phone;
a time sent with an offset is converted to the agent's timezone first. A booked appointment never overlaps
another booked one of the same agent (the phone booking checks the same way).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.api.resources import Invalid, UtcDatetime
from appliance.api.resources.agents import effective_config
from appliance.errors import Conflict
from appliance.scheduling import Slot, find_slot, is_open
from appliance.store.models import Agent, Appointment, Contact
from appliance.store.repositories import TenantRepo
from appliance.webhooks import events as hook_events
from appliance.webhooks import payloads as hook_payloads
from appliance.webhooks.outbox import emit

Status = Literal["booked", "cancelled", "completed", "no_show"]
PHONE = r"^\+?[0-9 ()/.-]{0,31}$"
MAX_LENGTH = dt.timedelta(hours=12)


class AppointmentChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: dt.datetime | None = Field(None, description="agent-local time (or with an offset)")
    ends_at: dt.datetime | None = None
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, pattern=PHONE)
    email: EmailStr | None = None
    notes: str | None = Field(None, max_length=4000)
    status: Status | None = None
    contact_id: int | None = None


class AppointmentCreate(AppointmentChanges):
    agent_id: int
    starts_at: dt.datetime = Field(description="agent-local time (or with an offset)")
    ends_at: dt.datetime | None = Field(None, description="default: the agent's appointment length later")
    within_hours: bool = Field(False, description="refuse a time outside the agent's business hours")


class AppointmentOut(BaseModel):
    id: int
    agent_id: int
    contact_id: int | None
    call_id: str | None
    name: str
    phone: str
    email: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    timezone: str
    status: str
    notes: str
    created_at: UtcDatetime


class FreeSlot(BaseModel):
    starts_at: dt.datetime
    ends_at: dt.datetime


class Availability(BaseModel):
    agent_id: int
    timezone: str
    minutes: int
    slots: list[FreeSlot]


def _local(value: dt.datetime, tz: str) -> dt.datetime:
    """Agent-local naive wall-clock time, to the minute."""
    if value.tzinfo is not None:
        value = value.astimezone(zoneinfo.ZoneInfo(tz)).replace(tzinfo=None)
    return value.replace(second=0, microsecond=0)


def _naive(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=None)


def appointment_out(row: Appointment, timezone: str) -> AppointmentOut:
    return AppointmentOut(id=row.id, agent_id=row.agent_id, contact_id=row.contact_id, call_id=row.call_id,
                          name=row.name, phone=row.phone, email=row.email, starts_at=_naive(row.starts_at),
                          ends_at=_naive(row.ends_at), timezone=timezone, status=row.status, notes=row.notes,
                          created_at=row.created_at)


def agent_timezone(session: Session, org_id: int, agent_id: int) -> str:
    return effective_config(TenantRepo(session, Agent, org_id).get(agent_id)).timezone


def _check(session: Session, org_id: int, row: Appointment) -> None:
    row.starts_at, row.ends_at = _naive(row.starts_at), _naive(row.ends_at)
    if row.ends_at <= row.starts_at:
        raise Invalid("ends_at must be after starts_at")
    if row.ends_at - row.starts_at > MAX_LENGTH:
        raise Invalid("an appointment lasts at most 12 hours")
    if row.contact_id is not None:
        TenantRepo(session, Contact, org_id).get(row.contact_id)
    if row.status != "booked":
        return
    with session.no_autoflush:
        clash = session.scalars(select(Appointment.id).where(
            Appointment.organization_id == org_id, Appointment.agent_id == row.agent_id,
            Appointment.status == "booked", Appointment.starts_at < row.ends_at, Appointment.ends_at > row.starts_at,
            Appointment.id != (row.id or 0))).first()
        same_start = session.scalars(select(Appointment.id).where(
            Appointment.agent_id == row.agent_id, Appointment.starts_at == row.starts_at,
            Appointment.id != (row.id or 0))).first()
    if clash is not None:
        raise Conflict(f"the agent has appointment {clash} at that time")
    if same_start is not None:  # the DB keeps one appointment per agent and start, cancelled ones included
        raise Conflict(f"appointment {same_start} (not booked) still holds this start time: delete or move it")


def list_appointments(session: Session, org_id: int, *, agent_id: int | None = None,
                      start: dt.datetime | None = None, end: dt.datetime | None = None,
                      status: Status | None = None, limit: int = 100, offset: int = 0) -> list[Appointment]:
    criteria: list[Any] = []
    if agent_id is not None:
        criteria.append(Appointment.agent_id == agent_id)
    if start is not None:
        criteria.append(Appointment.ends_at > _naive(start))
    if end is not None:
        criteria.append(Appointment.starts_at < _naive(end))
    if status is not None:
        criteria.append(Appointment.status == status)
    return list(TenantRepo(session, Appointment, org_id).find(
        *criteria, order_by=(Appointment.starts_at), limit=limit, offset=offset))


def get_appointment(session: Session, org_id: int, appointment_id: int) -> Appointment:
    return TenantRepo(session, Appointment, org_id).get(appointment_id)


def create_appointment(session: Session, org_id: int, body: AppointmentCreate) -> tuple[Appointment, str]:
    """Book (or record) an appointment; a booked one emits `appointment.booked` to the org's webhooks."""
    agent = effective_config(TenantRepo(session, Agent, org_id).get(body.agent_id))
    starts = _local(body.starts_at, agent.timezone)
    ends = _local(body.ends_at, agent.timezone) if body.ends_at else \
        starts + dt.timedelta(minutes=agent.appointment_minutes)
    last_minute = ends - dt.timedelta(minutes=1)
    if body.within_hours and not (is_open(agent.business_hours, starts) and
                                  is_open(agent.business_hours, last_minute) and last_minute.date() == starts.date()):
        raise Invalid("that time is outside the agent's business hours")
    row = Appointment(organization_id=org_id, agent_id=body.agent_id, contact_id=body.contact_id,
                      name=body.name or "", phone=body.phone or "", email=str(body.email or ""),
                      notes=body.notes or "", status=body.status or "booked", starts_at=starts, ends_at=ends)
    _check(session, org_id, row)
    session.add(row)
    session.flush()
    if row.status == "booked":
        emit(session, org_id, hook_events.APPOINTMENT_BOOKED, hook_payloads.appointment_booked(row))
    return row, agent.timezone


def update_appointment(session: Session, org_id: int, appointment_id: int,
                       changes: AppointmentChanges) -> tuple[Appointment, str, list[str]]:
    """Change what `changes` names; a moved appointment keeps its length unless `ends_at` is given too."""
    row = get_appointment(session, org_id, appointment_id)
    tz = agent_timezone(session, org_id, row.agent_id)
    length = _naive(row.ends_at) - _naive(row.starts_at)
    fields = changes.model_dump(exclude_unset=True)
    with session.no_autoflush:
        for key, value in fields.items():
            if key in ("starts_at", "ends_at") and value is not None:
                value = _local(value, tz)
            if value is None and key != "contact_id":
                continue
            setattr(row, key, str(value) if key == "email" else value)
        if fields.get("starts_at") is not None and fields.get("ends_at") is None:
            row.ends_at = _naive(row.starts_at) + length
        _check(session, org_id, row)
    return row, tz, sorted(fields)


def delete_appointment(session: Session, org_id: int, appointment_id: int) -> None:
    TenantRepo(session, Appointment, org_id).delete(appointment_id)


def availability(session: Session, org_id: int, agent_id: int, *, start: dt.datetime | None, days: int,
                 minutes: int | None, limit: int = 200) -> Availability:
    """Free slots of `minutes` within business hours, not before now, on the agent's slot grid."""
    agent = effective_config(TenantRepo(session, Agent, org_id).get(agent_id))
    length = minutes or agent.appointment_minutes
    now = dt.datetime.now(zoneinfo.ZoneInfo(agent.timezone)).replace(tzinfo=None, second=0, microsecond=0)
    begin = max(_local(start, agent.timezone), now) if start else now
    end = dt.datetime.combine(begin.date() + dt.timedelta(days=days), dt.time())
    busy = [Slot(_naive(a.starts_at), _naive(a.ends_at)) for a in session.scalars(select(Appointment).where(
        Appointment.organization_id == org_id, Appointment.agent_id == agent_id, Appointment.status == "booked",
        Appointment.starts_at < end, Appointment.ends_at > begin))]
    slots: list[FreeSlot] = []
    cursor = begin
    while len(slots) < limit:
        slot = find_slot(cursor, hours=agent.business_hours, busy=busy, minutes=length,
                         search_days=max(0, (end.date() - cursor.date()).days))
        if slot is None or slot.end > end:
            break
        slots.append(FreeSlot(starts_at=slot.start, ends_at=slot.end))
        cursor = slot.end
    return Availability(agent_id=agent_id, timezone=agent.timezone, minutes=length, slots=slots)
