"""A caller on a Twilio Media Streams WebSocket: the side-by-side's common boundary.

It speaks exactly what Twilio sends a bot: `connected`, `start`, then one `media` message per 20 ms of
8 kHz µ-law caller audio, paced in real time and never paused (silence between turns), and `stop` at the
end. Voice-to-voice is measured here the way the SIP softphone does it: from the moment the last voiced
frame of an utterance was sent to the arrival of the first agent `media` message holding a voiced 20 ms
frame (same -40 dBFS threshold).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from appliance.audio import AudioFrame, read_wav, resample, rms_dbfs, split, ulaw_decode, ulaw_encode
from bench.common import VOICED_DBFS

FRAME_MS = 20
ULAW_SILENCE = b"\xff" * 160  # 20 ms of µ-law digital silence at 8 kHz


@dataclass
class WsTurn:
    played: str
    speech_ms: float
    v2v_ms: float | None = None
    reply_ms: float = 0.0


@dataclass
class WsCallReport:
    url: str
    connected: bool = False
    greeting_ms: float = 0.0
    turns: list[WsTurn] = field(default_factory=list)
    error: str = ""


class _Line:
    """One open media stream: a real-time sender and a receiver that notes voiced agent audio."""

    def __init__(self, ws: Any, stream_sid: str) -> None:
        self.ws = ws
        self.sid = stream_sid
        self.seq = 1
        self.chunk = 0
        self.pending: list[bytes] = []
        self.sent_all = asyncio.Event()
        self.last_sent = 0.0
        self.last_voiced = 0.0
        self.voiced_ms = 0.0
        self.watch_from: float | None = None
        self.first_voiced: float | None = None
        self.got_first = asyncio.Event()

    async def send_json(self, message: dict[str, Any]) -> None:
        message.setdefault("sequenceNumber", str(self.seq))
        self.seq += 1
        await self.ws.send(json.dumps(message))

    async def sender(self) -> None:
        """20 ms of caller audio per tick on an absolute schedule (no drift), silence when nothing is queued."""
        start = time.monotonic()
        while True:
            payload = self.pending.pop(0) if self.pending else ULAW_SILENCE
            await self.send_json({"event": "media", "streamSid": self.sid,
                                  "media": {"track": "inbound", "chunk": str(self.chunk),
                                            "timestamp": str(self.chunk * FRAME_MS),
                                            "payload": base64.b64encode(payload).decode()}})
            if payload is not ULAW_SILENCE and not self.pending:
                self.last_sent = time.monotonic()
                self.sent_all.set()
            self.chunk += 1
            await asyncio.sleep(max(0.0, start + self.chunk * FRAME_MS / 1000 - time.monotonic()))

    async def receiver(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message.get("event") != "media":
                continue
            now = time.monotonic()
            audio = ulaw_decode(base64.b64decode(message["media"]["payload"]), 8000)
            for piece in split(audio, FRAME_MS):
                if rms_dbfs(piece) <= VOICED_DBFS:
                    continue
                self.last_voiced = now
                self.voiced_ms += piece.duration_ms
                if self.watch_from is not None and now >= self.watch_from and self.first_voiced is None:
                    self.first_voiced = now
                    self.got_first.set()

    def speak(self, audio: AudioFrame) -> None:
        pcm8k = resample(audio, 8000)
        self.pending = [ulaw_encode(f) for f in split(pcm8k, FRAME_MS)]
        self.sent_all = asyncio.Event()

    def watch(self, t: float) -> None:
        self.watch_from, self.first_voiced = t, None
        self.got_first = asyncio.Event()

    async def wait_quiet(self, quiet_s: float, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.last_voiced and time.monotonic() - self.last_voiced >= quiet_s:
                return
            await asyncio.sleep(0.05)


async def place_ws_call(url: str, plays: list[Path], *, reply_timeout: float = 25.0) -> WsCallReport:
    """One call: wait for the greeting to end, then each WAV as one caller turn (see module docstring)."""
    report = WsCallReport(url)
    sid, call_sid = f"MZ{uuid.uuid4().hex}", f"CA{uuid.uuid4().hex}"
    try:
        async with websockets.connect(url, max_size=None, open_timeout=15) as ws:
            report.connected = True
            line = _Line(ws, sid)
            await line.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await line.send_json({"event": "start", "streamSid": sid, "start": {
                "accountSid": "AC" + "0" * 32, "streamSid": sid, "callSid": call_sid, "tracks": ["inbound"],
                "customParameters": {}, "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                        "channels": 1}}})
            tasks = [asyncio.create_task(line.sender()), asyncio.create_task(line.receiver())]
            try:
                await _turns(line, plays, report, reply_timeout)
                with contextlib.suppress(websockets.ConnectionClosed):
                    await line.send_json({"event": "stop", "streamSid": sid,
                                          "stop": {"accountSid": "AC" + "0" * 32, "callSid": call_sid}})
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    except (OSError, websockets.WebSocketException) as exc:
        report.error = f"{type(exc).__name__}: {exc}"
    return report


async def _turns(line: _Line, plays: list[Path], report: WsCallReport, reply_timeout: float) -> None:
    line.watch(time.monotonic())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(line.got_first.wait(), reply_timeout)
    await line.wait_quiet(1.5, reply_timeout)
    report.greeting_ms = line.voiced_ms
    for path in plays:
        audio = read_wav(path)
        turn = WsTurn(path.name, round(audio.duration_ms))
        report.turns.append(turn)
        line.speak(audio)
        await asyncio.wait_for(line.sent_all.wait(), audio.duration_ms / 1000 + 10)
        end = line.last_sent
        line.watch(end)
        before = line.voiced_ms
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(line.got_first.wait(), reply_timeout)
        if line.first_voiced is not None:
            turn.v2v_ms = round(1000 * (line.first_voiced - end))
            await line.wait_quiet(2.0, reply_timeout)  # a reply may pause between sentences
        turn.reply_ms = line.voiced_ms - before
