"""FileLeg: a call whose caller is a WAV file, played in real time, and whose agent audio is recorded.

One clock ticks every `frame_ms`: it hands the session the next chunk of caller audio and "plays" the next
chunk of queued agent audio into the agent track (silence when nothing is queued), so the agent track is
time-aligned with the caller audio, as on a phone line. After the caller audio ends the leg keeps feeding
silence until the agent has been quiet for `linger_ms`, then hangs up as the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from appliance.audio import INTERNAL_RATE, SAMPLE_WIDTH, AudioFrame, resample, split
from appliance.telephony import (
    Direction,
    HangupReason,
    LegDtmf,
    LegEvent,
    LegHangup,
    PlayoutMark,
    TransferResult,
    until_closed,
)

_BYTES_PER_MS = INTERNAL_RATE * SAMPLE_WIDTH // 1000


class FileLeg:
    """A CallLeg over a caller recording (see module docstring). `agent_track()` is the recorded agent audio."""

    def __init__(self, caller_audio: AudioFrame, *, call_id: str = "file", caller: str = "", callee: str = "",
                 frame_ms: int = 20, linger_ms: float = 6000.0, speed: float = 1.0,
                 dtmf: dict[float, str] | None = None) -> None:
        self.call_id = call_id
        self.direction = Direction.INBOUND
        self.caller = caller
        self.callee = callee
        self.frame_ms = frame_ms
        self.linger_ms = linger_ms
        self.speed = speed  # 1.0 = real time (tests of pure logic may run faster)
        self._input = split(resample(caller_audio, INTERNAL_RATE), frame_ms) if caller_audio.pcm else []
        self._dtmf = dict(dtmf or {})
        self._queue = bytearray()  # agent audio waiting to be played (16 kHz s16)
        self._queued_total = 0  # bytes ever queued
        self._played_total = 0  # bytes ever played (or dropped)
        self._marks: list[tuple[int, str]] = []
        self._track = bytearray()
        self._events: asyncio.Queue[LegEvent | None] = asyncio.Queue()
        self._frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue()
        self._clock: asyncio.Task[None] | None = None
        self.clock_ms = 0.0
        self.clears: list[tuple[float, float]] = []  # (audio ms when cleared, ms dropped)
        self.hangup_reason: HangupReason | None = None
        self.transferred_to = ""
        self.sent_dtmf = ""

    def agent_track(self) -> AudioFrame:
        return AudioFrame(bytes(self._track), INTERNAL_RATE)

    async def frames(self) -> AsyncIterator[AudioFrame]:
        if self._clock is None:
            self._clock = asyncio.create_task(self._run_clock(), name=f"file-leg-clock-{self.call_id}")
        while True:
            frame = await self._frames.get()
            if frame is None:
                return
            yield frame

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        quiet_ms = 0.0
        step = self.frame_ms * _BYTES_PER_MS
        while self.hangup_reason is None:
            if tick < len(self._input):
                frame = self._input[tick]
            else:
                frame = AudioFrame(b"\x00" * step, INTERNAL_RATE)
                quiet_ms = 0.0 if self._queue else quiet_ms + self.frame_ms
                if quiet_ms >= self.linger_ms:
                    break
            self._frames.put_nowait(AudioFrame(frame.pcm, INTERNAL_RATE, pts_ms=self.clock_ms))
            for at in [t for t in self._dtmf if t <= self.clock_ms]:
                self._events.put_nowait(LegDtmf(self._dtmf.pop(at)))
            self._play(step)
            tick += 1
            self.clock_ms = tick * self.frame_ms
            await asyncio.sleep(max(0.0, start + tick * self.frame_ms / 1000 / self.speed - loop.time()))
        self._frames.put_nowait(None)
        if self.hangup_reason is None:
            self.hangup_reason = HangupReason.CALLER_HANGUP
            self._events.put_nowait(LegHangup(HangupReason.CALLER_HANGUP))

    def _play(self, step: int) -> None:
        chunk = bytes(self._queue[:step])
        del self._queue[:step]
        self._played_total += len(chunk)
        self._track += chunk + b"\x00" * (step - len(chunk))
        while self._marks and self._marks[0][0] <= self._played_total:
            self._events.put_nowait(PlayoutMark(self._marks.pop(0)[1]))

    async def send(self, frame: AudioFrame) -> None:
        pcm = resample(frame, INTERNAL_RATE).pcm
        self._queue += pcm
        self._queued_total += len(pcm)

    def mark(self, name: str) -> None:
        self._marks.append((self._queued_total, name))
        if self._queued_total <= self._played_total:
            self._play(0)

    def clear(self) -> float:
        dropped = len(self._queue)
        self._queue.clear()
        self._played_total += dropped
        self._queued_total = self._played_total
        self._marks.clear()  # marks of dropped audio never fire; the session computes what was heard
        ms = dropped / _BYTES_PER_MS
        self.clears.append((self.clock_ms, ms))
        return ms

    def send_dtmf(self, digits: str) -> None:
        self.sent_dtmf += digits

    async def transfer(self, target: str) -> TransferResult:
        self.transferred_to = target
        result = TransferResult(target, ok=True, status=200)
        self._events.put_nowait(result)
        await self.hangup(HangupReason.TRANSFERRED)
        return result

    async def hangup(self, reason: HangupReason = HangupReason.AGENT_HANGUP) -> None:
        if self.hangup_reason is not None:
            return
        self.hangup_reason = reason
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
        self._frames.put_nowait(None)
        self._events.put_nowait(None)

    def events(self) -> AsyncIterator[LegEvent]:
        return until_closed(self._events)
