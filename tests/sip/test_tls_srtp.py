"""SIP over TLS with certificate verification, and SRTP (SDES) media, between two real PJSIP endpoints."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sip.leg import SipCallLeg
from tests.sip.conftest import peak_hz, read_stereo, sip_agent, softphone, tone


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (CN and subjectAltName) and its key, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI is not installed")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


async def echo(leg: SipCallLeg) -> None:
    async for frame in leg.frames():
        await leg.send(frame)


async def test_a_tls_call_with_mandatory_srtp_carries_audio_both_ways(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "box")
    async with sip_agent(echo, tls=(cert, key), srtp="mandatory") as agent:
        uri = f"sip:agent@127.0.0.1:{agent.ua.config.bound['tls']};transport=tls"
        report = await softphone(uri, "--tls-ca", str(cert), "--srtp", "mandatory",
                                 "--play", str(tone(tmp_path / "a.wav", 440)),
                                 "--record", str(tmp_path / "caller.wav"), "--duration", "1")
    assert report["answered"], report
    assert [leg.srtp for leg in agent.legs] == [True]  # our answer carried SRTP keys: the media is encrypted
    back, _, rate = read_stereo(tmp_path / "caller.wav")
    assert abs(peak_hz(back, rate) - 440) < 10  # and still decodes to the caller's tone after the round trip


async def test_plain_rtp_is_refused_with_488_when_srtp_is_mandatory(tmp_path: Path) -> None:
    async with sip_agent(echo, srtp="mandatory") as agent:
        report = await softphone(agent.uri, "--srtp", "off", "--duration", "0.5")
    assert not report["answered"]
    assert report["status"] == 488, report
    assert agent.legs == []


async def test_optional_srtp_answers_a_plain_rtp_caller(tmp_path: Path) -> None:
    async with sip_agent(echo, srtp="optional") as agent:
        report = await softphone(agent.uri, "--srtp", "off", "--play", str(tone(tmp_path / "a.wav", 440)),
                                 "--duration", "0.5")
    assert report["answered"], report
    assert [leg.srtp for leg in agent.legs] == [False]


async def test_a_caller_that_does_not_trust_the_certificate_never_reaches_the_agent(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "box")
    other, _ = self_signed(tmp_path, "someone-else")
    async with sip_agent(echo, tls=(cert, key)) as agent:
        uri = f"sip:agent@127.0.0.1:{agent.ua.config.bound['tls']};transport=tls"
        report = await softphone(uri, "--tls-ca", str(other), "--duration", "0.5")
    assert not report["answered"], report
    assert agent.incoming == []
