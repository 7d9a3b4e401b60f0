"""`TwilioCallLeg`: one Twilio media stream as a CallLeg (implements appliance.telephony.CallLeg).

Caller audio arrives as μ-law 8 kHz and leaves `frames()` at once as 16 kHz frames, one per message.
Agent audio is cut into 20 ms μ-law media messages; after each one goes a mark of our own
("~<epoch>.<seq>"), which Twilio echoes once that chunk has been played. Those echoes are the playout clock:
they tell exactly how much agent audio the caller has heard (so `clear()` knows what it dropped), and they pace
us: at most `window_ms` of unplayed audio sits at Twilio, the rest waits here where `clear()` can drop it
without a round trip. A session's `mark(name)` goes out as a Twilio mark after the audio queued before it; its
echo becomes `PlayoutMark(name)`. On barge-in `clear()` drops the local queue and sends Twilio's `clear`; the
echoes Twilio then returns for the dropped marks are ignored (marks of cleared audio never fire, as on SIP).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np

from appliance.audio import INTERNAL_RATE, AudioFrame, StreamResampler, ulaw_decode, ulaw_encode
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
from appliance.twilio import protocol
from appliance.twilio.upsample import Upsampler2x

WIRE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz (one byte per sample)
BYTES_PER_MS = WIRE_RATE // 1000
ULAW_SILENCE = b"\xff"
WINDOW_MS = 400.0  # unplayed audio at Twilio: covers a WAN round trip of the echoes without a gap
MAX_BUFFERED_S = 30.0  # send() waits beyond this much agent audio queued here
MAX_PENDING_FRAMES = 500  # 10 s of caller audio nobody reads yet: drop the oldest
ACK = "~"  # prefix of our per-chunk marks; a session's marks start with the call id

DTMF_HZ = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
           "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
           "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
           "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633)}

Transfer = Callable[[str], Awaitable[TransferResult]]


def dtmf_tones(digits: str, tone_ms: int = 100, gap_ms: int = 60) -> AudioFrame:
    """In-band DTMF at 8 kHz (a media stream has no out-of-band DTMF towards the caller)."""
    t = np.arange(WIRE_RATE * tone_ms // 1000) / WIRE_RATE
    gap = np.zeros(WIRE_RATE * gap_ms // 1000)
    parts = []
    for digit in digits.upper():
        if digit in DTMF_HZ:
            low, high = DTMF_HZ[digit]
            parts += [0.25 * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)), gap]
    return AudioFrame.from_array(np.concatenate(parts) if parts else gap[:0], WIRE_RATE)


class TwilioCallLeg:
    """One call's media stream as a CallLeg (see module docstring). The stream handler feeds it Twilio's
    messages (`on_media`, `on_dtmf`, `on_mark`, `remote_ended`) and runs `pump(send)` to write ours."""

    def __init__(self, *, call_id: str, stream_sid: str, direction: Direction, caller: str, callee: str,
                 transfer: Transfer | None = None, window_ms: float = WINDOW_MS) -> None:
        self.call_id = call_id
        self.stream_sid = stream_sid
        self.direction = direction
        self.caller = caller
        self.callee = callee
        self.window_bytes = int(window_ms * BYTES_PER_MS)
        self.hangup_reason: HangupReason | None = None
        self.hangup_detail = ""
        self.ended = asyncio.Event()
        self.played_ms = 0.0  # agent audio Twilio confirmed as played
        self.media_sent = 0
        self.clears = 0
        self.dtmf_received = ""
        self._transfer = transfer
        self._frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue()
        self._events: asyncio.Queue[LegEvent | None] = asyncio.Queue()
        self._rx = Upsampler2x()  # 8 -> 16 kHz without soxr's ~100 ms blocks
        self._rx_pts = 0.0
        self._tx: StreamResampler | None = None
        self._partial = bytearray()  # μ-law not yet a whole 20 ms chunk
        self._outbox: deque[tuple[bool, bytes | str]] = deque()  # (is_media, chunk | session mark name)
        self._outbox_bytes = 0
        self._control: deque[str] = deque()  # messages that overtake the outbox (clear)
        self._unacked: deque[tuple[int, int]] = deque()  # (seq, bytes) at Twilio, not yet played
        self._unacked_bytes = 0
        self._epoch = 0
        self._seq = 0
        self._marks_out: set[str] = set()  # session marks queued here or at Twilio
        self._marks_dropped: set[str] = set()  # cleared: their echo is no PlayoutMark
        self._wake = asyncio.Event()
        self._room = asyncio.Event()

    # --- Twilio -> us (the stream reader) ---------------------------------------------------------------
    def on_media(self, ulaw: bytes) -> None:
        if self.ended.is_set() or not ulaw:
            return
        frame = self._rx.process(ulaw_decode(ulaw, WIRE_RATE))
        if self._frames.qsize() >= MAX_PENDING_FRAMES:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._frames.get_nowait()
        self._frames.put_nowait(AudioFrame(frame.pcm, INTERNAL_RATE, pts_ms=self._rx_pts))
        self._rx_pts += frame.duration_ms

    def on_dtmf(self, digit: str) -> None:
        if not self.ended.is_set():
            self.dtmf_received += digit
            self._events.put_nowait(LegDtmf(digit))

    def on_mark(self, name: str) -> None:
        if name.startswith(ACK):
            epoch, _, seq = name[len(ACK):].partition(".")
            if epoch != str(self._epoch) or not seq.isdigit():
                return  # an echo from before the last clear (or not ours)
            while self._unacked and self._unacked[0][0] <= int(seq):
                _, size = self._unacked.popleft()
                self._unacked_bytes -= size
                self.played_ms += size / BYTES_PER_MS
            self._wake.set()
        elif name in self._marks_dropped:
            self._marks_dropped.discard(name)
        elif name in self._marks_out:
            self._marks_out.discard(name)
            self._events.put_nowait(PlayoutMark(name))

    def remote_ended(self, reason: HangupReason = HangupReason.CALLER_HANGUP, detail: str = "") -> None:
        """Twilio stopped the stream, the socket closed, or it broke the protocol: the call is over."""
        if self.ended.is_set():
            return
        if self.hangup_reason is None:
            self.hangup_reason, self.hangup_detail = reason, detail
            self._events.put_nowait(LegHangup(reason, detail))
        self._end()

    def _end(self) -> None:
        self.ended.set()
        self._frames.put_nowait(None)
        self._events.put_nowait(None)
        self._wake.set()
        self._room.set()

    # --- us -> Twilio ------------------------------------------------------------------------------------
    async def pump(self, send: Callable[[str], Awaitable[None]]) -> None:
        """Write our messages in order until the leg ends: control first, then media within the window."""
        while True:
            if self._control:
                await send(self._control.popleft())
                continue
            if self.ended.is_set():
                return
            messages = self._next_messages()
            if not messages:
                self._wake.clear()
                await self._wake.wait()
                continue
            for message in messages:
                await send(message)

    def _next_messages(self) -> list[str]:
        if not self._outbox:
            return []
        is_media, item = self._outbox[0]
        if not is_media:
            self._outbox.popleft()
            return [protocol.mark(self.stream_sid, str(item))]
        if self._unacked_bytes >= self.window_bytes:
            return []  # the next echo wakes us
        self._outbox.popleft()
        assert isinstance(item, bytes)
        self._outbox_bytes -= len(item)
        self._room.set()
        self._seq += 1
        self._unacked.append((self._seq, len(item)))
        self._unacked_bytes += len(item)
        self.media_sent += 1
        ack = protocol.mark(self.stream_sid, f"{ACK}{self._epoch}.{self._seq}")
        return [protocol.media(self.stream_sid, item), ack]

    def _queue_ulaw(self, ulaw: bytes) -> None:
        self._partial += ulaw
        while len(self._partial) >= FRAME_BYTES:
            chunk = bytes(self._partial[:FRAME_BYTES])
            del self._partial[:FRAME_BYTES]
            self._outbox.append((True, chunk))
            self._outbox_bytes += len(chunk)
        self._wake.set()

    def _flush_tx(self) -> None:
        if self._tx is not None and self._tx.in_rate != WIRE_RATE:
            tail = self._tx.process(AudioFrame(b"", self._tx.in_rate), last=True)
            if tail.pcm:
                self._queue_ulaw(ulaw_encode(tail))
        self._tx = None

    # --- CallLeg -----------------------------------------------------------------------------------------
    async def frames(self) -> AsyncIterator[AudioFrame]:
        while (frame := await self._frames.get()) is not None:
            yield frame

    async def send(self, frame: AudioFrame) -> None:
        if self.ended.is_set() or not frame.pcm:
            return
        if self._tx is None or self._tx.in_rate != frame.sample_rate:
            self._flush_tx()
            self._tx = StreamResampler(frame.sample_rate, WIRE_RATE)
        out = self._tx.process(frame)
        if out.pcm:
            self._queue_ulaw(ulaw_encode(out))
        limit = int(MAX_BUFFERED_S * 1000 * BYTES_PER_MS)
        while self._outbox_bytes > limit and not self.ended.is_set():
            self._room.clear()
            await self._room.wait()

    def mark(self, name: str) -> None:
        if self.ended.is_set():
            return
        self._flush_tx()
        if self._partial:  # whole 20 ms messages only: pad the sentence's tail with silence
            self._queue_ulaw(ULAW_SILENCE * (FRAME_BYTES - len(self._partial)))
        self._outbox.append((False, name))
        self._marks_out.add(name)
        self._wake.set()

    def clear(self) -> float:
        dropped = len(self._partial) + self._outbox_bytes + self._unacked_bytes
        self._partial.clear()
        self._outbox.clear()
        self._outbox_bytes = 0
        self._tx = None
        self._unacked.clear()
        self._unacked_bytes = 0
        self._epoch += 1
        self._marks_dropped |= self._marks_out
        self._marks_out.clear()
        self._room.set()
        if not self.ended.is_set():
            self.clears += 1
            self._control.append(protocol.clear(self.stream_sid))
            self._wake.set()
        return dropped / BYTES_PER_MS

    def send_dtmf(self, digits: str) -> None:
        if not self.ended.is_set():
            self._flush_tx()
            self._queue_ulaw(ulaw_encode(dtmf_tones(digits)))

    async def transfer(self, target: str) -> TransferResult:
        if self.ended.is_set():
            result = TransferResult(target, ok=False, detail="call already ended")
        elif self._transfer is None:
            result = TransferResult(target, ok=False, detail="no Twilio REST access for this call")
        else:
            result = await self._transfer(target)
        self._events.put_nowait(result)
        if result.ok:  # Twilio now runs the <Dial>; our stream is done
            await self.hangup(HangupReason.TRANSFERRED)
        return result

    async def hangup(self, reason: HangupReason = HangupReason.AGENT_HANGUP) -> None:
        """Ending the stream ends the call: nothing follows the <Connect> in our TwiML."""
        if self.ended.is_set():
            return
        if self.hangup_reason is None:
            self.hangup_reason = reason
        self._end()

    def events(self) -> AsyncIterator[LegEvent]:
        return until_closed(self._events)
