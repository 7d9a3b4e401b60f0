"""Text to speech: one sentence in, audio frames out as early as possible."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

from appliance.audio import AudioFrame


@dataclass(frozen=True, slots=True)
class TTSCapabilities:
    streaming: bool
    sample_rate: int
    languages: tuple[str, ...]


class TTS(ABC):
    name: ClassVar[str]
    capabilities: TTSCapabilities

    def synthesize(self, text: str, *, speed: float = 1.0) -> AsyncIterator[AudioFrame]:
        """Audio for `text` (mono s16 at the voice's rate); first chunk as soon as it exists."""
        return self._impl(text, speed=speed)

    @abstractmethod
    def _impl(self, text: str, *, speed: float) -> AsyncIterator[AudioFrame]: ...
