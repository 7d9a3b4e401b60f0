"""The embedded default models through their interfaces: real weights from the registry packages."""

from __future__ import annotations

import asyncio
import re

import numpy as np

from appliance.audio import AudioFrame, concat, resample, silence
from models.llm.base import ChatMessage
from models.registry import ModelSet
from models.vad.base import VadEventKind, VADParams


async def _speak(models: ModelSet, text: str) -> AudioFrame:
    return concat([f async for f in models.tts.synthesize(text)])


def _wer(ref: str, hyp: str) -> float:
    r, h = (re.findall(r"[a-z0-9']+", s.lower()) for s in (ref, hyp))
    d = np.zeros((len(r) + 1, len(h) + 1), dtype=int)
    d[:, 0], d[0, :] = range(len(r) + 1), range(len(h) + 1)
    for i in range(1, len(r) + 1):
        for j in range(1, len(h) + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (r[i - 1] != h[j - 1]))
    return float(d[len(r), len(h)]) / max(len(r), 1)


async def test_stt_transcribes_synthesized_speech_with_low_word_error_rate(models: ModelSet) -> None:
    sentences = ["I would like to book an appointment for next Tuesday.", "What are your opening hours on Friday?"]
    for text in sentences:
        audio = await _speak(models, text)
        heard = await models.stt.transcribe(resample(audio, 16000), language="en")
        assert _wer(text, heard.text) <= 0.15, (text, heard.text)


async def test_stt_resamples_telephone_rate_audio(models: ModelSet) -> None:
    audio = resample(await _speak(models, "Please call me back tomorrow."), 8000)
    heard = await models.stt.transcribe(audio, language="en")
    assert _wer("Please call me back tomorrow.", heard.text) <= 0.2, heard.text


async def test_stt_of_empty_or_ten_ms_audio_is_an_empty_transcript(models: ModelSet) -> None:
    for utterance in (AudioFrame(b"", 16000), silence(10)):
        heard = await models.stt.transcribe(utterance, language="en")
        assert heard.text.strip() == ""


async def test_tts_yields_non_silent_audio_of_plausible_length(models: ModelSet) -> None:
    audio = await _speak(models, "Thank you for calling. How can I help you today?")
    seconds = audio.duration_ms / 1000
    assert 1.5 < seconds < 6.0
    assert np.abs(audio.to_array()).max() > 3000


async def test_vad_finds_speech_boundaries_within_100_ms(models: ModelSet) -> None:
    speech = resample(await _speak(models, "Hello this is a short test"), 16000)
    pcm = concat([silence(500), speech, silence(1000), speech, silence(800)])
    vad = models.new_vad(VADParams(threshold=0.5, min_speech_ms=64, min_silence_ms=500))
    events = [e for chunk in range(0, len(pcm.pcm), 640)
              if (e := vad.process(AudioFrame(pcm.pcm[chunk:chunk + 640], 16000))) is not None]
    kinds = [e.kind for e in events]
    assert kinds == [VadEventKind.SPEECH_START, VadEventKind.SPEECH_END] * 2, kinds
    # Piper pads its audio with a little silence; the detected start must lie within 100 ms of the first voiced
    # sample (measured on the waveform) plus the VAD's own min_speech hysteresis window.
    voiced = np.nonzero(np.abs(speech.to_array()) > 500)[0]
    first_voice_ms = 500 + 1000 * voiced[0] / 16000
    assert abs(events[0].pts_ms - first_voice_ms) <= 100 + 64 + 32


async def test_llm_streams_and_stops_when_the_stream_is_closed(models: ModelSet) -> None:
    messages = [ChatMessage("system", "You are a helpful receptionist."),
                ChatMessage("user", "Tell me a long story about a lighthouse keeper.")]
    stream = models.llm.stream(messages, max_tokens=200)
    pieces = []
    async for delta in stream:
        pieces.append(delta.text)
        if len(pieces) == 5:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(pieces) == 5 and "".join(pieces).strip()
    # The model is free again at once: a second short completion answers.
    reply = await asyncio.wait_for(models.llm.complete(messages, max_tokens=8), timeout=60)
    assert reply.strip()


async def test_embedder_ranks_the_related_passage_first(models: ModelSet) -> None:
    passages = ["The clinic is open Monday to Friday from 8 am to 6 pm.", "Parking is free behind the building."]
    vecs = await models.embedder.embed(passages, kind="passage")
    (query,) = await models.embedder.embed(["When are you open?"], kind="query")
    scores = [float(np.dot(query, v)) for v in vecs]
    assert len(query) == 384 and scores[0] > scores[1]
