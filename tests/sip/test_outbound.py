"""Outbound calls over real SIP, with answering-machine detection on what the callee plays."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from appliance.audio import concat, read_wav, silence, write_wav
from appliance.errors import SipError
from sip.amd import AmdResult, AnsweringMachineDetector
from tests.sip.conftest import REPO, sip_agent, tone
from tests.sip.test_sipp import _free_port


async def _call_and_detect(tmp: Path, greeting: Path) -> AmdResult:
    port = _free_port()
    callee = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sip.softphone", "--listen", str(port), "--play", str(greeting), "--hold", "6",
        "--duration", "9", cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with sip_agent(None) as agent:
            await asyncio.sleep(1.0)  # the callee's endpoint is up
            leg = await agent.ua.call(f"sip:+4930555@127.0.0.1:{port}")
            result = await AnsweringMachineDetector().detect(leg.frames())
            await leg.hangup()
            return result
    finally:
        callee.terminate()
        await callee.wait()


async def test_a_person_saying_hello_is_detected_as_human(tmp_path: Path) -> None:
    hello = tmp_path / "hello.wav"
    write_wav(hello, concat([silence(300), read_wav(tone(tmp_path / "h.wav", 300, 0.6)), silence(2000)]))
    assert await _call_and_detect(tmp_path, hello) is AmdResult.HUMAN


async def test_a_long_greeting_is_detected_as_a_machine(tmp_path: Path) -> None:
    greeting = tone(tmp_path / "greeting.wav", 300, 4.0)
    assert await _call_and_detect(tmp_path, greeting) is AmdResult.MACHINE


async def test_calling_a_dead_address_fails_with_a_sip_error(tmp_path: Path) -> None:
    async with sip_agent(None) as agent:
        try:
            await agent.ua.call(f"sip:nobody@127.0.0.1:{_free_port()};transport=tcp", answer_within=20)
        except SipError as exc:
            assert exc.status >= 400
        else:
            raise AssertionError("the call should have failed")

