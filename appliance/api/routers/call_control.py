"""Control of live calls: place an outbound call with an agent, hang up or blind-transfer a call in progress.
Needs `calls:control` and a running `vocaliq serve` (503 otherwise); each action is audited.

These handlers run on the event loop that also carries the calls, so they hold no DB transaction across an
await: each read and the audit entry are short transactions of their own in a worker thread. (A request
transaction left open while the loop waits on a SQLite write would stall both for the busy timeout.)"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request

from appliance.agents import AgentConfig
from appliance.api.deps import Principal, audit, require
from appliance.api.resources import live_calls as svc
from appliance.api.resources.agents import engine_config
from appliance.api.resources.telephony import get_trunk
from appliance.errors import SipError
from appliance.store.models import Trunk

router = APIRouter(prefix="/calls", tags=["calls"])
Controller = Annotated[Principal, Depends(require("calls:control"))]


def setup(app: FastAPI) -> None:
    app.state.outbound_calls = set()

    async def hang_up_outbound(app: FastAPI) -> None:
        tasks: set[asyncio.Task[None]] = app.state.outbound_calls
        for task in list(tasks):
            task.cancel()
        for task in list(tasks):
            with contextlib.suppress(BaseException):
                await task

    app.state.on_shutdown.append(hang_up_outbound)


async def _audit(request: Request, principal: Principal, action: str, target: str,
                 detail: dict[str, object] | None = None) -> None:
    def write() -> None:
        with request.app.state.db.session() as session:
            audit(session, principal, action, target, detail)

    await asyncio.to_thread(write)


def _http(exc: SipError) -> HTTPException:
    """A SIP failure as HTTP: no appliance 503, no answer 504, anything else the far end refused 502."""
    if isinstance(exc, svc.NoLiveAppliance):
        return HTTPException(503, str(exc))
    return HTTPException(504 if exc.status == 408 else 502, f"{exc} (SIP {exc.status})")


@router.post("/outbound", status_code=201, responses={400: {}, 404: {}, 502: {}, 503: {}, 504: {}})
async def place_call(body: svc.OutboundCall, request: Request, principal: Controller) -> svc.PlacedCall:
    """Dial `to` and, once answered, let the agent run the call. Returns when the callee answers."""
    def read() -> tuple[AgentConfig, Trunk | None]:
        with request.app.state.db.session() as session:
            trunk = get_trunk(session, principal.org_id, body.trunk_id) if body.trunk_id is not None else None
            return engine_config(session, principal.org_id, body.agent_id), trunk

    agent, trunk = await asyncio.to_thread(read)
    try:
        call_id = await svc.place_call(request.app.state.appliance, request.app.state.outbound_calls,
                                       org_id=principal.org_id, agent=agent, to=body.to, trunk=trunk,
                                       answer_within_s=body.answer_within_s)
    except SipError as exc:
        raise _http(exc) from None
    await _audit(request, principal, "call.outbound", f"call:{call_id}",
                 {"agent_id": body.agent_id, "trunk_id": body.trunk_id})
    return svc.PlacedCall(call_id=call_id, to=body.to, agent_id=body.agent_id)


@router.post("/{call_id}/hangup", status_code=204, responses={404: {}, 503: {}})
async def hang_up(call_id: str, request: Request, principal: Controller) -> None:
    try:
        await svc.hang_up(request.app.state.appliance, principal.org_id, call_id)
    except SipError as exc:
        raise _http(exc) from None
    await _audit(request, principal, "call.hangup", f"call:{call_id}")


@router.post("/{call_id}/transfer", responses={404: {}, 503: {}})
async def transfer(call_id: str, body: svc.TransferRequest, request: Request,
                   principal: Controller) -> svc.TransferOutcome:
    """Blind transfer (REFER); `ok` false with the SIP status when the far end refuses (the call goes on)."""
    try:
        outcome = await svc.transfer(request.app.state.appliance, principal.org_id, call_id, body.target)
    except SipError as exc:
        raise _http(exc) from None
    await _audit(request, principal, "call.transfer", f"call:{call_id}", {"ok": outcome.ok, "status": outcome.status})
    return outcome
