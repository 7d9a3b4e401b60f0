"""A scripted SIP caller: our own user agent placing one call (for `vocaliq call`, the demo and tests).

Two modes. Plain: play the WAVs back to back, send DTMF, stay `duration` seconds, hang up. Turns
(`--turns`): wait for the agent's greeting to finish, then for each WAV speak it, and measure voice-to-voice
latency at the caller (end of our speech leaving the media port → first voiced agent audio arriving) and
how long the agent's reply lasted. Run it as `python -m sip.softphone` to keep its PJSIP endpoint in a
process of its own (two endpoints cannot share a process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from appliance.audio import AudioFrame, concat, read_wav, rms_dbfs
from appliance.errors import VocalIQError
from sip.endpoint import EndpointConfig
from sip.leg import SipCallLeg
from sip.trunks import TrunkTable
from sip.ua import Accept, Gates, IncomingCall, SipUserAgent

VOICED_DBFS = -40.0


@dataclass
class TurnReport:
    played: str
    speech_ms: float
    v2v_ms: float | None = None  # None: the agent never answered this turn
    reply_ms: float = 0.0


@dataclass
class CallReport:
    uri: str
    answered: bool = False
    status: int = 0
    greeting_ms: float = 0.0
    turns: list[TurnReport] = field(default_factory=list)
    received_voiced_ms: float = 0.0
    hangup: str = ""
    error: str = ""
    transfers_followed: list[str] = field(default_factory=list)


@dataclass
class AnswerReport:
    port: int
    calls: list[dict[str, str]] = field(default_factory=list)


class Listener:
    """Consumes the agent's audio; tracks when voiced audio last arrived."""

    def __init__(self, leg: SipCallLeg) -> None:
        self.leg = leg
        self.last_voiced = 0.0
        self.first_voiced_after: dict[float, float] = {}
        self.voiced_ms = 0.0
        self._watch: float | None = None
        self.first_voiced = asyncio.Event()

    def watch_from(self, t: float) -> None:
        self._watch = t
        self.first_voiced = asyncio.Event()

    async def run(self) -> None:
        async for frame in self.leg.frames():
            if rms_dbfs(frame) > VOICED_DBFS:
                now = time.monotonic()
                self.last_voiced = now
                self.voiced_ms += frame.duration_ms
                if self._watch is not None and now >= self._watch and not self.first_voiced.is_set():
                    self.first_voiced_after[self._watch] = now
                    self.first_voiced.set()

    async def wait_quiet(self, quiet_s: float, limit_s: float) -> None:
        """Until `quiet_s` without voiced audio (or the limit, or the call ends)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not self.leg.ended.is_set():
            if time.monotonic() - max(self.last_voiced, 0.0) >= quiet_s and self.last_voiced:
                return
            await asyncio.sleep(0.05)


async def _speak(leg: SipCallLeg, audio: AudioFrame, name: str) -> float:
    """Queue `audio`, wait until it has been played out; returns the monotonic end time."""
    marks = leg.events()
    await leg.send(audio)
    leg.mark(name)
    deadline = time.monotonic() + audio.duration_ms / 1000 + 5
    async for event in marks:
        if getattr(event, "name", None) == name or time.monotonic() > deadline:
            break
    return time.monotonic()


def _config(port: int = 0, *, tls_ca: str = "", srtp: str = "optional") -> EndpointConfig:
    """Our caller's endpoint: UDP, plus a TLS client transport verifying the server against `tls_ca`."""
    return EndpointConfig(host="127.0.0.1", port=port, transports=("udp", "tls") if tls_ca else ("udp",),
                          tls_port=0, tls_ca_file=tls_ca, tls_verify_server=True, srtp=srtp, max_calls=4,
                          rtp_port_start=20000 + 2 * (os.getpid() % 10000), rtp_port_range=2000,
                          codecs=("G722/16000", "PCMA/8000", "PCMU/8000"), user_agent="VocalIQ-softphone")


async def answer_calls(port: int, *, seconds: float, hold_s: float = 1.0, plays: list[Path] | None = None
                       ) -> AnswerReport:
    """Be a desk phone on 127.0.0.1:`port` for `seconds`: answer every call, play `plays` (a person's
    "hello" or a machine's greeting), hang up after `hold_s`."""
    report = AnswerReport(port)

    async def on_incoming(call: IncomingCall) -> Accept:
        report.calls.append({"from": call.caller, "to": call.dialled, "source": call.source_ip})

        async def hold(leg: SipCallLeg) -> None:
            for path in plays or []:
                await leg.send(read_wav(path))
            with_end = asyncio.create_task(leg.ended.wait())
            await asyncio.wait({with_end}, timeout=hold_s)
            with_end.cancel()

        return Accept(hold)

    gates = Gates(trunks=TrunkTable(extra_trusted=["127.0.0.0/8"]))
    async with SipUserAgent(_config(port), on_incoming=on_incoming, gates=gates):
        await asyncio.sleep(seconds)
    return report


async def place_call(uri: str, plays: list[Path], *, record: Path | None = None, dtmf: str = "",
                     duration: float = 0.0, turns: bool = False, reply_timeout: float = 20.0,
                     accept_transfer: bool = False, tls_ca: str = "", srtp: str = "optional") -> CallReport:
    report = CallReport(uri)
    async with SipUserAgent(_config(tls_ca=tls_ca, srtp=srtp)) as ua:
        ua.follow_transfers = accept_transfer
        try:
            leg = await ua.call(uri, record_path=record, answer_within=15)
        except VocalIQError as exc:
            report.error = str(exc)
            report.status = getattr(exc, "status", 0)
            return report
        report.answered = True
        listener = Listener(leg)
        listening = asyncio.create_task(listener.run())
        try:
            if turns:
                await _run_turns(leg, listener, plays, report, reply_timeout)
            else:
                for i, path in enumerate(plays):
                    await _speak(leg, read_wav(path), f"play-{i}")
                if dtmf:
                    leg.send_dtmf(dtmf)
                    await asyncio.sleep(0.2 * len(dtmf) + 0.5)
                if duration:
                    with_end = asyncio.create_task(leg.ended.wait())
                    await asyncio.wait({with_end}, timeout=duration)
                    with_end.cancel()
        finally:
            report.received_voiced_ms = listener.voiced_ms
            report.hangup = str(leg.hangup_reason or "") if leg.ended.is_set() else "caller_hangup"
            await leg.hangup()
            listening.cancel()
            report.transfers_followed = list(ua.transfers_followed)
            if ua.transfers_followed:
                await asyncio.sleep(1.5)  # let the transferred call run before the endpoint goes
    return report


async def _run_turns(leg: SipCallLeg, listener: Listener, plays: list[Path], report: CallReport,
                     reply_timeout: float) -> None:
    start = time.monotonic()
    listener.watch_from(start)
    with_greeting = asyncio.create_task(listener.first_voiced.wait())
    await asyncio.wait({with_greeting}, timeout=reply_timeout)
    with_greeting.cancel()
    await listener.wait_quiet(1.5, reply_timeout)
    report.greeting_ms = listener.voiced_ms
    for i, path in enumerate(plays):
        if leg.ended.is_set():
            break
        audio = read_wav(path)
        turn = TurnReport(played=path.name, speech_ms=round(audio.duration_ms))
        report.turns.append(turn)
        # pad with a little silence so the agent's endpointing sees the end of speech
        speech = concat([audio if audio.sample_rate == 16000 else _to16k(audio)])
        end = await _speak(leg, speech, f"turn-{i}")
        listener.watch_from(end)
        before = listener.voiced_ms
        waiter = asyncio.create_task(listener.first_voiced.wait())
        await asyncio.wait({waiter}, timeout=reply_timeout)
        waiter.cancel()
        if listener.first_voiced.is_set():
            turn.v2v_ms = round(1000 * (listener.first_voiced_after[end] - end))
            await listener.wait_quiet(2.0, reply_timeout)  # a reply may pause between sentences
        turn.reply_ms = listener.voiced_ms - before


def _to16k(frame: AudioFrame) -> AudioFrame:
    from appliance.audio import resample

    return resample(frame, 16000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sip.softphone", description=__doc__)
    parser.add_argument("uri", nargs="?", default="")
    parser.add_argument("--listen", type=int, help="answer calls on this port instead of calling")
    parser.add_argument("--accept-transfer", action="store_true")
    parser.add_argument("--hold", type=float, default=1.0, help="with --listen: seconds before hanging up")
    parser.add_argument("--play", action="append", type=Path, default=[])
    parser.add_argument("--record", type=Path)
    parser.add_argument("--dtmf", default="")
    parser.add_argument("--duration", type=float, default=0.0)
    parser.add_argument("--turns", action="store_true")
    parser.add_argument("--reply-timeout", type=float, default=20.0)
    parser.add_argument("--tls-ca", default="", help="CA file: call over TLS verifying the server")
    parser.add_argument("--srtp", choices=("off", "optional", "mandatory"), default="optional")
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # only the JSON report goes to stdout
    if args.listen is not None:
        answered = asyncio.run(answer_calls(args.listen, seconds=args.duration or 10, plays=args.play,
                                            hold_s=args.hold))
        out.write(json.dumps(asdict(answered)) + "\n")
        out.flush()
        return 0
    report = asyncio.run(place_call(args.uri, args.play, record=args.record, dtmf=args.dtmf,
                                    duration=args.duration, turns=args.turns, reply_timeout=args.reply_timeout,
                                    accept_transfer=args.accept_transfer, tls_ca=args.tls_ca, srtp=args.srtp))
    out.write(json.dumps(asdict(report)) + "\n")
    out.flush()
    return 0 if report.answered else 1


if __name__ == "__main__":
    sys.exit(main())
