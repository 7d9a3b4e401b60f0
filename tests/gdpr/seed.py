"""Put one caller's footprint everywhere the appliance keeps data: a call through the real session and store
(turns, events, a message, webhook outbox rows), a recording WAV referenced by the call, a knowledge chunk."""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from appliance.conversation import CallServices
from appliance.conversation.backoffice import load_agent
from appliance.conversation.filemode import converse_text
from appliance.conversation.recorder import flush
from appliance.events import EventBus
from appliance.store.models import Webhook
from appliance.store.routing import add_recording
from appliance.webhooks.registry import create_webhook
from tests.conversation.conftest import TODAY, _lines
from tests.fakes.models import TextModels
from tests.gdpr.conftest import Box


@dataclass(frozen=True)
class Footprint:
    call_id: str
    phone: str
    phrase: str
    pcm_marker: bytes  # random audio bytes only this caller's recording holds
    recording: Path


def subscribe_webhook(box: Box) -> None:
    with box.db.session() as s:
        if s.scalars(select(Webhook)).first() is None:  # nobody listens: the payloads stay in the outbox
            create_webhook(s, box.settings.paths, box.org, url="http://127.0.0.1:9/hook")


async def seed_caller(box: Box, *, call_id: str, phone: str, name: str, phrase: str) -> Footprint:
    subscribe_webhook(box)
    agent, org = load_agent(box.db, "Reception")
    services = CallServices(models=TextModels(), bus=EventBus(), db=box.db, organization_id=org)
    lines = ["Can I leave a message?", name, f"Please tell the doctor {phrase}", "yes"]
    await converse_text(_lines(lines, keep_open=False), services=services, agent=agent, call_id=call_id,
                        on_text=lambda _: None, caller=phone, today=TODAY)
    flush()
    marker = os.urandom(64)
    path = box.settings.paths.recordings / f"{call_id}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 1600 + marker + b"\x00\x00" * 1600)
    add_recording(box.db, call_id, path)
    return Footprint(call_id, phone, phrase, marker, path)


async def seed_knowledge(box: Box, text: str, name: str = "crm-export.txt") -> None:
    from appliance.conversation.services import open_knowledge

    knowledge = open_knowledge(box.settings)
    await knowledge.add_document(box.org, name, text.encode())
