"""Trunks against a real registrar (Kamailio with digest auth) and blind transfer (REFER) to a second UA."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from appliance.telephony import HangupReason, TransferResult
from sip.leg import SipCallLeg
from sip.trunks import Trunk
from sip.ua import SipUserAgent
from tests.sip.conftest import REPO, need, sip_agent, softphone
from tests.sip.test_sipp import _free_port

KAMAILIO_IP = "127.0.0.3"
PASSWORD = "s3cret-trunk"


@asynccontextmanager
async def kamailio(tmp: Path) -> AsyncIterator[int]:
    """A throwaway Kamailio registrar on 127.0.0.3:<free port>; yields the port."""
    binary = need("kamailio")
    port = _free_port(KAMAILIO_IP)
    cfg = (Path(__file__).parent / "kamailio" / "kamailio.cfg").read_text()
    cfg = cfg.replace("@LISTEN@", f"udp:{KAMAILIO_IP}:{port}").replace("@ALIAS@", f'"{KAMAILIO_IP}:{port}"')
    (tmp / "kamailio.cfg").write_text(cfg.replace("@PASSWORD@", PASSWORD))
    log = (tmp / "kamailio.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        binary, "-f", str(tmp / "kamailio.cfg"), "-DD", "-E", "-m", "32", "-M", "4", "-Y", str(tmp),
        "-P", str(tmp / "kamailio.pid"), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await asyncio.sleep(0.8)
        assert proc.returncode is None, (tmp / "kamailio.log").read_text()[-2000:]
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)
        log.close()


async def _registered(agent_ua: SipUserAgent, trunk: str, seconds: float = 8.0) -> tuple[bool, int, str]:
    state = (False, 0, "")
    for _ in range(int(seconds * 10)):
        state = agent_ua.registration(trunk)
        if state[0] or state[1] >= 400:
            return state
        await asyncio.sleep(0.1)
    return state


async def test_trunk_registers_with_digest_auth_and_a_call_through_the_registrar_reaches_the_agent(
        tmp_path: Path) -> None:
    async def listen(leg: SipCallLeg) -> None:
        async for _ in leg.frames():
            pass

    async with kamailio(tmp_path) as port:
        trunk = Trunk("carrier", registrar=f"sip:{KAMAILIO_IP}:{port}", username="4930123456", password=PASSWORD,
                      realm="vocaliq.test")
        async with sip_agent(listen, trusted=(), trunks=[trunk]) as agent:
            registered, status, reason = await _registered(agent.ua, "carrier")
            assert registered and status == 200, (status, reason)
            direct = await softphone(agent.uri, "--duration", "0.2")  # not via the trunk: refused
            report = await softphone(f"sip:4930123456@{KAMAILIO_IP}:{port}", "--duration", "0.5")
    assert direct["status"] == 403
    assert report["answered"], report
    assert [c.trunk for c in agent.incoming] == ["carrier"]
    assert agent.incoming[0].dialled == "4930123456" and agent.incoming[0].source_ip == KAMAILIO_IP


async def test_credentials_are_not_offered_to_another_realm(tmp_path: Path) -> None:
    async with kamailio(tmp_path) as port:
        trunk = Trunk("carrier", registrar=f"sip:{KAMAILIO_IP}:{port}", username="4930123456", password=PASSWORD,
                      realm="our-carrier.example")  # the registrar challenges for vocaliq.test
        async with sip_agent(None, trunks=[trunk]) as agent:
            registered, status, _ = await _registered(agent.ua, "carrier")
    assert not registered and status == 401


async def test_blind_transfer_moves_the_caller_to_the_target(tmp_path: Path) -> None:
    target_port = _free_port()
    results: list[TransferResult] = []

    async def transfer(leg: SipCallLeg) -> None:
        await asyncio.sleep(0.5)
        results.append(await leg.transfer(f"sip:frontdesk@127.0.0.1:{target_port}"))

    target = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sip.softphone", "--listen", str(target_port), "--duration", "8", cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    async with sip_agent(transfer) as agent:
        await asyncio.sleep(1.0)  # the target's endpoint is up
        report = await softphone(agent.uri, "--accept-transfer", "--duration", "4")
    out, _ = await asyncio.wait_for(target.communicate(), 20)
    answered = json.loads(out.decode().strip().splitlines()[-1])
    assert report["answered"] and report["transfers_followed"]
    assert results and results[0].ok and results[0].status == 200
    assert agent.legs[0].hangup_reason is HangupReason.TRANSFERRED
    assert [c["to"] for c in answered["calls"]] == ["frontdesk"]


async def test_failed_transfer_is_reported_and_the_call_goes_on(tmp_path: Path) -> None:
    results: list[TransferResult] = []

    async def transfer(leg: SipCallLeg) -> None:
        await asyncio.sleep(0.3)
        results.append(await leg.transfer(f"sip:nobody@127.0.0.1:{_free_port()}"))
        await asyncio.sleep(0.3)
        results.append(TransferResult("still-up", ok=not leg.ended.is_set()))

    async with sip_agent(transfer) as agent:
        report = await softphone(agent.uri, "--duration", "3")  # this caller refuses REFER (603)
    assert report["answered"]
    assert not results[0].ok and results[0].status >= 400
    assert results[1].ok  # the call survived the failed transfer
