"""`vocaliq serve` wiring: a real SIP call into the served appliance runs a whole conversation session.

The models here are the tiny fakes from tests/fakes (tone TTS, scripted STT, energy VAD) so the test is
about SIP <-> session plumbing; tests/sip/test_demo.py runs the same path with the real models.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from appliance.agents import AgentConfig, default_reception_agent
from appliance.config import load_config
from appliance.conversation import CallServices
from appliance.conversation.services import LocalServices
from appliance.conversation.timeline import CallTimeline
from appliance.demo import free_port
from appliance.serve import Appliance, serving
from appliance.telephony import HangupReason
from sip.leg import SipCallLeg
from tests.fakes.audio_models import FakeAudioModels, ScriptedSTT
from tests.sip.conftest import softphone, tone


async def test_a_call_into_the_served_appliance_is_greeted_and_every_turn_answered(tmp_path: Path) -> None:
    settings = load_config(data_dir=tmp_path / "data")
    settings.sip.host, settings.sip.port, settings.sip.transports = "127.0.0.1", free_port(), ["udp"]
    settings.sip.trusted_cidrs = ["127.0.0.1/32"]
    settings.server.api_port = free_port()
    settings.server.drain_seconds = 0
    stt = ScriptedSTT(["what are your opening hours", "I would like to book an appointment"])
    models = FakeAudioModels(stt)
    local = LocalServices(CallServices(models=models), AgentConfig.from_mapping(default_reception_agent()))
    legs: list[SipCallLeg] = []
    timelines: list[CallTimeline] = []

    def observe(leg: SipCallLeg, agent: AgentConfig) -> None:
        legs.append(leg)
        timelines.append(CallTimeline(leg.call_id))
        local.services.bus.subscribe(timelines[-1].on_event)

    speech = [str(tone(tmp_path / f"u{i}.wav", 300 + 50 * i, 1.2)) for i in range(2)]
    async with Appliance(settings, local=local) as box:
        box.call_observers.append(observe)
        report = await softphone(f"sip:reception@127.0.0.1:{box.sip_port}", "--turns", "--play", speech[0],
                                 "--play", speech[1], "--record", str(tmp_path / "caller.wav"),
                                 "--reply-timeout", "10")
        for _ in range(30):
            if legs and legs[0].ended.is_set():
                break
            await asyncio.sleep(0.1)
    assert report["answered"] and report["greeting_ms"] > 500
    assert [t["v2v_ms"] is not None for t in report["turns"]] == [True, True]
    assert legs[0].hangup_reason is HangupReason.CALLER_HANGUP
    turns = timelines[0].turns
    assert turns[1].user_text == "what are your opening hours" and turns[1].played_text
    assert turns[2].user_text == "I would like to book an appointment" and turns[2].played_text
    recordings = sorted(settings.paths.recordings.glob("*/*.wav"))
    assert len(recordings) == 1 and recordings[0].stat().st_size > 44


async def test_sigterm_drains_the_running_call_before_the_appliance_stops(tmp_path: Path) -> None:
    settings = load_config(data_dir=tmp_path / "data")
    settings.sip.host, settings.sip.port, settings.sip.transports = "127.0.0.1", free_port(), ["udp"]
    settings.sip.trusted_cidrs = ["127.0.0.1/32"]
    settings.server.api_port = free_port()
    settings.server.drain_seconds = 20
    local = LocalServices(CallServices(models=FakeAudioModels(ScriptedSTT([]))),
                          AgentConfig.from_mapping(default_reception_agent()))
    legs: list[SipCallLeg] = []
    async with serving(settings, local=local) as box:
        box.call_observers.append(lambda leg, agent: legs.append(leg))
        call = asyncio.create_task(softphone(f"sip:reception@127.0.0.1:{box.sip_port}", "--duration", "4"))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if legs:
                break
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(box.wait(), 5)
    # leaving the block drained: the caller ended the call after its 4 s, the appliance did not cut it
    report = await call
    assert report["answered"] and report["hangup"] == "caller_hangup"
    assert legs[0].hangup_reason is HangupReason.CALLER_HANGUP


async def test_a_live_call_is_listed_and_can_be_hung_up_from_the_box(tmp_path: Path) -> None:
    settings = load_config(data_dir=tmp_path / "data")
    settings.sip.host, settings.sip.port, settings.sip.transports = "127.0.0.1", free_port(), ["udp"]
    settings.sip.trusted_cidrs = ["127.0.0.1/32"]
    settings.server.api_port = free_port()
    settings.server.drain_seconds = 0
    local = LocalServices(CallServices(models=FakeAudioModels(ScriptedSTT([]))),
                          AgentConfig.from_mapping(default_reception_agent()))
    async with Appliance(settings, local=local) as box:
        call = asyncio.create_task(softphone(f"sip:reception@127.0.0.1:{box.sip_port}", "--duration", "15"))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if box.live_calls():
                break
        live = box.live_calls()
        started = asyncio.get_running_loop().time()
        await box.hangup(live[0]["call_id"])
        report = await call
        took = asyncio.get_running_loop().time() - started
    assert len(live) == 1 and live[0]["direction"] == "inbound"
    assert report["answered"] and took < 10  # ended by us, long before the caller's 15 s
    assert box.live_calls() == []


async def test_caller_hanging_up_during_the_greeting_ends_the_session(tmp_path: Path) -> None:
    settings = load_config(data_dir=tmp_path / "data")
    settings.sip.host, settings.sip.port, settings.sip.transports = "127.0.0.1", free_port(), ["udp"]
    settings.sip.trusted_cidrs = ["127.0.0.1/32"]
    settings.server.api_port = free_port()
    settings.server.drain_seconds = 0
    local = LocalServices(CallServices(models=FakeAudioModels(ScriptedSTT([]))),
                          AgentConfig.from_mapping(default_reception_agent()))
    legs: list[SipCallLeg] = []
    timelines: list[CallTimeline] = []

    def observe(leg: SipCallLeg, agent: AgentConfig) -> None:
        legs.append(leg)
        timelines.append(CallTimeline(leg.call_id))
        local.services.bus.subscribe(timelines[-1].on_event)

    async with Appliance(settings, local=local) as box:
        box.call_observers.append(observe)
        report = await softphone(f"sip:reception@127.0.0.1:{box.sip_port}", "--duration", "0.5")
        for _ in range(50):
            if box.ua is not None and not box.ua.legs:
                break
            await asyncio.sleep(0.1)
        assert box.ua is not None and box.ua.legs == {}  # the session finished, nothing hangs
    assert report["answered"]
    assert legs[0].hangup_reason is HangupReason.CALLER_HANGUP
    greeting = timelines[0].turns[0]
    assert greeting.interrupted and len(greeting.played_text) < len(greeting.agent_text)  # cut off mid-way


async def test_rfc4733_digit_from_the_caller_takes_the_ivr_menu_path(tmp_path: Path) -> None:
    settings = load_config(data_dir=tmp_path / "data")
    settings.sip.host, settings.sip.port, settings.sip.transports = "127.0.0.1", free_port(), ["udp"]
    settings.sip.trusted_cidrs = ["127.0.0.1/32"]
    settings.server.api_port = free_port()
    settings.server.drain_seconds = 0
    models = FakeAudioModels(ScriptedSTT([]))
    local = LocalServices(CallServices(models=models), AgentConfig.from_mapping(default_reception_agent()))
    async with Appliance(settings, local=local) as box:
        report = await softphone(f"sip:reception@127.0.0.1:{box.sip_port}", "--dtmf", "0", "--duration", "4")
    assert report["answered"]
    assert any("Press or say 1" in text for text in models.tts.spoken)  # the DTMF menu prompt was spoken
