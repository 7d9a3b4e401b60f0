"""What an inbound call looks like to the box: the INVITE's facts, the decision types, and the gates
(trunk trust, source filter, capacity) checked synchronously on the PJSIP thread before a call rings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sip.security import SourceFilter
from sip.trunks import TrunkTable

if TYPE_CHECKING:
    from sip.leg import SipCallLeg


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """An INVITE that passed the security and capacity gates, to be routed."""

    sip_call_id: str
    source_ip: str
    from_uri: str
    to_uri: str
    request_uri: str
    dialled: str  # DID: Request-URI user, else To user
    caller: str  # From user
    user_agent: str
    trunk: str  # '' when trusted by [sip] trusted_cidrs


@dataclass(frozen=True, slots=True)
class Accept:
    """Answer the call and run `handler(leg)`; `record` writes a stereo WAV under the recordings dir."""

    handler: Callable[[SipCallLeg], Awaitable[Any]]
    record: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    status: int = 404
    reason: str = ""


IncomingHandler = Callable[[IncomingCall], Awaitable[Accept | Reject]]


@dataclass
class Gates:
    """Synchronous admission rules checked on the PJSIP thread."""

    trunks: TrunkTable = field(default_factory=TrunkTable)
    source_filter: SourceFilter = field(default_factory=SourceFilter)
    max_calls: int = 8
    reject_status: int = 503
