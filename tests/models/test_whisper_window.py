"""The short-window whisper encode: same words as the 30 s window, no echoed sentence, no leaked prompt."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import AudioFrame, concat, read_wav, resample, silence
from models.registry import ModelSet
from models.stt import faster_whisper
from models.stt.faster_whisper import WhisperSTT

SENTENCES = {
    "one second": "Yes, that's right.",
    "three seconds": "I would like to book an appointment for next Tuesday.",
    "eight seconds": "Hello, my name is John Smith and I am calling about the invoice you sent me last week, "
                     "could you please check it?",
}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _wer(ref: str, hyp: str) -> float:
    r, h = _words(ref), _words(hyp)
    d = np.zeros((len(r) + 1, len(h) + 1), dtype=int)
    d[:, 0], d[0, :] = range(len(r) + 1), range(len(h) + 1)
    for i in range(1, len(r) + 1):
        for j in range(1, len(h) + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (r[i - 1] != h[j - 1]))
    return float(d[len(r), len(h)]) / max(len(r), 1)


async def _speak(models: ModelSet, text: str) -> AudioFrame:
    return resample(concat([f async for f in models.tts.synthesize(text)]), 16000)


@pytest.fixture(scope="module")
def long_form_stt(models_dir: Path) -> WhisperSTT:
    return WhisperSTT(models_dir / "stt" / "whisper-base", short_window=False)


async def test_short_window_hears_the_same_words_as_the_full_window(models: ModelSet,
                                                                    long_form_stt: WhisperSTT) -> None:
    for label, text in SENTENCES.items():
        audio = await _speak(models, text)
        short = await models.stt.transcribe(audio, language="en")
        full = await long_form_stt.transcribe(audio, language="en")
        assert _wer(text, short.text) <= 0.15, (label, short.text)
        assert _wer(full.text, short.text) <= 0.15, (label, full.text, short.text)


async def test_a_one_second_answer_is_not_echoed_from_the_padding(models: ModelSet) -> None:
    for text in ("Yes, that's right.", "Please call me back tomorrow.", "No."):
        heard = await models.stt.transcribe(await _speak(models, text), language="en")
        assert len(_words(heard.text)) <= len(_words(text)) + 1, (text, heard.text)


async def test_trailing_silence_and_pure_silence_add_no_words(models: ModelSet) -> None:
    text = "What are your opening hours on Friday?"
    audio = concat([silence(300), await _speak(models, text), silence(1500)])
    assert _wer(text, (await models.stt.transcribe(audio, language="en")).text) <= 0.15
    assert (await models.stt.transcribe(silence(2000), language="en")).text == ""


async def test_hot_words_prompt_does_not_leak_into_the_transcript(models: ModelSet) -> None:
    text = "I need to cancel my appointment."
    heard = await models.stt.transcribe(await _speak(models, text), language="en",
                                        prompt="Praxis Doktor Kowalczyk, Zahnreinigung, Wurzelbehandlung")
    assert _wer(text, heard.text) <= 0.15, heard.text
    assert "kowalczyk" not in heard.text.lower()


async def test_utterance_beyond_the_short_window_limit_takes_the_long_form_path(
        models: ModelSet, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real 30 s clip costs ~40 s of CPU here; lowering the limit sends a 3 s clip down the same path.
    monkeypatch.setattr(faster_whisper, "MAX_SHORT_S", 1.0)
    encoded = 0
    original = models.stt._model.encode  # type: ignore[attr-defined]

    def counting_encode(features: np.ndarray) -> object:
        nonlocal encoded
        encoded = features.shape[-1]
        return original(features)

    monkeypatch.setattr(models.stt._model, "encode", counting_encode)  # type: ignore[attr-defined]
    text = SENTENCES["three seconds"]
    heard = await models.stt.transcribe(await _speak(models, text), language="en")
    assert _wer(text, heard.text) <= 0.15, heard.text
    assert encoded == 3000  # the whole 30 s window


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package) is not installed")
async def test_language_is_detected_when_not_given(models: ModelSet, tmp_path: Path) -> None:
    wav = tmp_path / "de.wav"
    espeak = await asyncio.create_subprocess_exec(
        "espeak-ng", "-v", "de", "-w", str(wav),
        "Guten Tag, ich möchte gerne einen Termin für nächste Woche vereinbaren.")
    assert await asyncio.wait_for(espeak.wait(), timeout=30) == 0
    heard = await models.stt.transcribe(read_wav(wav), language=None)
    assert heard.language == "de", heard
    english = await models.stt.transcribe(await _speak(models, SENTENCES["three seconds"]), language=None)
    assert english.language == "en"


async def test_a_three_second_utterance_is_encoded_in_a_short_window(models: ModelSet,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    frames: list[int] = []
    original = models.stt._model.encode  # type: ignore[attr-defined]

    def recording_encode(features: np.ndarray) -> object:
        frames.append(features.shape[-1])
        return original(features)

    monkeypatch.setattr(models.stt._model, "encode", recording_encode)  # type: ignore[attr-defined]
    audio = await _speak(models, SENTENCES["three seconds"])
    await models.stt.transcribe(audio, language="en")
    assert frames and frames[0] <= 100 * (audio.duration_ms / 1000 + faster_whisper.TAIL_S + 1)
    assert frames[0] >= 100 * faster_whisper.MIN_WINDOW_S
