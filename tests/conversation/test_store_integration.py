"""The engine on the real store (SQLite from `initialise`): agent from its row, bookings without double
booking, messages, and the recorder's call/turn/event rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from appliance.config import load_config
from appliance.conversation import CallServices
from appliance.conversation.backoffice import DbBackoffice, load_agent
from appliance.conversation.filemode import converse_text
from appliance.conversation.recorder import flush
from appliance.events import EventBus
from tests.conversation.conftest import TODAY, _lines
from tests.fakes.models import TextModels

store = pytest.importorskip("appliance.store.bootstrap", reason="storage layer not in this build")


async def test_booking_persists_once_and_a_second_caller_is_offered_the_next_slot(tmp_path: Path) -> None:
    from appliance.store.db import open_database
    from appliance.store.models import Appointment, Call, CallEventRow, Turn

    settings = load_config(data_dir=tmp_path)
    store.initialise(settings, org_name="Sunny Dental")
    db = open_database(settings)
    agent, org = load_agent(db, "Reception")
    assert agent.organization_name == "Sunny Dental" and agent.id is not None
    services = CallServices(models=TextModels(), bus=EventBus(), db=db, organization_id=org)
    said: list[str] = []
    for n, lines in enumerate([["Book an appointment tomorrow at 3 pm", "Anna", "yes", "bye"],
                               ["Book an appointment tomorrow at 3 pm", "Ben", "yes", "yes", "bye"]]):
        await converse_text(_lines(lines, keep_open=False), services=services, agent=agent, call_id=f"db-{n}",
                            on_text=said.append, today=TODAY)
    flush()
    with db.session() as s:
        booked = [(a.name, a.starts_at) for a in s.scalars(select(Appointment).order_by(Appointment.id))]
        assert booked == [("Anna", dt.datetime(2026, 11, 26, 15)), ("Ben", dt.datetime(2026, 11, 26, 15, 30))]
        call = s.get(Call, "db-0")
        assert call is not None and call.end_reason == "agent_hangup" and call.organization_id == org
        turns = s.scalars(select(Turn).where(Turn.call_id == "db-0").order_by(Turn.index)).all()
        assert turns[1].intent == "book_appointment" and "booked" in turns[3].played_text
        assert "first_sentence_ms" in turns[1].latency
        assert s.scalars(select(CallEventRow).where(CallEventRow.call_id == "db-0")).first() is not None
    assert any("not available" in text for text in said)
    office = DbBackoffice(db, org, agent_id=agent.id)
    assert len(await office.busy_slots(dt.datetime(2026, 11, 26), dt.datetime(2026, 11, 27))) == 2
    db.close()
