"""A real caller (our softphone in a subprocess, own PJSIP endpoint) talks to our user agent over loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import wave
from pathlib import Path

from appliance.audio import AudioFrame, rms_dbfs
from appliance.telephony import HangupReason, LegDtmf, LegHangup, PlayoutMark
from sip.leg import SipCallLeg
from tests.sip.conftest import REPO, peak_hz, read_stereo, rms, sip_agent, softphone, tone


async def test_audio_flows_both_ways_and_the_recording_holds_both_sides(tmp_path: Path) -> None:
    heard: list[AudioFrame] = []

    async def echo(leg: SipCallLeg) -> None:
        async for frame in leg.frames():
            heard.append(frame)
            await leg.send(frame)

    async with sip_agent(echo, record_dir=tmp_path / "rec") as agent:
        report = await softphone(agent.uri, "--play", str(tone(tmp_path / "a.wav", 440)),
                                 "--record", str(tmp_path / "caller.wav"), "--duration", "1")
    assert report["answered"], report
    assert all(f.sample_rate == 16000 and f.channels == 1 and f.duration_ms == 20 for f in heard)
    assert sum(1 for f in heard if rms_dbfs(f) > -30) * 20 >= 1500  # the caller's 2 s tone reached frames()
    agent_side, _, rate = read_stereo(tmp_path / "caller.wav")
    assert abs(peak_hz(agent_side, rate) - 440) < 10  # the echo came back to the caller
    ours = sorted((tmp_path / "rec").glob("*/*.wav"))
    assert len(ours) == 1
    left, right, rate = read_stereo(ours[0])  # caller left, agent right
    assert rms(left) > 1000 and rms(right) > 1000
    assert abs(peak_hz(left, rate) - 440) < 10


async def test_agent_audio_is_played_with_marks_and_clear_drops_the_rest(tmp_path: Path) -> None:
    results: dict[str, object] = {}

    async def speak(leg: SipCallLeg) -> None:
        t0 = asyncio.get_running_loop().time()
        await leg.send(AudioFrame(tone(tmp_path / "x.wav", 660, 0.6, rate=22050).read_bytes()[44:], 22050))
        leg.mark("short")
        async for event in leg.events():
            if isinstance(event, PlayoutMark):
                results["mark_after_s"] = asyncio.get_running_loop().time() - t0
                break
        await leg.send(AudioFrame(b"\x10\x00" * 16000 * 5, 16000))
        leg.mark("never")
        await asyncio.sleep(0.5)
        results["dropped_ms"] = leg.clear()
        await asyncio.sleep(0.3)
        results["marks_after_clear"] = [e for e in _pending(leg) if isinstance(e, PlayoutMark)]
        await leg.hangup()

    async with sip_agent(speak) as agent:
        report = await softphone(agent.uri, "--record", str(tmp_path / "caller.wav"), "--duration", "5")
    assert report["answered"]
    assert 0.55 <= float(results["mark_after_s"]) < 2.0  # type: ignore[arg-type]
    assert 4000 <= float(results["dropped_ms"]) <= 4600  # type: ignore[arg-type]
    assert results["marks_after_clear"] == []
    agent_side, _, rate = read_stereo(tmp_path / "caller.wav")
    assert abs(peak_hz(agent_side[: rate], rate) - 660) < 15


def _pending(leg: SipCallLeg) -> list[object]:
    out: list[object] = []
    while not leg._events.empty():
        item = leg._events.get_nowait()
        if item is not None:
            out.append(item)
    return out


async def test_caller_bye_ends_frames_with_a_caller_hangup_event(tmp_path: Path) -> None:
    seen: list[object] = []

    async def listen(leg: SipCallLeg) -> None:
        async def frames() -> None:
            async for _ in leg.frames():
                pass
        reading = asyncio.create_task(frames())
        async for event in leg.events():
            seen.append(event)
        await asyncio.wait_for(reading, 5)

    async with sip_agent(listen) as agent:
        report = await softphone(agent.uri, "--duration", "0.5")
        await asyncio.sleep(0.5)
    assert report["answered"]
    assert len(seen) == 1 and isinstance(seen[0], LegHangup)
    assert seen[0].reason is HangupReason.CALLER_HANGUP
    assert agent.legs[0].hangup_reason is HangupReason.CALLER_HANGUP


async def test_rfc4733_digits_from_the_caller_arrive_as_leg_dtmf(tmp_path: Path) -> None:
    digits: list[str] = []

    async def ivr(leg: SipCallLeg) -> None:
        async for event in leg.events():
            if isinstance(event, LegDtmf):
                digits.append(event.digit)

    async with sip_agent(ivr) as agent:
        report = await softphone(agent.uri, "--dtmf", "1#9", "--duration", "0.5")
    assert report["answered"]
    assert "".join(digits) == "1#9"


async def test_agent_hangup_reaches_the_caller(tmp_path: Path) -> None:
    async def brief(leg: SipCallLeg) -> None:
        await leg.send(AudioFrame(b"\x00\x10" * 8000, 16000))
        leg.mark("done")
        async for event in leg.events():
            if isinstance(event, PlayoutMark):
                break
        await leg.hangup()

    async with sip_agent(brief) as agent:
        report = await softphone(agent.uri, "--duration", "10")
    assert report["answered"]
    assert report["hangup"] == "caller_hangup"  # from the caller's side: the far end (we) hung up
    assert agent.legs[0].hangup_reason is HangupReason.AGENT_HANGUP


async def test_recording_stays_playable_after_kill_9(tmp_path: Path) -> None:
    async def speak(leg: SipCallLeg) -> None:
        await leg.send(AudioFrame(tone(tmp_path / "t.wav", 500, 6.0).read_bytes()[44:], 16000))
        await leg.ended.wait()

    record = tmp_path / "killed.wav"
    async with sip_agent(speak) as agent:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sip.softphone", agent.uri, "--record", str(record), "--duration", "10",
            cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        for _ in range(100):  # wait until the call is up and about 2.5 s are written
            await asyncio.sleep(0.1)
            if agent.legs and record.exists() and record.stat().st_size > 4 * 16000 * 2:
                break
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    with wave.open(str(record)) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getnchannels() == 2 and seconds >= 1.5
        assert w.getnframes() * 4 + 44 == record.stat().st_size  # header sizes match the data on disk
