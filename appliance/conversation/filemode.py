"""Run a whole conversation against a caller recording (FileLeg) or a list of typed lines (TextLeg) and
collect what happened: the outcome, one record per turn with latencies, the agent audio and all events.
Shared by `vocaliq chat`, `vocaliq converse`, bench/pipeline.py and the tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.agents import AgentConfig
from appliance.audio import AudioFrame
from appliance.conversation import CallOutcome, CallServices
from appliance.conversation.session import CallSession
from appliance.conversation.timeline import CallTimeline, TurnRecord
from appliance.events import CallEvent
from appliance.legs.file import FileLeg
from appliance.legs.text import TextLeg


@dataclass(slots=True)
class ConversationRun:
    outcome: CallOutcome
    turns: list[TurnRecord]
    events: list[CallEvent] = field(default_factory=list)
    agent_audio: AudioFrame | None = None
    leg: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.outcome.call_id, "reason": str(self.outcome.reason), "turns": [t.to_dict() for t in
                self.turns], "actions": [{"tool": a["tool"], "ok": a["result"].get("ok")} for a in
                                         self.outcome.actions]}


async def _run(leg: Any, services: CallServices, agent: AgentConfig, transport: str, today: dt.date | None,
               backoffice: Any) -> ConversationRun:
    timeline = CallTimeline(leg.call_id)
    events: list[CallEvent] = []
    unsubscribe = [services.bus.subscribe(timeline.on_event), services.bus.subscribe(events.append)]
    try:
        session = CallSession(leg, services=services, agent=agent, transport=transport, today=today,
                              backoffice=backoffice)
        outcome = await session.run()
    finally:
        for undo in unsubscribe:
            undo()
    turns = [timeline.turns[i] for i in sorted(timeline.turns)]
    return ConversationRun(outcome, turns, events, leg=leg)


async def converse_file(caller_audio: AudioFrame, *, services: CallServices, agent: AgentConfig,
                        call_id: str, caller: str = "", linger_ms: float = 6000.0, today: dt.date | None = None,
                        backoffice: Any = None) -> ConversationRun:
    """Feed `caller_audio` in real time through the whole audio pipeline; the agent track is time-aligned."""
    leg = FileLeg(caller_audio, call_id=call_id, caller=caller, linger_ms=linger_ms)
    run = await _run(leg, services, agent, "file", today, backoffice)
    run.agent_audio = leg.agent_track()
    return run


async def converse_text(lines: AsyncIterable[str], *, services: CallServices, agent: AgentConfig, call_id: str,
                        on_text: Callable[[str], None], caller: str = "", today: dt.date | None = None,
                        backoffice: Any = None) -> ConversationRun:
    """A typed conversation through the same session logic (no audio models needed besides the LLM)."""
    leg = TextLeg(lines, on_text=on_text, call_id=call_id, caller=caller)
    return await _run(leg, services, agent, "text", today, backoffice)
