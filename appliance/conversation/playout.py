"""Playout: reply text → sentences → TTS per sentence as soon as it is complete → `leg.send`, with a mark
after each sentence. On barge-in, `interrupt()` cancels LLM and TTS, clears the leg, and works out what the
caller actually heard: sentences whose mark arrived plus the played part of the current one, estimated from
the milliseconds the leg dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from appliance.conversation.splitter import SentenceSplitter
from appliance.events import (
    AgentSpeechFinished,
    AgentSpeechInterrupted,
    AgentSpeechStarted,
    EventBus,
    FirstSentence,
    StageError,
    TtsFirstAudio,
)
from appliance.telephony import CallLeg, LegDtmf
from models.tts.base import TTS

log = logging.getLogger(__name__)


@runtime_checkable
class TextChannel(Protocol):
    """A leg that carries text instead of audio (the chat leg): the session skips VAD, STT and TTS."""

    def send_text(self, text: str) -> None: ...

    def text_input(self) -> AsyncIterator[str | LegDtmf]:
        """Caller lines (or typed DTMF digits); the session reads the next one when it is ready for it."""
        ...


@dataclass(slots=True)
class _Sentence:
    text: str
    sent_ms: float = 0.0
    played: bool = False


@dataclass(slots=True)
class PlayResult:
    planned_text: str
    played_text: str
    interrupted: bool


@dataclass(slots=True)
class _Reply:
    turn: int
    sentences: list[_Sentence] = field(default_factory=list)
    pending: str = ""  # LLM text not yet a whole sentence when interrupted


class Playout:
    """Speaks one reply at a time on a leg (see module docstring)."""

    def __init__(self, leg: CallLeg, tts: TTS | None, bus: EventBus, *, speed: float = 1.0) -> None:
        self.leg = leg
        self.tts = tts
        self.bus = bus
        self.speed = speed
        self.call_id = leg.call_id
        self._reply: _Reply | None = None
        self._task: asyncio.Task[PlayResult] | None = None
        self._done = asyncio.Event()
        self._final_mark = ""
        self.last_cut: PlayResult | None = None  # what the last interrupted reply got through

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def on_mark(self, name: str) -> None:
        """A PlayoutMark from the leg: that sentence has been heard in full."""
        reply = self._reply
        if reply is None or not name.startswith(f"{self.call_id}:{reply.turn}:"):
            return
        index = int(name.rsplit(":", 1)[1])
        if index < len(reply.sentences):
            reply.sentences[index].played = True
        if name == self._final_mark:
            self._done.set()

    async def speak(self, turn: int, pieces: AsyncIterator[str]) -> PlayResult:
        """Speak a streamed reply; returns once the caller has heard all of it (or raises CancelledError)."""
        self._task = asyncio.current_task()  # type: ignore[assignment]
        reply = self._reply = _Reply(turn)
        self._done = asyncio.Event()
        self._final_mark = ""
        splitter = SentenceSplitter()
        async for piece in pieces:
            reply.pending += piece
            for sentence in splitter.push(piece):
                await self._say(reply, sentence)
        for sentence in splitter.flush():
            await self._say(reply, sentence)
        reply.pending = ""
        planned = self._planned(reply)
        if reply.sentences:
            self._final_mark = f"{self.call_id}:{turn}:{len(reply.sentences) - 1}"
            if not reply.sentences[-1].played:
                await self._done.wait()
            self.bus.publish(AgentSpeechFinished(call_id=self.call_id, turn=turn, played_text=planned))
        self._reply = None
        return PlayResult(planned, planned, interrupted=False)

    async def _say(self, reply: _Reply, text: str) -> None:
        index = len(reply.sentences)
        sentence = _Sentence(text)
        reply.sentences.append(sentence)
        reply.pending = reply.pending[reply.pending.find(text) + len(text):] if text in reply.pending else ""
        if index == 0:
            self.bus.publish(FirstSentence(call_id=self.call_id, turn=reply.turn, text=text))
        if isinstance(self.leg, TextChannel) or self.tts is None:
            if index == 0:
                self.bus.publish(AgentSpeechStarted(call_id=self.call_id, turn=reply.turn, text=text))
            if isinstance(self.leg, TextChannel):
                self.leg.send_text(text)
        else:
            first = index == 0
            try:
                async for frame in self.tts.synthesize(text, speed=self.speed):
                    if first:
                        first = False
                        self.bus.publish(TtsFirstAudio(call_id=self.call_id, turn=reply.turn, backend=self.tts.name))
                        self.bus.publish(AgentSpeechStarted(call_id=self.call_id, turn=reply.turn, text=text))
                    await self.leg.send(frame)
                    sentence.sent_ms += frame.duration_ms
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed sentence is skipped, the call goes on
                log.exception("tts failed", extra={"call_id": self.call_id})
                self.bus.publish(StageError(call_id=self.call_id, code="tts_failed", message=str(exc)))
        self.leg.mark(f"{self.call_id}:{reply.turn}:{index}")

    async def interrupt(self) -> PlayResult | None:
        """Barge-in / DTMF / hangup: stop now and return what was heard (None if nothing was playing)."""
        task, reply = self._task, self._reply
        if task is None or reply is None or task.done():
            return None
        # no await until the task is cancelled: nothing can be sent between clear() and cancel()
        dropped_ms = self.leg.clear()
        planned = self._planned(reply)
        played = self._played(reply, dropped_ms)
        self._reply = None
        self.last_cut = PlayResult(planned, played, interrupted=True)
        task.cancel()
        self.bus.publish(AgentSpeechInterrupted(call_id=self.call_id, turn=reply.turn, planned_text=planned,
                                                played_text=played))
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return self.last_cut

    @staticmethod
    def _planned(reply: _Reply) -> str:
        return " ".join([*(s.text for s in reply.sentences), reply.pending.strip()]).strip()

    @staticmethod
    def _played(reply: _Reply, dropped_ms: float) -> str:
        total = sum(s.sent_ms for s in reply.sentences)
        remaining = max(0.0, total - dropped_ms)
        heard: list[str] = []
        for sentence in reply.sentences:
            if sentence.played or (sentence.sent_ms > 0 and remaining >= sentence.sent_ms - 1.0):
                heard.append(sentence.text)
                remaining -= sentence.sent_ms
                continue
            if sentence.sent_ms > 0 and remaining > 0:
                chars = int(len(sentence.text) * remaining / sentence.sent_ms)
                part = sentence.text[:chars]
                if chars < len(sentence.text) and " " in part:
                    part = part.rsplit(" ", 1)[0]  # whole words only
                if part.strip():
                    heard.append(part.strip())
            break
        return " ".join(heard)
