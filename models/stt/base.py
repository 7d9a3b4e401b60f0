"""Speech to text: one finished utterance in, one transcript out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from appliance.audio import AudioFrame


@dataclass(frozen=True, slots=True)
class STTCapabilities:
    streaming: bool
    languages: tuple[str, ...]  # ("*",) = any Whisper language
    sample_rates: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str = ""
    confidence: float = 0.0  # 0..1 (avg token probability where the backend has it)
    audio_ms: float = 0.0
    backend: str = ""


class STT(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[STTCapabilities]

    async def transcribe(
        self, utterance: AudioFrame, *, language: str | None = None, prompt: str | None = None
    ) -> Transcript:
        """Transcribe a whole utterance. `language` None = detect; `prompt` = hot words / initial prompt."""
        return await self._impl(utterance, language=language, prompt=prompt)

    @abstractmethod
    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Transcript: ...
