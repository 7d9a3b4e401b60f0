"""`TwilioWsLeg`: a CallLeg over a Twilio Media Streams WebSocket, for the side-by-side benchmark only.

It puts our conversation engine behind the same boundary as the Pipecat pipeline (8 kHz µ-law `media`
messages on a WebSocket), so both are measured by the same caller at the same place. Agent audio is paced
like on a phone line: a 20 ms clock drains the same `PlayoutBuffer` the SIP leg uses and sends what it takes
(nothing when idle), and fires marks when their audio has gone out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from appliance.audio import AudioFrame, StreamResampler, ulaw_decode, ulaw_encode
from appliance.telephony import (
    Direction,
    HangupReason,
    LegEvent,
    LegHangup,
    PlayoutMark,
    TransferResult,
    until_closed,
)
from sip.media import PlayoutBuffer

WIRE_RATE = 8000
FRAME_BYTES = WIRE_RATE * 20 // 1000 * 2  # 20 ms of s16le at 8 kHz


class TwilioWsLeg:
    """One media stream as a CallLeg; `run()` reads the socket until the caller stops or disconnects."""

    def __init__(self, ws: Any, stream_sid: str) -> None:
        self.call_id = uuid.uuid4().hex
        self.direction = Direction.INBOUND
        self.caller = "ws-caller"
        self.callee = "agent"
        self.ws = ws
        self.sid = stream_sid
        self.playout = PlayoutBuffer()
        self.hangup_reason: HangupReason | None = None
        self.ended = asyncio.Event()
        self._frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue()
        self._events: asyncio.Queue[LegEvent | None] = asyncio.Queue()
        self._in = StreamResampler(WIRE_RATE, 16000)
        self._out: StreamResampler | None = None
        self._clock: asyncio.Task[None] | None = None
        self._clear_pending = False  # a Twilio `clear` goes out on the clock's next tick

    async def run(self, messages: AsyncIterator[str]) -> None:
        self._clock = asyncio.create_task(self._playout_clock())
        try:
            async for raw in messages:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    pcm = ulaw_decode(base64.b64decode(message["media"]["payload"]), WIRE_RATE)
                    self._frames.put_nowait(self._in.process(pcm))
                elif event == "stop":
                    break
        finally:
            self._end(HangupReason.CALLER_HANGUP)

    def _end(self, reason: HangupReason) -> None:
        if self.ended.is_set():
            return
        if self.hangup_reason is None:
            self.hangup_reason = reason
            self._events.put_nowait(LegHangup(reason))
        self._events.put_nowait(None)
        self._frames.put_nowait(None)
        self.ended.set()
        if self._clock is not None:
            self._clock.cancel()

    async def _playout_clock(self) -> None:
        start, tick = time.monotonic(), 0
        while not self.ended.is_set():
            if self._clear_pending:
                self._clear_pending = False
                await self.ws.send_text(json.dumps({"event": "clear", "streamSid": self.sid}))
            if self.playout.buffered:
                chunk, _audio, marks = self.playout.read(FRAME_BYTES)
                await self.ws.send_text(json.dumps({
                    "event": "media", "streamSid": self.sid,
                    "media": {"payload": base64.b64encode(ulaw_encode(AudioFrame(chunk, WIRE_RATE))).decode()}}))
            else:
                _chunk, _audio, marks = self.playout.read(0)
            for name in marks:
                self._events.put_nowait(PlayoutMark(name))
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.02 - time.monotonic()))

    # --- CallLeg --------------------------------------------------------------------------------------
    async def frames(self) -> AsyncIterator[AudioFrame]:
        while (frame := await self._frames.get()) is not None:
            yield frame

    async def send(self, frame: AudioFrame) -> None:
        if self.ended.is_set():
            return
        if self._out is None or self._out.in_rate != frame.sample_rate:
            self._flush()
            self._out = StreamResampler(frame.sample_rate, WIRE_RATE)
        self.playout.write(self._out.process(frame).pcm)

    def _flush(self) -> None:
        if self._out is not None and self._out.in_rate != WIRE_RATE:
            self.playout.write(self._out.process(AudioFrame(b"", self._out.in_rate), last=True).pcm)
        self._out = None

    def mark(self, name: str) -> None:
        self._flush()
        self.playout.mark(name)

    def clear(self) -> float:
        self._out = None
        dropped = self.playout.clear()
        self._clear_pending = True
        return 1000.0 * dropped / (2 * WIRE_RATE)

    def send_dtmf(self, digits: str) -> None:
        del digits  # a media stream carries no outbound DTMF

    async def transfer(self, target: str) -> TransferResult:
        return TransferResult(target, ok=False, detail="no transfer on the benchmark's media stream")

    async def hangup(self, reason: HangupReason = HangupReason.AGENT_HANGUP) -> None:
        if self.hangup_reason is None:
            self.hangup_reason = reason
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._end(reason)

    def events(self) -> AsyncIterator[LegEvent]:
        return until_closed(self._events)
