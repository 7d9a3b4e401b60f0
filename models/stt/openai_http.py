"""OpenAI-compatible `/v1/audio/transcriptions` client: a hosted provider, or a whisper server on the box.

The utterance goes up as a 16 kHz mono WAV in a multipart form (`file`, `model`, optional `language` and
`prompt`); the JSON answer's `text` is the transcript.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from appliance.audio import INTERNAL_RATE, AudioFrame, resample, wav_bytes
from appliance.errors import ModelUnavailable
from models.http_clients import HttpClients, bearer
from models.stt.base import STT, STTCapabilities, Transcript

MIN_AUDIO_MS = 100.0  # shorter than this holds no word; servers reject such files, so nothing is sent


class OpenAITranscriber(STT):
    name = "openai-stt"
    capabilities: ClassVar[STTCapabilities] = STTCapabilities(False, ("*",), (INTERNAL_RATE,))

    def __init__(self, url: str, *, model: str = "whisper-1", api_key: str | None = None,
                 timeout_s: float = 10.0) -> None:
        if not url:
            raise ModelUnavailable("an OpenAI-compatible STT backend needs a url (e.g. http://127.0.0.1:9000/v1)")
        self.model = model or "whisper-1"
        self.http = HttpClients(url, timeout_s=timeout_s, headers=bearer(api_key), secret=api_key)

    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Transcript:
        audio = resample(utterance, INTERNAL_RATE)
        if audio.duration_ms < MIN_AUDIO_MS:
            return Transcript("", language or "", 0.0, audio.duration_ms, self.name)
        form = {"model": self.model, "response_format": "json"}
        if language:
            form["language"] = language
        if prompt:
            form["prompt"] = prompt
        files = {"file": ("utterance.wav", wav_bytes(audio), "audio/wav")}
        try:
            response = await self.http.get().post("/audio/transcriptions", data=form, files=files)
        except httpx.HTTPError as exc:
            raise self.http.error("transcription", exc) from exc
        if response.status_code >= 400:
            raise self.http.status_error("transcription", response)
        try:
            answer = response.json()
            text = str(answer["text"]).strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(f"transcription at {self.http.base_url}: no text in the answer") from exc
        return Transcript(text, str(answer.get("language") or language or ""), 0.0, audio.duration_ms, self.name)

    async def aclose(self) -> None:
        await self.http.aclose()
