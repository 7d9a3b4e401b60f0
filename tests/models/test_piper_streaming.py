"""Piper streams sentence by sentence, honours the speed setting, and stops when the stream is closed."""

from __future__ import annotations

import numpy as np

from appliance.audio import concat
from models.registry import ModelSet

THREE_SENTENCES = "Thank you for calling. We are open from eight to six. How can I help you today?"


async def test_each_sentence_arrives_as_its_own_chunk_in_order(models: ModelSet) -> None:
    frames = [f async for f in models.tts.synthesize(THREE_SENTENCES)]
    assert len(frames) == 3
    assert all(np.abs(f.to_array()).max() > 3000 for f in frames)
    whole = concat(frames)
    assert 3.0 < whole.duration_ms / 1000 < 9.0


async def test_closing_the_stream_after_the_first_sentence_stops_synthesis(models: ModelSet) -> None:
    stream = models.tts.synthesize(THREE_SENTENCES + " " + THREE_SENTENCES)
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert first.duration_ms > 300
    # The voice is free at once: the next sentence synthesizes normally.
    again = [f async for f in models.tts.synthesize("Goodbye.")]
    assert len(again) == 1 and again[0].duration_ms > 200


async def test_faster_speed_gives_shorter_audio(models: ModelSet) -> None:
    text = "Your appointment is on Tuesday at ten in the morning."
    normal = concat([f async for f in models.tts.synthesize(text)])
    fast = concat([f async for f in models.tts.synthesize(text, speed=1.5)])
    assert fast.duration_ms < 0.8 * normal.duration_ms


async def test_empty_text_yields_no_audio(models: ModelSet) -> None:
    assert [f async for f in models.tts.synthesize("   ")] == []
