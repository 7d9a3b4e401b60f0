"""Answering-machine detection for outbound calls, from the first seconds of the callee's audio.

People answer with a short "Hello?" and then wait; machines play a long greeting. Energy-based, per 20 ms:
a first voiced stretch longer than `machine_speech_ms` (gaps under `gap_ms` bridged) means a machine; a short
one followed by `human_silence_ms` of quiet means a person; no decision within `max_ms` counts as a person
(better to greet a quiet human than hang up on them).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass

from appliance.audio import AudioFrame, rms_dbfs


class AmdResult(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    SILENCE = "silence"  # nothing voiced at all within max_ms: treated as human by callers


@dataclass
class AnsweringMachineDetector:
    voiced_dbfs: float = -35.0
    machine_speech_ms: float = 2500.0
    human_silence_ms: float = 800.0
    gap_ms: float = 300.0
    max_ms: float = 5000.0
    _elapsed: float = 0.0
    _speech: float = 0.0
    _quiet: float = 0.0
    _started: bool = False

    def feed(self, frame: AudioFrame) -> AmdResult | None:
        """Push one frame; returns a decision once there is one."""
        ms = frame.duration_ms
        self._elapsed += ms
        if rms_dbfs(frame) > self.voiced_dbfs:
            self._started = True
            self._speech += self._quiet if self._quiet < self.gap_ms else 0.0
            self._quiet = 0.0
            self._speech += ms
            if self._speech >= self.machine_speech_ms:
                return AmdResult.MACHINE
        elif self._started:
            self._quiet += ms
            if self._quiet >= self.human_silence_ms:
                return AmdResult.HUMAN
        if self._elapsed >= self.max_ms:
            return AmdResult.HUMAN if self._started else AmdResult.SILENCE
        return None

    async def detect(self, frames: AsyncIterator[AudioFrame]) -> AmdResult:
        """Read frames until a decision (or the stream ends: then SILENCE)."""
        async for frame in frames:
            result = self.feed(frame)
            if result is not None:
                return result
        return AmdResult.SILENCE
