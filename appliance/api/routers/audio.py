"""Speech to text and text to speech through the box's local models."""

from __future__ import annotations

import io
import wave
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, UploadFile
from pydantic import BaseModel, Field

from appliance.api.deps import Principal, require
from appliance.api.services import models_of
from appliance.audio import AudioFrame, concat, read_wav
from appliance.errors import AudioFormatError

router = APIRouter(prefix="/audio", tags=["audio"])
MAX_AUDIO_BYTES = 20 * 1024 * 1024


class Transcription(BaseModel):
    text: str
    language: str
    duration_ms: float


class SynthesisRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    speed: float = Field(1.0, ge=0.5, le=2.0)


@router.post("/transcribe", responses={400: {}})
async def transcribe(file: UploadFile, request: Request,
                     principal: Annotated[Principal, Depends(require("audio:use"))]) -> Transcription:
    """A WAV file (any rate, mono or stereo PCM16) → text. A broken WAV is a 400 naming what is wrong."""
    data = await file.read(MAX_AUDIO_BYTES + 1)
    if len(data) > MAX_AUDIO_BYTES:
        raise AudioFormatError(f"audio over {MAX_AUDIO_BYTES // (1024 * 1024)} MB")
    audio = read_wav(data)
    models = await models_of(request)
    result = await models.stt.transcribe(audio)
    return Transcription(text=result.text, language=getattr(result, "language", ""),
                         duration_ms=round(audio.duration_ms, 1))


@router.post("/synthesize", response_class=Response, responses={200: {"content": {"audio/wav": {}}}})
async def synthesize(body: SynthesisRequest, request: Request,
                     principal: Annotated[Principal, Depends(require("audio:use"))]) -> Response:
    """Text → a WAV in the agent's voice."""
    models = await models_of(request)
    frames: list[AudioFrame] = [frame async for frame in models.tts.synthesize(body.text, speed=body.speed)]
    audio = concat(frames)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(audio.channels)
        w.setsampwidth(2)
        w.setframerate(audio.sample_rate)
        w.writeframes(audio.pcm)
    return Response(out.getvalue(), media_type="audio/wav")
