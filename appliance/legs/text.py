"""TextLeg: a call without audio, for `vocaliq chat` and tests. Caller lines in, agent sentences out.

Lines of the form `#5` or `dtmf 5` are DTMF digits (kept in order with the typed lines); `/hangup` (or the end of
the lines) ends the call once the agent has answered everything before it. Marks are reported at
once (text is "played" the moment it is shown).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable

from appliance.audio import AudioFrame
from appliance.telephony import (
    Direction,
    HangupReason,
    LegDtmf,
    LegEvent,
    PlayoutMark,
    TransferResult,
    until_closed,
)

_DTMF = re.compile(r"^\s*(?:#|dtmf\s+)([0-9*#A-D])\s*$", re.IGNORECASE)


class TextLeg:
    """A CallLeg (plus the TextChannel face) over caller lines and an output callback."""

    def __init__(self, lines: AsyncIterable[str], *, on_text: Callable[[str], None], call_id: str = "chat",
                 caller: str = "", callee: str = "") -> None:
        self.call_id = call_id
        self.direction = Direction.INBOUND
        self.caller = caller
        self.callee = callee
        self._lines = lines
        self._on_text = on_text
        self._events: asyncio.Queue[LegEvent | None] = asyncio.Queue()
        self.hangup_reason: HangupReason | None = None
        self.transferred_to = ""
        self.sent_dtmf = ""

    # TextChannel
    def send_text(self, text: str) -> None:
        self._on_text(text)

    async def text_input(self) -> AsyncIterator[str | LegDtmf]:
        async for raw in self._lines:
            line = raw.strip()
            if self.hangup_reason is not None:
                return
            if not line:
                yield ""
                continue
            if line == "/hangup":  # ends the input; the session hangs up after the replies before it
                return
            m = _DTMF.match(line)
            yield LegDtmf(m.group(1)) if m else line  # in line order: typed digits are turns too

    # CallLeg
    async def frames(self) -> AsyncIterator[AudioFrame]:
        return
        yield  # pragma: no cover

    async def send(self, frame: AudioFrame) -> None:
        return None

    def mark(self, name: str) -> None:
        self._events.put_nowait(PlayoutMark(name))

    def clear(self) -> float:
        return 0.0

    def send_dtmf(self, digits: str) -> None:
        self.sent_dtmf += digits

    async def transfer(self, target: str) -> TransferResult:
        self.transferred_to = target
        result = TransferResult(target, ok=True, status=200)
        self._events.put_nowait(result)
        return result

    async def hangup(self, reason: HangupReason = HangupReason.AGENT_HANGUP) -> None:
        if self.hangup_reason is None:
            self.hangup_reason = reason
            self._events.put_nowait(None)

    def events(self) -> AsyncIterator[LegEvent]:
        return until_closed(self._events)
