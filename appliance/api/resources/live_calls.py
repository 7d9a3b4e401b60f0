"""Calls in progress on the running appliance (`app.state.appliance`, set by `vocaliq serve`).

A live call belongs to the organization of the agent that runs it (`Appliance.org_of`); a call of another
organization, or one that already ended, is reported as not found. Placing a call dials through the
appliance's SIP user agent, waits for the answer, then runs the agent on the call in a background task owned
by the API (cancelled at shutdown, so the session hangs up and finishes its call row).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

from pydantic import BaseModel, Field

from appliance.agents import AgentConfig
from appliance.errors import NotFound, SipError
from appliance.logs import call_context

log = logging.getLogger(__name__)
TARGET = r"^(sips?:[^\s<>\"]{1,250}|\+?[0-9*#]{1,32})$"


class LiveCall(BaseModel):
    call_id: str
    direction: str
    caller: str
    callee: str
    answered: bool


class OutboundCall(BaseModel):
    to: str = Field(pattern=TARGET, description="a number (dialled through `trunk_id`) or a sip: URI")
    agent_id: int
    trunk_id: int | None = None
    answer_within_s: float = Field(30.0, ge=5, le=120)


class PlacedCall(BaseModel):
    call_id: str
    to: str
    agent_id: int


class TransferRequest(BaseModel):
    target: str = Field(pattern=TARGET, description="a number or sip: URI the caller is sent to (blind transfer)")


class TransferOutcome(BaseModel):
    target: str
    ok: bool
    status: int
    detail: str


class NoLiveAppliance(SipError):
    """The API runs without SIP (standalone, or `[sip] enabled = false`): there are no live calls to control."""

    def __init__(self) -> None:
        super().__init__("no live appliance with SIP in this process (run `vocaliq serve`)", 503)


def _box_with_sip(box: Any) -> Any:
    if box is None or getattr(box, "ua", None) is None:
        raise NoLiveAppliance()
    return box


def _owned(box: Any, org_id: int, call_id: str) -> None:
    org_of = getattr(box, "org_of", None)
    if org_of is None or org_of(call_id) != org_id:
        raise NotFound(f"no live call {call_id}")


def live_calls(box: Any, org_id: int) -> list[LiveCall]:
    """The organization's calls in progress; none when the API runs without a live appliance."""
    if box is None or getattr(box, "org_of", None) is None:
        return []
    return [LiveCall(call_id=c["call_id"], direction=c["direction"], caller=c["caller"], callee=c["callee"],
                     answered=c["answered"])
            for c in box.live_calls() if box.org_of(c["call_id"]) == org_id]


async def hang_up(box: Any, org_id: int, call_id: str) -> None:
    box = _box_with_sip(box)
    _owned(box, org_id, call_id)
    leg = box.ua.legs.get(call_id)
    if leg is not None:
        leg.clear()  # stop the agent's audio first, as the session does before it hangs up itself
    await box.hangup(call_id)


async def transfer(box: Any, org_id: int, call_id: str, target: str) -> TransferOutcome:
    box = _box_with_sip(box)
    _owned(box, org_id, call_id)
    return TransferOutcome(**await box.transfer(call_id, target))


def dial_uri(to: str, trunk: Any | None) -> tuple[str, str]:
    """(SIP URI, account) for `to`: a registering trunk dials through its account, an IP trunk to its host."""
    if to.startswith(("sip:", "sips:")):
        return to, trunk.name if trunk is not None and trunk.kind == "register" and trunk.host else ""
    if trunk is None or not trunk.host:
        from appliance.api.resources import Invalid

        raise Invalid("a number needs a trunk_id of a trunk with a host (or dial a sip: URI)")
    host = f"{trunk.host}:{trunk.port}" if trunk.port and trunk.port != 5060 else trunk.host
    return f"sip:{to}@{host}", trunk.name if trunk.kind == "register" else ""


async def place_call(box: Any, tasks: set[asyncio.Task[None]], *, org_id: int, agent: AgentConfig, to: str,
                     trunk: Any | None, answer_within_s: float) -> str:
    """Dial, wait for the answer (SipError with the SIP status otherwise), run the agent; returns the call id."""
    box = _box_with_sip(box)
    uri, account = dial_uri(to, trunk)
    record = None
    if box.settings.recording.enabled and agent.recording_enabled:
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        record = box.settings.paths.recordings / day / f"out-{uuid.uuid4().hex}.wav"
        record.parent.mkdir(parents=True, exist_ok=True)
    leg = await box.ua.call(uri, trunk=account, answer_within=answer_within_s, record_path=record)
    orgs = getattr(box, "call_orgs", None)
    if orgs is not None:
        orgs[leg.call_id] = org_id
    task = asyncio.create_task(_run(box, leg, agent))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return str(leg.call_id)


async def _run(box: Any, leg: Any, agent: AgentConfig) -> None:
    from appliance.conversation import run_call
    from appliance.serve import reference_recording

    for observer in getattr(box, "call_observers", ()):
        observer(leg, agent)
    try:
        with call_context(leg.call_id):
            outcome = await run_call(leg, services=box.local.services, agent=agent, transport="sip")
            log.info("outbound call ended", extra={"call_id": leg.call_id, "reason": str(outcome.reason)})
    finally:
        orgs = getattr(box, "call_orgs", None)
        if orgs is not None:
            orgs.pop(leg.call_id, None)
        if leg.recording is not None:  # a DB write: never on the loop
            await asyncio.to_thread(reference_recording, box.local.services.db, leg.call_id, leg.recording.path)
