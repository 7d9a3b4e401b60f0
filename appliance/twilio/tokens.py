"""Media-stream tokens: the voice webhook hands Twilio a WebSocket URL that works once, for one call, soon.

The token is the only credential of the WebSocket (Twilio does not sign WebSocket upgrades the way it signs
webhooks), so it is 256 random bits, bound to the CallSid the signed webhook named, consumed on first use and
dropped after `ttl_s`. Tokens live in the memory of the box that answered the webhook: the stream URL names
that box, so no other box needs them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StreamGrant:
    """What a stream token stands for: the call the signed webhook described."""

    organization_id: int
    agent_id: int
    call_sid: str
    caller: str
    callee: str
    direction: str  # "inbound" | "outbound"
    expires_at: float = field(default=0.0, compare=False)


class StreamTokens:
    """Issue and redeem single-use stream tokens (see module docstring)."""

    def __init__(self, ttl_s: float = 60.0, max_open: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_open = max_open
        self._open: dict[str, StreamGrant] = {}
        self._used: dict[str, float] = {}  # token -> when it was redeemed (to tell "reused" from "unknown")

    def issue(self, grant: StreamGrant) -> str:
        self._sweep()
        if len(self._open) >= self.max_open:  # a flood of webhooks must not grow memory without bound
            oldest = min(self._open, key=lambda t: self._open[t].expires_at)
            del self._open[oldest]
        token = secrets.token_urlsafe(32)
        self._open[token] = StreamGrant(grant.organization_id, grant.agent_id, grant.call_sid, grant.caller,
                                        grant.callee, grant.direction, time.monotonic() + self.ttl_s)
        return token

    def redeem(self, token: str) -> StreamGrant | str:
        """The grant (and the token is spent), or why not: "used", "expired" or "unknown"."""
        self._sweep()
        grant = self._open.pop(token, None)
        if grant is None:
            return "used" if token in self._used else "unknown"
        self._used[token] = time.monotonic()
        if grant.expires_at < time.monotonic():
            return "expired"
        return grant

    def _sweep(self) -> None:
        now = time.monotonic()
        for token in [t for t, g in self._open.items() if g.expires_at < now - self.ttl_s]:
            del self._open[token]  # kept one more ttl so a late redeem says "expired", not "unknown"
        for token in [t for t, at in self._used.items() if at < now - 3600]:
            del self._used[token]
