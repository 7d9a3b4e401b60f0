"""The conversation engine: one `CallSession` per call, shared by SIP, Twilio, text chat and file mode.

Transports call `run_call(leg, services=..., agent=..., transport=...)` once the call is answered and await
it; it returns when the call has ended (caller hangup, agent hangup, transfer, timeout). The session owns
the leg from then on: it reads `leg.frames()` / `leg.events()`, sends agent audio with `leg.send()` and ends
the call with `leg.hangup()` or `leg.transfer()`. Every stage is published on `services.bus` as a CallEvent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.events import EventBus
from appliance.telephony import CallLeg, HangupReason

if TYPE_CHECKING:
    from appliance.agents import AgentConfig


@dataclass(slots=True)
class CallServices:
    """What a call needs from the box, injected by the transport (or the CLI).

    `models` is a `models.registry.ModelSet` (new_vad, stt, llm, tts, embedder); `db` an
    `appliance.store` Database or None (then nothing is persisted and tools keep state in memory);
    `knowledge` an `appliance.knowledge.Knowledge` or None.
    """

    models: Any
    bus: EventBus = field(default_factory=EventBus)
    db: Any = None
    knowledge: Any = None
    organization_id: int | None = None


@dataclass(slots=True)
class CallOutcome:
    """How a call ended, for the transport's own bookkeeping (the DB rows are written by the recorder)."""

    call_id: str
    reason: HangupReason
    turns: int = 0
    duration_s: float = 0.0
    transferred_to: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)


async def run_call(leg: CallLeg, *, services: CallServices, agent: AgentConfig, transport: str) -> CallOutcome:
    """Run one whole conversation on an answered `leg` and return how it ended.

    `transport` is a short tag stored on the call row ("sip", "twilio", "text", "file"). Cancel the task to
    shut a call down (it hangs up with SHUTDOWN). Never raises for caller behaviour; model failures end the
    call politely with reason ERROR.
    """
    from appliance.conversation.session import CallSession

    session = CallSession(leg, services=services, agent=agent, transport=transport)
    return await session.run()


__all__ = ["CallOutcome", "CallServices", "run_call"]
