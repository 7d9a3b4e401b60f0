"""A model set for text-only sessions: only an LLM (no VAD, STT or TTS needed on a TextLeg)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TextModels:
    llm: Any = None
    stt: Any = None
    tts: Any = None
    embedder: Any = None

    def new_vad(self, params: Any) -> Any:
        raise RuntimeError("a text session has no audio")
