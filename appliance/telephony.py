"""The CallLeg protocol: what a transport (SIP, Twilio, text chat, a WAV file) offers a CallSession.

A leg hands the session caller audio as 16 kHz mono `AudioFrame`s and accepts agent audio at any rate
(it converts to its wire format itself). `clear()` drops queued agent audio at once (barge-in); `mark()`
asks for a `PlayoutMark` event once everything queued before it has actually been played to the caller.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from appliance.audio import AudioFrame


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class HangupReason(enum.StrEnum):
    """Why a call ended; stored on the call row as `end_reason`."""

    CALLER_HANGUP = "caller_hangup"
    AGENT_HANGUP = "agent_hangup"
    TRANSFERRED = "transferred"
    TIMEOUT = "timeout"
    MAX_DURATION = "max_duration"
    NO_INPUT = "no_input"
    ERROR = "error"
    REJECTED = "rejected"
    SHUTDOWN = "shutdown"
    MACHINE_DETECTED = "machine_detected"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LegDtmf:
    """A DTMF digit from the caller (RFC 4733, SIP INFO, Twilio dtmf event, or typed)."""

    digit: str


@dataclass(frozen=True, slots=True)
class LegHangup:
    """The remote side ended the call (or the transport lost it)."""

    reason: HangupReason = HangupReason.CALLER_HANGUP
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PlayoutMark:
    """All agent audio queued before `mark()` with this name has been played to the caller."""

    name: str


@dataclass(frozen=True, slots=True)
class TransferResult:
    """Outcome of `transfer()`: `ok` once the far side accepted (e.g. REFER NOTIFY 200)."""

    target: str
    ok: bool
    status: int = 0
    detail: str = ""


LegEvent = LegDtmf | LegHangup | PlayoutMark | TransferResult


@runtime_checkable
class CallLeg(Protocol):
    """One caller's side of a call, transport-neutral (see module docstring)."""

    call_id: str
    direction: Direction
    caller: str
    callee: str

    def frames(self) -> AsyncIterator[AudioFrame]:
        """Caller audio, 16 kHz mono, in real time; ends when the call ends."""
        ...

    async def send(self, frame: AudioFrame) -> None:
        """Queue agent audio for playout (any rate; the leg converts). May wait if its buffer is full."""
        ...

    def mark(self, name: str) -> None:
        """Request a `PlayoutMark(name)` event once all audio queued so far has been played."""
        ...

    def clear(self) -> float:
        """Drop all queued, unplayed agent audio now; returns how many ms of audio were dropped."""
        ...

    def send_dtmf(self, digits: str) -> None:
        """Send DTMF digits to the remote side."""
        ...

    async def transfer(self, target: str) -> TransferResult:
        """Blind-transfer the caller to `target`; the result also arrives as an event."""
        ...

    async def hangup(self, reason: HangupReason = HangupReason.AGENT_HANGUP) -> None:
        """End the call from our side; idempotent."""
        ...

    def events(self) -> AsyncIterator[LegEvent]:
        """DTMF, remote hangup, playout marks and transfer results, in order."""
        ...


T = TypeVar("T")


async def until_closed(queue: asyncio.Queue[T | None]) -> AsyncIterator[T]:
    """Yield a leg's queued items until the `None` that closes it (how legs end frames() and events())."""
    while (item := await queue.get()) is not None:
        yield item
