"""Persistence subscriber: turns one call's events into `calls`, `turns` and `call_events` rows.

The bus delivers events on the loop thread; DB writes go to one background writer thread (in order, never
blocking the call). A turn row is written when its agent speech finishes or is interrupted (with the text
actually heard); the call row is finalised on CallEnded.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from appliance.agents import AgentConfig
from appliance.conversation.timeline import CallTimeline
from appliance.events import AgentSpeechFinished, AgentSpeechInterrupted, CallEnded, CallEvent, CallStarted

log = logging.getLogger(__name__)
_WRITER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-recorder")


class CallLog(Protocol):
    """The rows a call leaves behind (implemented over the store by `backoffice.DbCallLog`)."""

    def start_call(self, *, call_id: str, organization_id: int | None, agent_id: int | None, direction: str,
                   caller: str, callee: str, transport: str) -> None: ...

    def save_turn(self, *, call_id: str, organization_id: int | None, turn: dict[str, Any]) -> None: ...

    def add_events(self, *, call_id: str, organization_id: int | None, events: list[dict[str, Any]]) -> None: ...

    def end_call(self, *, call_id: str, organization_id: int | None, reason: str, duration_s: float,
                 summary: str, sentiment: float) -> None: ...


class CallRecorder:
    """Builds the rows of calls on one bus (see module docstring)."""

    def __init__(self, db: Any, organization_id: int | None, *, agent: AgentConfig | None = None,
                 transport: str = "", call_log: CallLog | None = None,
                 submit: Callable[[Callable[[], None]], Any] | None = None) -> None:
        if call_log is None:
            from appliance.conversation.backoffice import DbCallLog

            call_log = DbCallLog(db)
        self.log = call_log
        self.org = organization_id
        self.agent = agent
        self.transport = transport
        self._submit = submit or (lambda fn: _WRITER.submit(self._guard, fn))

    @staticmethod
    def _guard(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # a failed write must not end the call; it is logged with its call id
            log.exception("call recorder write failed")

    def for_call(self, call_id: str) -> Callable[[CallEvent], None]:
        """A bus subscriber recording only `call_id`."""
        timeline = CallTimeline(call_id)
        pending: list[dict[str, Any]] = []
        started = time.monotonic()
        org = self.org

        def on_event(event: CallEvent) -> None:
            if event.call_id != call_id:
                return
            timeline.on_event(event)
            row = event.to_dict()
            row["offset_ms"] = round((event.ts - started) * 1000.0, 1)
            pending.append(row)
            if isinstance(event, CallStarted):
                agent_id = self.agent.id if self.agent else None
                self._submit(lambda: self.log.start_call(
                    call_id=call_id, organization_id=org, agent_id=agent_id, direction=event.direction,
                    caller=event.caller, callee=event.callee, transport=event.transport or self.transport))
            elif isinstance(event, AgentSpeechFinished | AgentSpeechInterrupted):
                turn = timeline.turn(event.turn).to_dict()
                self._submit(lambda: self.log.save_turn(call_id=call_id, organization_id=org, turn=turn))
            if isinstance(event, AgentSpeechFinished | AgentSpeechInterrupted | CallEnded) and pending:
                batch = list(pending)
                pending.clear()
                self._submit(lambda: self.log.add_events(call_id=call_id, organization_id=org, events=batch))
            if isinstance(event, CallEnded):
                turns = [timeline.turns[i] for i in sorted(timeline.turns)]
                sentiments = [t.sentiment for t in turns if t.user_text]
                mood = round(sum(sentiments) / len(sentiments), 2) if sentiments else 0.0
                summary = _summary(turns)
                self._submit(lambda: self.log.end_call(call_id=call_id, organization_id=org, reason=event.reason,
                                                       duration_s=event.duration_s, summary=summary,
                                                       sentiment=mood))

        return on_event


def _summary(turns: list[Any]) -> str:
    """One line: what the caller wanted and what was done (intents and tools in order)."""
    intents = [t.intent for t in turns if t.intent not in ("", "unknown", "empty", "affirm", "deny", "dtmf")]
    tools = [tool for t in turns for tool in t.tools if tool != "search_knowledge"]
    parts = []
    if intents:
        parts.append("caller: " + ", ".join(dict.fromkeys(intents)))
    if tools:
        parts.append("done: " + ", ".join(dict.fromkeys(tools)))
    return "; ".join(parts) or "no request"


def flush(timeout: float = 10.0) -> None:
    """Wait until every queued write has been done (tests, shutdown)."""
    _WRITER.submit(lambda: None).result(timeout=timeout)
