"""faster-whisper (CTranslate2, int8 on CPU) for whole utterances, run in a worker thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from appliance.audio import INTERNAL_RATE, AudioFrame, resample
from appliance.errors import ModelUnavailable
from models.stt.base import STT, STTCapabilities, Transcript


class WhisperSTT(STT):
    name = "faster-whisper"
    capabilities = STTCapabilities(False, ("*",), (INTERNAL_RATE,))

    def __init__(self, model_dir: Path) -> None:
        from faster_whisper import WhisperModel

        if not (model_dir / "model.bin").exists():
            raise ModelUnavailable(f"{model_dir / 'model.bin'} is missing; run `vocaliq models install default`")
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
