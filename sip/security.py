"""Who may call in: trunk IP trust (CIDRs), a per-source flood limit with a temporary ban, scanner user agents
and oversize messages. Pure logic, checked on the PJSIP thread for every INVITE before it rings.

pjsua2 offers no hook before the INVITE reaches `onIncomingCall` (a PJSIP module is not exposed), so every
rule here answers the INVITE with a status (403, 413) instead of dropping packets silently; PJSIP itself drops
datagrams larger than its packet limit and answers 481 for requests outside a dialog it knows.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from appliance.config import SipConfig

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Verdict:
    """`status` 0 means let it in; otherwise the SIP status to answer with and why."""

    status: int = 0
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 0


ALLOW = Verdict()


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip()]


@dataclass
class SourceFilter:
    """Per-INVITE checks, in order: ban list, scanner UA, size, flood, IP trust."""

    flood_limit_per_10s: int = 40
    ban_seconds: float = 300.0
    max_message_bytes: int = 8192
    blocked_user_agents: tuple[str, ...] = ()
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _banned_until: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, sip: SipConfig) -> SourceFilter:
        return cls(flood_limit_per_10s=sip.flood_limit_per_10s, ban_seconds=float(sip.flood_ban_seconds),
                   max_message_bytes=sip.max_message_bytes, blocked_user_agents=tuple(sip.blocked_user_agents))

    def check(self, source_ip: str, *, user_agent: str, size: int, trusted: bool, registered: bool) -> Verdict:
        """`trusted`: the source matches an IP-trust trunk; `registered`: the INVITE came via a registration."""
        now = self.clock()
        until = self._banned_until.get(source_ip, 0.0)
        if until > now:
            return Verdict(403, "source temporarily banned (flood)")
        ua = user_agent.lower()
        if any(bad.lower() in ua for bad in self.blocked_user_agents if bad):
            return Verdict(403, "scanner user agent")
        if size > self.max_message_bytes:
            return Verdict(413, "message too large")
        hits = self._seen.setdefault(source_ip, deque())
        hits.append(now)
        while hits and hits[0] < now - 10.0:
            hits.popleft()
        if len(hits) > self.flood_limit_per_10s:
            self._banned_until[source_ip] = now + self.ban_seconds
            hits.clear()
            return Verdict(403, "flood limit exceeded; source banned")
        if not (trusted or registered):
            return Verdict(403, "source not allowed by any trunk")
        return ALLOW

    def banned(self, source_ip: str) -> bool:
        return self._banned_until.get(source_ip, 0.0) > self.clock()


def ip_allowed(source_ip: str, networks: Iterable[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)
