"""Listening: caller audio → VAD and endpointing → speculative STT → finished caller utterances.

Runs on the loop (the VAD costs about 0.1 ms per window, so no thread hop per frame); STT runs in the model
layer's threads. Speech that starts while the agent is busy becomes a barge-in once it has lasted
`barge_in_min_ms`. The final transcription starts when the silence starts; if the caller goes on, it is
cancelled. If the caller starts again while an utterance is still being transcribed, both parts are answered
together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from appliance.agents import AgentConfig
from appliance.audio import AudioFrame
from appliance.conversation.state import CallState, StateMachine
from appliance.conversation.turns import (
    EndOfUtterance,
    SpeechBegan,
    SpeechPaused,
    SpeechResumed,
    TurnDetector,
    TurnSignal,
    UtteranceDiscarded,
)
from appliance.events import EndOfTurn, EventBus, SpeechEnded, SpeechStarted, StageError, Transcript
from models.stt.base import STT
from models.vad.base import VAD, VADParams

log = logging.getLogger(__name__)
AGENT_BUSY = (CallState.SPEAKING, CallState.THINKING, CallState.GREETING)


class CallerAudio:
    """Listens to one caller (see module docstring); hands finished utterances to `on_utterance`."""

    def __init__(self, *, call_id: str, agent: AgentConfig, vad: Callable[[VADParams], VAD], stt: STT | None,
                 bus: EventBus, sm: StateMachine, barge_in: Callable[[], Awaitable[None]],
                 on_utterance: Callable[[str], None], next_turn: Callable[[], int]) -> None:
        self.call_id = call_id
        self.agent = agent
        self.stt = stt
        self.bus = bus
        self.sm = sm
        self._barge_in = barge_in
        self._on_utterance = on_utterance
        self._next_turn = next_turn
        params = VADParams(threshold=agent.endpointing.vad_threshold)
        self.detector = TurnDetector(vad(params), agent.endpointing, vad_hangover_ms=params.min_silence_ms)
        # the VAD already needs min_speech_ms of speech to report it; a barge-in may ask for a little more
        self._barge_in_extra_ms = max(0.0, agent.endpointing.barge_in_min_ms - params.min_speech_ms)
        self._barge_due: float | None = None  # audio ms at which ongoing speech becomes a barge-in
        self._speculative: asyncio.Task[Any] | None = None
        self._speculative_audio: AudioFrame | None = None
        self._delivering: set[asyncio.Task[None]] = set()
        self._carry = ""  # transcript of an utterance the caller continued before we answered

    async def run(self, frames: AsyncIterator[AudioFrame]) -> None:
        detector = self.detector
        async for frame in frames:
            for signal in detector.feed(frame):
                await self._on_signal(signal, detector.clock_ms)
            if self._barge_due is not None and detector.clock_ms >= self._barge_due:
                self._barge_due = None
                if detector.voiced and self.sm.state in AGENT_BUSY:
                    await self._barge()

    def close(self) -> None:
        self._cancel_stt()
        for task in self._delivering:
            task.cancel()

    async def _barge(self) -> None:
        self.sm.to(CallState.USER_SPEAKING)
        await self._barge_in()

    async def _on_signal(self, signal: TurnSignal, clock_ms: float) -> None:
        if isinstance(signal, SpeechBegan):
            self.bus.publish(SpeechStarted(call_id=self.call_id))
            if self.sm.state in AGENT_BUSY:
                if self._barge_in_extra_ms <= 0:
                    await self._barge()
                else:
                    self._barge_due = clock_ms + self._barge_in_extra_ms
            elif self.sm.state == CallState.LISTENING:
                self.sm.to(CallState.USER_SPEAKING)
        elif isinstance(signal, SpeechPaused):
            self._barge_due = None  # too short to count as barge-in (a cough, an "mhm")
            self.bus.publish(SpeechEnded(call_id=self.call_id, duration_ms=signal.speech_ms))
            if signal.speech_ms >= self.agent.endpointing.min_speech_ms:
                self._start_stt(signal.utterance)
        elif isinstance(signal, SpeechResumed):
            self._cancel_stt()
        elif isinstance(signal, UtteranceDiscarded):
            self._cancel_stt()
            if self.sm.state == CallState.USER_SPEAKING:
                self.sm.to(CallState.LISTENING)
        elif isinstance(signal, EndOfUtterance):
            turn = self._next_turn()
            self.bus.publish(EndOfTurn(call_id=self.call_id, turn=turn))
            if self._speculative is None or self._speculative_audio is not signal.utterance:
                self._start_stt(signal.utterance)
            task, self._speculative = self._speculative, None
            if self.sm.state == CallState.USER_SPEAKING:
                self.sm.to(CallState.THINKING)
            # frames keep flowing (barge-in stays live) while the transcript finishes in its thread
            delivering = asyncio.create_task(self._deliver(task, turn))
            self._delivering.add(delivering)
            delivering.add_done_callback(self._delivering.discard)

    async def _deliver(self, task: asyncio.Task[Any] | None, turn: int) -> None:
        text = ""
        if task is not None:
            try:
                transcript = await task
                text = transcript.text.strip()
                self.bus.publish(Transcript(call_id=self.call_id, turn=turn, text=text,
                                            language=transcript.language, confidence=transcript.confidence))
            except asyncio.CancelledError:
                return
            except Exception as exc:  # the caller hears a "sorry, again please" instead of silence
                log.exception("stt failed")
                self.bus.publish(StageError(call_id=self.call_id, code="stt_failed", message=str(exc)))
        if self.sm.state == CallState.USER_SPEAKING:
            # the caller went on talking while we transcribed: answer both parts together, once they stop
            self._carry = f"{self._carry} {text}".strip()
            return
        text, self._carry = f"{self._carry} {text}".strip(), ""
        self._on_utterance(text)

    def _start_stt(self, utterance: AudioFrame) -> None:
        self._cancel_stt()
        if self.stt is None:
            return
        language = self.agent.language if self.agent.language != "auto" else None
        self._speculative_audio = utterance
        self._speculative = asyncio.create_task(self.stt.transcribe(utterance, language=language))

    def _cancel_stt(self) -> None:
        if self._speculative is not None:
            self._speculative.cancel()
        self._speculative = None
        self._speculative_audio = None
