"""SIPp (Debian sip-tester) as a hostile or plain SIP peer: call flows PJSIP must get right, and our gates."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import numpy as np

from appliance.audio import AudioFrame, rms_dbfs, ulaw_encode
from appliance.telephony import HangupReason, LegDtmf
from sip.leg import SipCallLeg
from sip.security import SourceFilter
from sip.ua import Reject
from tests.sip.conftest import need, sip_agent, softphone

SCENARIOS = Path(__file__).parent / "sipp"


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def run_sipp(tmp: Path, port: int, scenario: str, *, source: str = "127.0.0.1", user_agent: str = "sipp",
                   rtp_file: Path | None = None, calls: int = 1, concurrent: int = 0) -> tuple[int, str]:
    """Run one scenario against 127.0.0.1:port; returns (exit code, SIPp's error log)."""
    binary = need("sipp")
    text = (SCENARIOS / scenario).read_text().replace("@UA@", user_agent)
    text = text.replace("@RTPFILE@", str(rtp_file or ""))
    xml = tmp / scenario
    xml.write_text(text)
    errors = tmp / f"{scenario}.err"
    args = [binary, f"127.0.0.1:{port}", "-sf", str(xml), "-m", str(calls), "-l", str(concurrent or calls),
            "-s", "agent", "-i", source, "-p", str(_free_port(source)), "-mp", str(_free_port(source)),
            "-trace_msg", "-message_file", str(tmp / "msg.log"), "-timeout", "20s", "-timeout_error",
            "-nostdin", "-trace_err", "-error_file", str(errors)]
    proc = await asyncio.create_subprocess_exec(*args, cwd=tmp, stdin=subprocess.DEVNULL,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 40)
    log = errors.read_text(errors="replace") if errors.exists() else ""
    return proc.returncode or 0, log + err.decode(errors="replace")


def _ulaw_tone(path: Path, seconds: float = 3.0) -> Path:
    t = np.arange(int(8000 * seconds)) / 8000
    frame = AudioFrame.from_array((0.3 * np.sin(2 * np.pi * 400 * t)).astype(np.float32), 8000)
    path.write_bytes(ulaw_encode(frame))
    return path


async def test_sipp_call_with_rtp_reaches_the_agent_and_bye_mid_sentence_ends_it(tmp_path: Path) -> None:
    heard: list[AudioFrame] = []

    async def talkative(leg: SipCallLeg) -> None:
        await leg.send(AudioFrame(b"\x00\x20" * 16000 * 10, 16000))  # a 10 s sentence the caller cuts off
        async for frame in leg.frames():
            heard.append(frame)

    async with sip_agent(talkative) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "call_rtp_bye.xml", rtp_file=_ulaw_tone(tmp_path / "t.ul"))
        await asyncio.sleep(0.3)
    assert rc == 0, log
    assert sum(1 for f in heard if rms_dbfs(f) > -30) * 20 >= 1000  # SIPp's µ-law tone arrived as 16 kHz frames
    leg = agent.legs[0]
    assert leg.hangup_reason is HangupReason.CALLER_HANGUP
    assert leg.playout.buffered > 0  # BYE arrived mid-sentence: the rest was never played


async def test_cancel_before_answer_gets_487_and_no_call_runs(tmp_path: Path) -> None:
    ran: list[SipCallLeg] = []

    async def never(leg: SipCallLeg) -> None:
        ran.append(leg)

    async with sip_agent(never, route_delay=1.5) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "cancel.xml")
        await asyncio.sleep(1.8)
    assert rc == 0, log
    assert ran == []
    assert len(agent.incoming) == 1


async def test_hold_and_resume_by_reinvite_keep_the_call_up(tmp_path: Path) -> None:
    async def listen(leg: SipCallLeg) -> None:
        async for _ in leg.frames():
            pass

    async with sip_agent(listen) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "hold_resume.xml")
        await asyncio.sleep(0.3)
    assert rc == 0, log
    assert agent.legs[0].hangup_reason is HangupReason.CALLER_HANGUP  # ended by the BYE, not by the holds


async def test_offer_with_only_unsupported_codecs_gets_488(tmp_path: Path) -> None:
    async with sip_agent(_unused) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "codecs_488.xml")
    assert rc == 0, log
    assert agent.legs == []


async def test_malformed_invite_does_not_hurt_the_agent(tmp_path: Path) -> None:
    async with sip_agent(_unused) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "malformed.xml")
        assert rc == 0, log
        report = await softphone(agent.uri, "--duration", "0.3")  # and real calls still work
    assert report["answered"]


async def test_bye_for_an_unknown_dialog_gets_481(tmp_path: Path) -> None:
    async with sip_agent(_unused) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "unknown_bye.xml")
    assert rc == 0, log


async def test_unknown_source_on_an_ip_trusted_trunk_gets_403_and_no_call(tmp_path: Path) -> None:
    async with sip_agent(_unused, trusted=("127.0.0.1/32",)) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "refused_403.xml", source="127.0.0.2")
    assert rc == 0, log
    assert agent.incoming == [] and agent.ua.rejected.get(403) == 1


async def test_scanner_user_agent_gets_403(tmp_path: Path) -> None:
    async with sip_agent(_unused) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "refused_403.xml", user_agent="friendly-scanner")
    assert rc == 0, log
    assert agent.incoming == []


async def test_flooding_source_is_banned(tmp_path: Path) -> None:
    flood = SourceFilter(flood_limit_per_10s=3, ban_seconds=60)
    async with sip_agent(None, reject=Reject(486), source_filter=flood) as agent:
        for _ in range(4):  # 3 allowed (then refused by routing with 486), the 4th trips the ban
            await run_sipp(tmp_path, agent.ua.port, "refused_403.xml")
        rc, log = await run_sipp(tmp_path, agent.ua.port, "refused_403.xml")
    assert rc == 0, log
    assert flood.banned("127.0.0.1")
    assert len(agent.incoming) == 3


async def test_over_capacity_gets_503_at_once_while_the_admitted_call_goes_on(tmp_path: Path) -> None:
    async def hold(leg: SipCallLeg) -> None:
        async for _ in leg.frames():
            pass

    async with sip_agent(hold, max_calls=1) as agent:
        first = asyncio.create_task(softphone(agent.uri, "--duration", "3"))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if agent.legs:
                break
        rc, log = await run_sipp(tmp_path, agent.ua.port, "refused_503.xml")
        report = await first
    assert rc == 0, log
    assert report["answered"] and report["hangup"] == "caller_hangup"
    assert agent.ua.rejected.get(503) == 1


async def _unused(leg: SipCallLeg) -> None:
    await leg.hangup()


async def test_sip_info_dtmf_arrives_as_leg_dtmf(tmp_path: Path) -> None:
    digits: list[str] = []

    async def ivr(leg: SipCallLeg) -> None:
        async for event in leg.events():
            if isinstance(event, LegDtmf):
                digits.append(event.digit)

    async with sip_agent(ivr) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "dtmf_info.xml")
        await asyncio.sleep(0.2)
    assert rc == 0, log
    assert digits == ["5"]


async def test_draining_refuses_new_calls_and_lets_the_running_call_finish(tmp_path: Path) -> None:
    async def hold(leg: SipCallLeg) -> None:
        async for _ in leg.frames():
            pass

    async with sip_agent(hold) as agent:
        first = asyncio.create_task(softphone(agent.uri, "--duration", "3"))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if agent.legs:
                break
        draining = asyncio.create_task(agent.ua.stop(drain_seconds=10))
        await asyncio.sleep(0.3)
        rc, log = await run_sipp(tmp_path, agent.ua.port, "refused_503.xml")
        report = await first
        await draining
    assert rc == 0, log
    assert report["answered"] and report["hangup"] == "caller_hangup"  # the caller ended it, not the drain
    assert agent.legs[0].hangup_reason is HangupReason.CALLER_HANGUP


async def test_many_calls_in_a_row_reuse_call_slots_and_leave_nothing_behind(tmp_path: Path) -> None:
    async def listen(leg: SipCallLeg) -> None:
        async for _ in leg.frames():
            pass

    async with sip_agent(listen) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "call_rtp_bye.xml", rtp_file=_ulaw_tone(tmp_path / "t.ul"),
                                 calls=10, concurrent=3)
        await asyncio.sleep(0.5)
        leftover = await agent.ua.endpoint.run(lambda: len(agent.ua._calls))
    assert rc == 0, log
    assert len(agent.legs) == 10 and all(leg.ended.is_set() for leg in agent.legs)
    assert leftover == 0 and agent.ua.legs == {}


async def test_invite_without_sdp_gets_our_offer_and_the_call_works(tmp_path: Path) -> None:
    async def listen(leg: SipCallLeg) -> None:
        async for _ in leg.frames():
            pass

    async with sip_agent(listen) as agent:
        rc, log = await run_sipp(tmp_path, agent.ua.port, "no_sdp.xml")
        await asyncio.sleep(0.3)
    assert rc == 0, log
    assert agent.legs[0].hangup_reason is HangupReason.CALLER_HANGUP
