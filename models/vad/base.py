"""Voice activity detection: a per-call stream that turns 16 kHz frames into speech start/end events."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from appliance.audio import AudioFrame


@dataclass(frozen=True, slots=True)
class VADCapabilities:
    sample_rates: tuple[int, ...]
    window_ms: float


@dataclass(frozen=True, slots=True)
class VADParams:
    """Per-agent tuning. `min_silence_ms` here is VAD hysteresis, not turn endpointing."""

    threshold: float = 0.5
    min_speech_ms: float = 100.0
    min_silence_ms: float = 100.0


class VadEventKind(enum.StrEnum):
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"


@dataclass(frozen=True, slots=True)
class VadEvent:
    kind: VadEventKind
    pts_ms: float  # audio time of the boundary (first voiced / first silent window)
    probability: float = 0.0


class VAD(ABC):
    """One stream of one caller's audio. Cheap (< 1 ms per window), safe to call from any single thread."""

    name: ClassVar[str]
    capabilities: ClassVar[VADCapabilities]

    def process(self, frame: AudioFrame) -> VadEvent | None:
        """Feed any amount of audio (resampled to 16 kHz if needed); returns the boundary it completes, if any."""
        return self._impl(frame)

    @property
    @abstractmethod
    def speaking(self) -> bool:
        """True between a SPEECH_START and the following SPEECH_END."""

    @abstractmethod
    def _impl(self, frame: AudioFrame) -> VadEvent | None: ...

    def reset(self) -> None:  # noqa: B027  (optional hook: stateless backends need nothing)
        """Forget state (e.g. after the agent's own echo)."""
