"""Tiny audio model fakes for fast session tests: an energy VAD, a scripted STT and a tone TTS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.audio import INTERNAL_RATE, AudioFrame, rms_dbfs
from models.stt.base import STT, STTCapabilities, Transcript
from models.tts.base import TTS, TTSCapabilities
from models.vad.base import VAD, VADCapabilities, VadEvent, VadEventKind, VADParams

MS_PER_CHAR = 50.0


def tone(ms: float, rate: int = INTERNAL_RATE) -> AudioFrame:
    t = np.arange(int(rate * ms / 1000)) / rate
    return AudioFrame.from_array(0.3 * np.sin(2 * np.pi * 220 * t), rate)


class EnergyVAD(VAD):
    """Voiced = louder than -35 dBFS, with the same start/end hysteresis as the real VAD."""

    name = "energy"
    capabilities = VADCapabilities((INTERNAL_RATE,), 20.0)

    def __init__(self, params: VADParams) -> None:
        self.params = params
        self._speaking = False
        self._run_ms = 0.0
        self._pos = 0.0

    @property
    def speaking(self) -> bool:
        return self._speaking

    def reset(self) -> None:
        self._speaking = False
        self._run_ms = 0.0

    def _impl(self, frame: AudioFrame) -> VadEvent | None:
        self._pos += frame.duration_ms
        voiced = rms_dbfs(frame) > -35.0
        if voiced == self._speaking:
            self._run_ms = 0.0
            return None
        self._run_ms += frame.duration_ms
        need = self.params.min_speech_ms if voiced else self.params.min_silence_ms
        if self._run_ms < need:
            return None
        self._speaking, self._run_ms = voiced, 0.0
        return VadEvent(VadEventKind.SPEECH_START if voiced else VadEventKind.SPEECH_END, self._pos)


class ScriptedSTT(STT):
    name = "scripted"
    capabilities = STTCapabilities(False, ("*",), (INTERNAL_RATE,))

    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)
        self.started = 0
        self.finished = 0

    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Transcript:
        self.started += 1
        await asyncio.sleep(0.01)
        self.finished += 1
        text = self.texts.pop(0) if self.texts else f"utterance of {utterance.duration_ms:.0f} ms"
        return Transcript(text, "en", 0.9, utterance.duration_ms, self.name)


class ToneTTS(TTS):
    """Speech stand-in: a tone of MS_PER_CHAR per character, in 100 ms frames at 22.05 kHz."""

    name = "tone"

    def __init__(self) -> None:
        self.capabilities = TTSCapabilities(True, 22050, ("en",))
        self.spoken: list[str] = []

    async def _impl(self, text: str, *, speed: float) -> AsyncIterator[AudioFrame]:
        self.spoken.append(text)
        total = len(text) * MS_PER_CHAR
        while total > 0:
            yield tone(min(100.0, total), 22050)
            total -= 100.0
            await asyncio.sleep(0)


@dataclass
class FakeAudioModels:
    stt: ScriptedSTT
    tts: ToneTTS = field(default_factory=ToneTTS)
    llm: Any = None
    embedder: Any = None

    def new_vad(self, params: VADParams) -> VAD:
        return EnergyVAD(params)
