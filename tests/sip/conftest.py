"""Real SIP over loopback: our user agent in the test process, callers as subprocesses (one PJSIP endpoint
per process), SIPp and Kamailio when installed."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.audio import AudioFrame, write_wav
from appliance.config import SipConfig
from sip.endpoint import EndpointConfig
from sip.leg import SipCallLeg
from sip.security import SourceFilter
from sip.trunks import Trunk, TrunkTable
from sip.ua import Accept, Gates, IncomingCall, Reject, SipUserAgent

REPO = Path(__file__).resolve().parents[2]

Handler = Callable[[SipCallLeg], Awaitable[Any]]


@dataclass
class Agent:
    """Our UA under test plus what it saw."""

    ua: SipUserAgent
    incoming: list[IncomingCall] = field(default_factory=list)
    legs: list[SipCallLeg] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"sip:agent@127.0.0.1:{self.ua.port}"


@asynccontextmanager
async def sip_agent(handler: Handler | None = None, *, trusted: tuple[str, ...] = ("127.0.0.1/32",),
                    max_calls: int = 8, reject: Reject | None = None, record_dir: Path | None = None,
                    trunks: list[Trunk] | None = None, source_filter: SourceFilter | None = None,
                    transports: tuple[str, ...] = ("udp", "tcp"), route_delay: float = 0.0,
                    tls: tuple[Path, Path] | None = None, srtp: str = "optional") -> AsyncIterator[Agent]:
    """Start our user agent on a free loopback port; `handler(leg)` runs for each accepted call."""
    holder: list[Agent] = []

    async def on_incoming(call: IncomingCall) -> Accept | Reject:
        holder[0].incoming.append(call)
        if route_delay:
            await asyncio.sleep(route_delay)
        if reject is not None or handler is None:
            return reject or Reject(404)

        async def run(leg: SipCallLeg) -> None:
            holder[0].legs.append(leg)
            await handler(leg)

        return Accept(run, record=record_dir is not None)

    gates = Gates(trunks=TrunkTable(trunks or [], extra_trusted=list(trusted)),
                  source_filter=source_filter or SourceFilter.from_settings(SipConfig()), max_calls=max_calls)
    config = EndpointConfig(host="127.0.0.1", port=0, transports=transports + (("tls",) if tls else ()),
                            rtp_port_start=30000, rtp_port_range=2000, srtp=srtp, tls_port=0,
                            tls_cert_file=str(tls[0]) if tls else "", tls_key_file=str(tls[1]) if tls else "")
    ua = SipUserAgent(config, on_incoming=on_incoming, gates=gates, trunks=trunks, recordings_dir=record_dir)
    agent = Agent(ua)
    holder.append(agent)
    await ua.start()
    try:
        yield agent
    finally:
        await ua.stop()


async def softphone(uri: str, *args: str, limit_s: float = 60.0) -> dict[str, Any]:
    """Run the built-in caller in its own process; returns its JSON report."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sip.softphone", uri, *args, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        proc.kill()
        raise
    lines = out.decode().strip().splitlines()
    assert lines, f"softphone printed nothing; stderr: {err.decode()[-2000:]}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def tone(path: Path, hz: float = 440.0, seconds: float = 2.0, rate: int = 16000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    write_wav(path, AudioFrame.from_array((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate))
    return path


def read_stereo(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return data[:, 0].astype(np.float64), data[:, 1].astype(np.float64), w.getframerate()


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (install.sh --dev installs it)")
    return path
