"""Turn detection: VAD events plus endpointing on the audio clock.

The caller's turn ends after `min_silence_ms` of silence; utterances shorter than `min_speech_ms` are
ignored (coughs, clicks); an utterance longer than `max_utterance_ms` is cut. `SpeechPaused` carries the
utterance so far, so the session can start the final transcription speculatively while it waits to see
whether the silence lasts; if it does, `EndOfUtterance` carries exactly the same audio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from appliance.agents import Endpointing
from appliance.audio import AudioFrame, concat
from models.vad.base import VAD, VadEventKind


@dataclass(frozen=True, slots=True)
class SpeechBegan:
    audio_ms: float


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    audio_ms: float
    speech_ms: float
    utterance: AudioFrame


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    audio_ms: float


@dataclass(frozen=True, slots=True)
class EndOfUtterance:
    audio_ms: float
    utterance: AudioFrame
    forced: bool = False


@dataclass(frozen=True, slots=True)
class UtteranceDiscarded:
    audio_ms: float
    speech_ms: float


TurnSignal = SpeechBegan | SpeechPaused | SpeechResumed | EndOfUtterance | UtteranceDiscarded


class TurnDetector:
    """Feed caller frames (16 kHz mono) in order; get turn signals back (see module docstring)."""

    def __init__(self, vad: VAD, endpointing: Endpointing, *, vad_hangover_ms: float = 100.0,
                 preroll_ms: float = 300.0) -> None:
        self.vad = vad
        self.ep = endpointing
        # the VAD reports the end of speech only after its own hangover; that silence counts towards the endpoint
        self.vad_hangover_ms = vad_hangover_ms
        self.preroll_ms = preroll_ms
        self.clock_ms = 0.0  # audio time: sum of frame durations fed so far
        self._preroll: deque[AudioFrame] = deque()
        self._buffer: list[AudioFrame] = []
        self._speech_start = 0.0
        self._silence_start: float | None = None
        self._paused_utterance: AudioFrame | None = None

    @property
    def in_speech(self) -> bool:
        """Inside an utterance (including a pause that may still turn out to be its end)."""
        return bool(self._buffer)

    @property
    def voiced(self) -> bool:
        """The caller is talking right now (inside an utterance and not in a pause)."""
        return bool(self._buffer) and self._silence_start is None

    def feed(self, frame: AudioFrame) -> list[TurnSignal]:
        out: list[TurnSignal] = []
        event = self.vad.process(frame)
        self.clock_ms += frame.duration_ms
        if not self._buffer:
            self._preroll.append(frame)
            while sum(f.duration_ms for f in self._preroll) > self.preroll_ms + frame.duration_ms:
                self._preroll.popleft()
            if event is not None and event.kind == VadEventKind.SPEECH_START:
                self._buffer = list(self._preroll)
                self._preroll.clear()
                self._speech_start = self.clock_ms
                self._silence_start = None
                out.append(SpeechBegan(self.clock_ms))
            return out
        self._buffer.append(frame)
        if event is not None and event.kind == VadEventKind.SPEECH_END and self._silence_start is None:
            self._silence_start = self.clock_ms
            self._paused_utterance = concat(self._buffer)
            speech_ms = self.clock_ms - self._speech_start
            out.append(SpeechPaused(self.clock_ms, speech_ms, self._paused_utterance))
        elif event is not None and event.kind == VadEventKind.SPEECH_START and self._silence_start is not None:
            self._silence_start = None
            self._paused_utterance = None
            out.append(SpeechResumed(self.clock_ms))
        if self._silence_start is not None:
            if self.clock_ms - self._silence_start >= self.ep.min_silence_ms - self.vad_hangover_ms:
                speech_ms = self._silence_start - self._speech_start
                utterance = self._paused_utterance
                self._reset()
                if speech_ms < self.ep.min_speech_ms or utterance is None:
                    out.append(UtteranceDiscarded(self.clock_ms, speech_ms))
                else:
                    out.append(EndOfUtterance(self.clock_ms, utterance))
        elif self.clock_ms - self._speech_start >= self.ep.max_utterance_ms:
            utterance = concat(self._buffer)
            self._reset()
            out.append(EndOfUtterance(self.clock_ms, utterance, forced=True))
        return out

    def _reset(self) -> None:
        self._buffer = []
        self._silence_start = None
        self._paused_utterance = None
        self.vad.reset()
