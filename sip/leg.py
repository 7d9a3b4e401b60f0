"""`SipCallLeg`: the asyncio face of one SIP call (implements appliance.telephony.CallLeg).

Audio crosses threads through two lanes only: the media thread hands caller audio and fired marks to the
loop with `call_soon_threadsafe`, and agent audio goes into a lock-protected `PlayoutBuffer` that the media
thread drains 20 ms at a time. Call control (hangup, REFER, DTMF out) is posted to the PJSIP thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pjsua2 as pj

from appliance.audio import AudioFrame, StreamResampler
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
from sip.media import PlayoutBuffer
from sip.recording import StereoRecording

log = logging.getLogger(__name__)

MAX_BUFFERED_S = 30.0  # send() waits beyond this much unplayed agent audio
MAX_PENDING_FRAMES = 500  # 10 s of caller audio nobody reads yet: drop the oldest


class SipCallLeg:
    """One SIP call as a CallLeg; created by `SipUserAgent`, never by hand."""

    def __init__(self, loop: asyncio.AbstractEventLoop, post: Callable[[Callable[[], Any]], Any], *,
                 direction: Direction, caller: str, callee: str, sip_call_id: str = "",
                 sample_rate: int = 16_000) -> None:
        self.call_id = uuid.uuid4().hex
        self.direction = direction
        self.caller = caller
        self.callee = callee
        self.sip_call_id = sip_call_id
        self.sample_rate = sample_rate
        self.playout = PlayoutBuffer()
        self.recording: StereoRecording | None = None
        self.call: Any = None  # the pjsua2 SipCall, touched on the PJSIP thread only
        self.hangup_reason: HangupReason | None = None
        self.end_status = 0
        self.end_detail = ""
        self.answered: asyncio.Future[None] = loop.create_future()
        self.ended = asyncio.Event()
        self.dtmf_received = ""
        self.srtp = False  # SDES-SRTP keys in our SDP (as answerer: the media is encrypted); set on the PJSIP thread
        self._loop = loop
        self._post = post  # async: run a function on the PJSIP thread
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._events: asyncio.Queue[LegEvent | None] = asyncio.Queue()
        self._resampler: StreamResampler | None = None
        self._transfer: asyncio.Future[TransferResult] | None = None
        self._transfer_target = ""

    # --- media thread (MediaSink) ------------------------------------------------------------------
    def on_caller_audio(self, pcm: bytes) -> None:
        if self.recording is not None:
            self.recording.add_caller(pcm)
        self._loop.call_soon_threadsafe(self._push_frame, pcm)

    def on_agent_audio(self, chunk: bytes, marks: list[str]) -> None:
        if self.recording is not None:
            self.recording.add_agent(chunk)
        for name in marks:
            self._loop.call_soon_threadsafe(self._events.put_nowait, PlayoutMark(name))

    # --- PJSIP thread -----------------------------------------------------------------------------
    def pj_dtmf(self, digit: str) -> None:
        self._loop.call_soon_threadsafe(self._on_dtmf, digit)

    def pj_confirmed(self) -> None:
        self._loop.call_soon_threadsafe(self._set_answered)

    def pj_transfer_status(self, status: int, reason: str) -> None:
        self._loop.call_soon_threadsafe(self._on_transfer_status, status, reason)

    def pj_disconnected(self, status: int, reason: str, was_confirmed: bool) -> None:
        self._loop.call_soon_threadsafe(self._on_ended, status, reason, was_confirmed)

    # --- loop thread --------------------------------------------------------------------------------
    def _push_frame(self, pcm: bytes) -> None:
        if self._frames.qsize() >= MAX_PENDING_FRAMES:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._frames.get_nowait()
        self._frames.put_nowait(pcm)

    def _on_dtmf(self, digit: str) -> None:
        self.dtmf_received += digit
        self._events.put_nowait(LegDtmf(digit))

    def _set_answered(self) -> None:
        if not self.answered.done():
            self.answered.set_result(None)

    def _on_transfer_status(self, status: int, reason: str) -> None:
        if self._transfer is not None and not self._transfer.done():
            result = TransferResult(self._transfer_target, ok=200 <= status < 300, status=status, detail=reason)
            self._transfer.set_result(result)

    def _on_ended(self, status: int, reason: str, was_confirmed: bool) -> None:
        if self.ended.is_set():
            return
        self.end_status, self.end_detail = status, reason
        if not self.answered.done():
            from appliance.errors import SipError

            self.answered.set_exception(SipError(f"call failed: {status} {reason}", status or 500))
            self.answered.exception()  # mark retrieved: nobody may be waiting
        if self.hangup_reason is None:
            if was_confirmed:
                self.hangup_reason = HangupReason.CALLER_HANGUP
            elif self.direction is Direction.INBOUND:
                self.hangup_reason = HangupReason.CANCELLED
            else:
                self.hangup_reason = HangupReason.NO_ANSWER if status in (408, 480, 486, 487, 603) else \
                    HangupReason.ERROR
            self._events.put_nowait(LegHangup(self.hangup_reason, f"{status} {reason}".strip()))
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_result(TransferResult(self._transfer_target, ok=False, status=status,
                                                     detail="call ended before the transfer completed"))
        if self.recording is not None:
            self.recording.request_close()
        self._events.put_nowait(None)
        self._frames.put_nowait(None)
        self.ended.set()

    # --- CallLeg ------------------------------------------------------------------------------------
    async def frames(self) -> AsyncIterator[AudioFrame]:
        pts = 0.0
        while True:
            pcm = await self._frames.get()
            if pcm is None:
                return
            frame = AudioFrame(pcm, self.sample_rate, pts_ms=pts)
            pts += frame.duration_ms
            yield frame

    async def send(self, frame: AudioFrame) -> None:
        if self.ended.is_set():
            return
        if self._resampler is None or self._resampler.in_rate != frame.sample_rate:
            self._flush_resampler()
            self._resampler = StreamResampler(frame.sample_rate, self.sample_rate)
        out = self._resampler.process(frame)
        self.playout.write(out.pcm)
        limit = int(MAX_BUFFERED_S * self.sample_rate * 2)
        # The media thread drains the buffer; a 100 ms poll is the simplest back-pressure across threads.
        while self.playout.buffered > limit and not self.ended.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    def _flush_resampler(self) -> None:
        if self._resampler is not None and self._resampler.in_rate != self.sample_rate:
            tail = self._resampler.process(AudioFrame(b"", self._resampler.in_rate), last=True)
            self.playout.write(tail.pcm)
        self._resampler = None

    def mark(self, name: str) -> None:
        self._flush_resampler()
        self.playout.mark(name)

    def clear(self) -> float:
        self._resampler = None
        dropped = self.playout.clear()
        return 1000.0 * dropped / (2 * self.sample_rate)

    def send_dtmf(self, digits: str) -> None:
        def dial() -> None:
            if self.call is not None:
                self.call.dialDtmf(digits)
        self._post(dial)

    async def transfer(self, target: str) -> TransferResult:
        self._transfer_target = target
        self._transfer = self._loop.create_future()
        if self.ended.is_set():
            return TransferResult(target, ok=False, detail="call already ended")

        def xfer() -> None:
            self.call.xfer(target, pj.CallOpParam(True))

        try:
            await asyncio.wrap_future(self._post(xfer))
            result = await asyncio.wait_for(asyncio.shield(self._transfer), 30.0)
        except TimeoutError:
            result = TransferResult(target, ok=False, status=408, detail="no final transfer status in 30 s")
        except Exception as exc:  # pj.Error from xfer: e.g. REFER refused locally
            result = TransferResult(target, ok=False, status=500, detail=str(exc))
        self._events.put_nowait(result)
        if result.ok:
            await self.hangup(HangupReason.TRANSFERRED)
        return result

    async def hangup(self, reason: HangupReason = HangupReason.AGENT_HANGUP) -> None:
        if self.ended.is_set():
            return
        if self.hangup_reason is None:
            self.hangup_reason = reason

        def bye() -> None:
            if self.call is not None and self.call.isActive():
                self.call.hangup(pj.CallOpParam(True))

        with contextlib.suppress(Exception):
            await asyncio.wrap_future(self._post(bye))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ended.wait(), 5.0)

    def events(self) -> AsyncIterator[LegEvent]:
        return until_closed(self._events)
