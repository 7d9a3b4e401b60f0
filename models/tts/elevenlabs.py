"""ElevenLabs streaming TTS (hosted fallback): `POST /v1/text-to-speech/{voice}/stream?output_format=pcm_N`.

The answer is raw s16le mono PCM at N Hz in HTTP chunks; each chunk is yielded as soon as it arrives,
resampled to our rate (`sample_rate`) with a streaming resampler so chunk edges do not click.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from appliance.audio import INTERNAL_RATE, AudioFrame, StreamResampler
from appliance.errors import ModelUnavailable
from models.http_clients import HttpClients
from models.tts.base import TTS, TTSCapabilities

DEFAULT_URL = "https://api.elevenlabs.io"
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"  # ElevenLabs' stock "Rachel"


class ElevenLabsTTS(TTS):
    name = "elevenlabs"

    def __init__(self, url: str = DEFAULT_URL, *, api_key: str | None = None, voice_id: str = DEFAULT_VOICE,
                 model: str = "eleven_flash_v2_5", output_format: str = "pcm_24000",
                 sample_rate: int = INTERNAL_RATE, timeout_s: float = 10.0) -> None:
        match = re.fullmatch(r"pcm_(\d+)", output_format)
        if match is None:
            raise ModelUnavailable(f"ElevenLabs output_format must be raw PCM (pcm_16000, pcm_24000, ...), "
                                   f"not {output_format!r}")
        self.source_rate = int(match.group(1))
        self.output_format, self.voice_id, self.model = output_format, voice_id, model
        self.capabilities = TTSCapabilities(True, sample_rate, ("*",))
        headers = {"xi-api-key": api_key} if api_key else {}
        self.http = HttpClients(url or DEFAULT_URL, timeout_s=timeout_s, headers=headers, secret=api_key)

    async def _impl(self, text: str, *, speed: float) -> AsyncIterator[AudioFrame]:
        if not text.strip():
            return
        body: dict[str, Any] = {"text": text, "model_id": self.model}
        if speed != 1.0:
            body["voice_settings"] = {"speed": speed}
        resampler = StreamResampler(self.source_rate, self.capabilities.sample_rate)
        carry = b""  # an odd byte split across two HTTP chunks
        path = f"/v1/text-to-speech/{self.voice_id}/stream"
        try:
            async with self.http.get().stream("POST", path, params={"output_format": self.output_format},
                                              json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self.http.status_error("ElevenLabs TTS", response)
                async for chunk in response.aiter_bytes():
                    data = carry + chunk
                    cut = len(data) - len(data) % 2
                    data, carry = data[:cut], data[cut:]
                    if data and (frame := resampler.process(AudioFrame(data, self.source_rate))).pcm:
                        yield frame
        except httpx.HTTPError as exc:
            raise self.http.error("ElevenLabs TTS", exc) from exc
        tail = resampler.process(AudioFrame(b"", self.source_rate), last=True)
        if tail.pcm:
            yield tail

    async def aclose(self) -> None:
        await self.http.aclose()
