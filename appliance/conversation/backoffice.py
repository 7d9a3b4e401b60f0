"""The conversation engine's side of the store: agents, the back office for tools, and the call log rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from appliance.agents import AgentConfig
from appliance.config import Settings
from appliance.errors import NotFound
from appliance.scheduling import Slot
from appliance.store.db import Database
from appliance.store.models import Agent, Appointment, Call, CallEventRow, Contact, Message, Organization, Turn
from appliance.webhooks import events as hook_events
from appliance.webhooks import payloads as hook_payloads
from appliance.webhooks.outbox import emit

LATENCY_KEYS = ("endpoint_wait_ms", "stt_ms", "llm_ttft_ms", "first_sentence_ms", "tts_first_audio_ms", "v2v_ms",
                "overhead_ms")


def load_agent(db: Database, name: str | None) -> tuple[AgentConfig, int | None]:
    """The named agent (or the first one) and its organization id; NotFound if there is none."""
    with db.session() as s:
        query = select(Agent).order_by(Agent.id)
        if name:
            query = query.where(Agent.name == name)
        row = s.scalars(query).first()
        if row is None:
            raise NotFound(f"no agent named {name!r}" if name else "no agent configured (run vocaliq init)")
        org = s.get(Organization, row.organization_id)
        data = {c.name: getattr(row, c.name) for c in Agent.__table__.columns}
        if org is not None and "organization_name" not in (row.config or {}):
            data["organization_name"] = org.name
        return AgentConfig.from_row(data), row.organization_id


def default_org_id(settings: Settings) -> int | None:
    from appliance.store.db import open_database

    db = open_database(settings)
    try:
        with db.session() as s:
            return s.scalars(select(Organization.id).order_by(Organization.id)).first()
    except Exception:  # no DB yet: knowledge works per box
        return None
    finally:
        db.close()


class DbBackoffice:
    """`tools.Backoffice` over the store, scoped to one organization and agent (its calendar)."""

    def __init__(self, db: Database, organization_id: int | None, *, agent_id: int | None = None,
                 timezone: str = "") -> None:
        self.db, self.org, self.agent_id, self.timezone = db, organization_id, agent_id, timezone

    async def busy_slots(self, start: dt.datetime, end: dt.datetime) -> list[Slot]:
        import asyncio

        def read() -> list[Slot]:
            with self.db.session() as s:
                rows = s.scalars(select(Appointment).where(
                    Appointment.organization_id == self.org, Appointment.agent_id == self.agent_id,
                    Appointment.status == "booked", Appointment.starts_at < end, Appointment.ends_at > start))
                return [Slot(r.starts_at, r.ends_at) for r in rows]

        return await asyncio.to_thread(read)

    async def create_appointment(self, *, start: dt.datetime, end: dt.datetime, name: str, phone: str, note: str,
                                 call_id: str) -> str | None:
        import asyncio

        from appliance.errors import StorageError

        def write() -> str | None:
            try:
                with self.db.session() as s:
                    clash = s.scalars(select(Appointment.id).where(
                        Appointment.organization_id == self.org, Appointment.agent_id == self.agent_id,
                        Appointment.status == "booked", Appointment.starts_at < end,
                        Appointment.ends_at > start)).first()
                    if clash is not None or self.org is None or self.agent_id is None:
                        return None
                    row = Appointment(organization_id=self.org, agent_id=self.agent_id, name=name, phone=phone,
                                      starts_at=start, ends_at=end, notes=note, call_id=_call_ref(s, call_id))
                    s.add(row)
                    s.flush()
                    emit(s, self.org, hook_events.APPOINTMENT_BOOKED, hook_payloads.appointment_booked(row))
                    return str(row.id)
            except StorageError:  # the unique (agent, start) constraint: someone else was faster
                return None

        return await asyncio.to_thread(write)

    async def create_message(self, *, name: str, phone: str, text: str, call_id: str) -> str:
        import asyncio

        def write() -> str:
            with self.db.session() as s:
                row = Message(organization_id=self.org, agent_id=self.agent_id, caller_name=name, phone=phone,
                              text=text, call_id=_call_ref(s, call_id))
                s.add(row)
                s.flush()
                emit(s, self.org, hook_events.MESSAGE_TAKEN, hook_payloads.message_taken(row))
                return str(row.id)

        return await asyncio.to_thread(write)

    async def find_contact(self, phone: str) -> dict[str, Any] | None:
        import asyncio

        def read() -> dict[str, Any] | None:
            with self.db.session() as s:
                row = s.scalars(select(Contact).where(Contact.organization_id == self.org,
                                                      Contact.phone == phone)).first()
                return None if row is None else {"name": row.name, "phone": row.phone, "email": row.email}

        return await asyncio.to_thread(read)


def _call_ref(s: Any, call_id: str) -> str | None:
    return call_id if s.get(Call, call_id) is not None else None


class DbCallLog:
    """`recorder.CallLog` over the store (called from the recorder's writer thread)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start_call(self, *, call_id: str, organization_id: int | None, agent_id: int | None, direction: str,
                   caller: str, callee: str, transport: str) -> None:
        if organization_id is None:
            return
        with self.db.session() as s:
            call = Call(id=call_id, organization_id=organization_id, agent_id=agent_id, direction=direction,
                        caller=caller, callee=callee, transport=transport[:10], status="active",
                        answered_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
            s.add(call)
            s.flush()
            emit(s, organization_id, hook_events.CALL_STARTED, hook_payloads.call_started(call))

    def save_turn(self, *, call_id: str, organization_id: int | None, turn: dict[str, Any]) -> None:
        if organization_id is None:
            return
        with self.db.session() as s:
            if s.get(Call, call_id) is None:
                return
            row = s.scalars(select(Turn).where(Turn.call_id == call_id, Turn.index == turn["index"])).first()
            new = row is None
            if row is None:
                row = Turn(organization_id=organization_id, call_id=call_id, index=turn["index"])
                s.add(row)
            row.user_text, row.agent_text, row.played_text = turn["user_text"], turn["agent_text"], \
                turn["played_text"]
            row.interrupted, row.intent, row.entities = turn["interrupted"], turn["intent"], turn["entities"]
            row.sentiment = turn["sentiment"]
            row.latency = {k: turn.get(k) for k in LATENCY_KEYS}
            if new:
                emit(s, organization_id, hook_events.TURN_COMPLETED, hook_payloads.turn_completed(row))

    def add_events(self, *, call_id: str, organization_id: int | None, events: list[dict[str, Any]]) -> None:
        if organization_id is None:
            return
        with self.db.session() as s:
            if s.get(Call, call_id) is None:
                return
            s.add_all(CallEventRow(organization_id=organization_id, call_id=call_id, type=e["type"], ts=e["ts"],
                                   payload={k: v for k, v in e.items() if k not in ("type", "call_id")})
                      for e in events)

    def end_call(self, *, call_id: str, organization_id: int | None, reason: str, duration_s: float,
                 summary: str, sentiment: float) -> None:
        if organization_id is None:
            return
        with self.db.session() as s:
            row = s.get(Call, call_id)
            if row is None:
                return
            row.status, row.end_reason, row.duration_s = "ended", reason, duration_s
            row.summary, row.sentiment = summary, sentiment
            row.ended_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            emit(s, organization_id, hook_events.CALL_ENDED, hook_payloads.call_ended(row))
