from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from appliance.agents import AgentConfig, default_reception_agent
from appliance.conversation import CallOutcome, CallServices
from appliance.conversation.session import CallSession
from appliance.events import CallEvent, EventBus
from appliance.legs.text import TextLeg
from tests.fakes.backoffice import MemoryBackoffice
from tests.fakes.llm import ScriptedLLM
from tests.fakes.models import TextModels

TODAY = dt.date(2026, 11, 25)  # a Wednesday


@dataclass
class ChatRun:
    outcome: CallOutcome
    said: list[str]
    events: list[CallEvent]
    backoffice: MemoryBackoffice
    leg: TextLeg
    llm: ScriptedLLM = field(default_factory=ScriptedLLM)

    @property
    def text(self) -> str:
        return " ".join(self.said)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]


async def _lines(lines: Sequence[str], keep_open: bool) -> AsyncIterator[str]:
    for line in lines:
        await asyncio.sleep(0)
        yield line
    if keep_open:  # a caller who stays on the line without saying anything more
        await asyncio.Event().wait()


async def chat(lines: Sequence[str], *, llm: ScriptedLLM | None = None, agent: AgentConfig | None = None,
               backoffice: MemoryBackoffice | None = None, caller: str = "", hang_up: bool = True) -> ChatRun:
    said: list[str] = []
    bus = EventBus()
    events: list[CallEvent] = []
    bus.subscribe(events.append)
    llm = llm or ScriptedLLM()
    backoffice = backoffice or MemoryBackoffice()
    leg = TextLeg(_lines(lines, keep_open=not hang_up), on_text=said.append, caller=caller)
    agent = agent or AgentConfig.from_mapping(default_reception_agent())
    session = CallSession(leg, services=CallServices(models=TextModels(llm=llm), bus=bus), agent=agent,
                          transport="text", today=TODAY, backoffice=backoffice)
    outcome = await asyncio.wait_for(session.run(), timeout=30)
    return ChatRun(outcome, said, events, backoffice, leg, llm)


@pytest.fixture
def reception() -> AgentConfig:
    return AgentConfig.from_mapping(default_reception_agent())
