"""TwilioCallLeg's bookkeeping without a socket: the playout window, marks after their audio, what `clear()`
reports as dropped, and echoes that arrive after a clear."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np

from appliance.audio import AudioFrame, ulaw_encode
from appliance.telephony import Direction, HangupReason, LegDtmf, LegHangup, PlayoutMark
from appliance.twilio.leg import TwilioCallLeg


def tone(ms: float, rate: int = 16000) -> AudioFrame:
    t = np.arange(int(rate * ms / 1000)) / rate
    return AudioFrame.from_array(0.3 * np.sin(2 * np.pi * 300 * t), rate)


class Wire:
    """Collects what the leg's pump writes."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def media(self) -> list[bytes]:
        return [base64.b64decode(m["media"]["payload"]) for m in self.sent if m["event"] == "media"]  # type: ignore[index]

    def marks(self) -> list[str]:
        return [m["mark"]["name"] for m in self.sent if m["event"] == "mark"]  # type: ignore[index]


def leg() -> TwilioCallLeg:
    return TwilioCallLeg(call_id="CA1", stream_sid="MZ1", direction=Direction.INBOUND, caller="+1", callee="+2")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_only_the_window_is_at_twilio_until_it_echoes_the_played_chunks() -> None:
    call, wire = leg(), Wire()
    pump = asyncio.create_task(call.pump(wire.send))
    await call.send(tone(1000))
    call.mark("CA1:0:0")
    await settle()
    assert len(wire.media()) == 20 and all(len(m) == 160 for m in wire.media())  # 400 ms window
    acks = [m for m in wire.marks() if m.startswith("~")]
    call.on_mark(acks[9])  # Twilio played 10 chunks
    await settle()
    assert len(wire.media()) == 30 and call.played_ms == 200
    for name in [m for m in wire.marks() if m.startswith("~")]:
        call.on_mark(name)
        await settle()
    while len(wire.media()) < 50 or "CA1:0:0" not in wire.marks():
        for name in [m for m in wire.marks() if m.startswith("~")]:
            call.on_mark(name)
        await settle()
    assert wire.marks()[-1] == "CA1:0:0"  # the session's mark goes out after its audio
    call.on_mark("CA1:0:0")
    assert await anext(call.events()) == PlayoutMark("CA1:0:0")
    await call.hangup()
    await pump


async def test_clear_reports_everything_not_yet_played_and_ignores_stale_echoes() -> None:
    call, wire = leg(), Wire()
    pump = asyncio.create_task(call.pump(wire.send))
    await call.send(tone(1000))
    call.mark("CA1:0:0")
    await settle()
    acks = [m for m in wire.marks() if m.startswith("~")]
    call.on_mark(acks[4])  # 100 ms played
    dropped = call.clear()
    assert 895 <= dropped <= 905  # 1 s queued (+ resampler tail), 100 ms heard
    await settle()
    assert wire.sent[-1] == {"event": "clear", "streamSid": "MZ1"}
    call.on_mark(acks[10])  # Twilio echoes what it cleared: not played audio, no session mark
    call.on_mark("CA1:0:0")
    assert call.played_ms == 100
    await call.send(tone(100))
    call.mark("CA1:1:0")
    await settle()
    new_acks = [m for m in wire.marks() if m.startswith("~1.")]
    assert len(new_acks) == 5
    call.on_mark(new_acks[-1])
    await settle()
    call.on_mark("CA1:1:0")
    events = call.events()
    assert await anext(events) == PlayoutMark("CA1:1:0")  # the cleared CA1:0:0 never fired
    await call.hangup()
    await pump


async def test_caller_audio_becomes_16k_frames_and_dtmf_and_stop_become_events() -> None:
    call = leg()
    call.on_media(ulaw_encode(tone(20, 8000)))
    call.on_media(ulaw_encode(tone(20, 8000)))
    call.on_dtmf("5")
    call.remote_ended(HangupReason.CALLER_HANGUP, "stop")
    frames = [f async for f in call.frames()]
    assert [(f.sample_rate, f.duration_ms, f.pts_ms) for f in frames] == [(16000, 20, 0), (16000, 20, 20)]
    assert [e async for e in call.events()] == [LegDtmf("5"), LegHangup(HangupReason.CALLER_HANGUP, "stop")]
    assert call.hangup_reason is HangupReason.CALLER_HANGUP


async def test_dtmf_to_the_caller_goes_out_in_band() -> None:
    call, wire = leg(), Wire()
    pump = asyncio.create_task(call.pump(wire.send))
    call.send_dtmf("12")
    call.mark("dtmf")
    await settle()
    assert len(wire.media()) == 16  # two 100 ms tones with 60 ms gaps, in 20 ms chunks
    await call.hangup()
    await pump
