"""Typed call events and the bus that carries them.

One stream of events per call is the single source for DB turns, latencies, metrics, webhooks, the API's
live view and the TUI. Every event carries `call_id` and a monotonic timestamp `ts` (seconds); latencies are
differences of event timestamps, never separate stopwatches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def now() -> float:
    """The clock every event uses (monotonic seconds)."""
    return time.monotonic()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent:
    call_id: str
    ts: float = field(default_factory=now)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted(CallEvent):
    direction: str
    caller: str
    callee: str
    agent: str = ""
    transport: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(CallEvent):
    """VAD: caller speech began (audio time of the first voiced window)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechEnded(CallEvent):
    """VAD: caller speech stopped (start of silence)."""

    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfTurn(CallEvent):
    """Endpointing decided the caller finished their turn (silence long enough)."""

    turn: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(CallEvent):
    turn: int
    text: str
    language: str = ""
    confidence: float = 0.0
    final: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent(CallEvent):
    turn: int
    intent: str
    entities: dict[str, Any] = field(default_factory=dict)
    sentiment: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LlmFirstToken(CallEvent):
    turn: int
    backend: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstSentence(CallEvent):
    """The reply's first complete sentence is ready for TTS."""

    turn: int
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TtsFirstAudio(CallEvent):
    turn: int
    backend: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpeechStarted(CallEvent):
    turn: int
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpeechInterrupted(CallEvent):
    turn: int
    planned_text: str = ""
    played_text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpeechFinished(CallEvent):
    turn: int
    played_text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCalled(CallEvent):
    turn: int
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    ok: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Dtmf(CallEvent):
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Transferred(CallEvent):
    target: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFailover(CallEvent):
    """A model backend failed or missed its deadline and the next in the chain answered."""

    modality: str
    failed: str
    reason: str
    next_backend: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageError(CallEvent):
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(CallEvent):
    reason: str
    duration_s: float = 0.0


Subscriber = Callable[[CallEvent], None]


class EventBus:
    """Fan-out of CallEvents to sync callbacks and async queues, in publish order.

    `publish` is safe to call from the loop thread only; threads hand off with `publish_threadsafe`.
    A slow queue subscriber drops its oldest events rather than stall a call.
    """

    def __init__(self, queue_size: int = 1000) -> None:
        self._callbacks: list[Subscriber] = []
        self._queues: list[asyncio.Queue[CallEvent]] = []
        self._queue_size = queue_size

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    @contextlib.contextmanager
    def queue(self) -> Any:
        """`with bus.queue() as q:` yields an asyncio.Queue receiving every event while open."""
        q: asyncio.Queue[CallEvent] = asyncio.Queue(self._queue_size)
        self._queues.append(q)
        try:
            yield q
        finally:
            self._queues.remove(q)

    def publish(self, event: CallEvent) -> None:
        for cb in list(self._callbacks):
            try:
                cb(event)
            except Exception:  # a broken subscriber must not break the call
                log.exception("event subscriber failed", extra={"call_id": event.call_id})
        for q in list(self._queues):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)

    def publish_threadsafe(self, loop: asyncio.AbstractEventLoop, event: CallEvent) -> None:
        loop.call_soon_threadsafe(self.publish, event)
