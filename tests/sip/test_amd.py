"""Answering-machine detection on synthetic greetings (energy only, so tones stand in for speech)."""

from __future__ import annotations

import numpy as np

from appliance.audio import AudioFrame, concat, silence, split
from sip.amd import AmdResult, AnsweringMachineDetector


def _voice(ms: float) -> AudioFrame:
    t = np.arange(int(16 * ms)) / 16000
    return AudioFrame.from_array((0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000)


def _decide(audio: AudioFrame) -> AmdResult | None:
    amd = AnsweringMachineDetector()
    for frame in split(audio, 20):
        result = amd.feed(frame)
        if result is not None:
            return result
    return None


def test_short_hello_then_waiting_is_a_person() -> None:
    assert _decide(concat([silence(400), _voice(600), silence(1500)])) is AmdResult.HUMAN


def test_long_greeting_with_short_pauses_is_a_machine() -> None:
    greeting = concat([_voice(900), silence(200), _voice(900), silence(150), _voice(1200)])
    assert _decide(concat([silence(300), greeting])) is AmdResult.MACHINE


def test_nothing_at_all_is_reported_as_silence() -> None:
    assert _decide(silence(6000)) is AmdResult.SILENCE
