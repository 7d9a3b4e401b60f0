"""Twilio's endpoints: webhooks Twilio calls (/twilio/..., outside /api/v1, no JWT: each request is checked
against the organization's auth token with X-Twilio-Signature, 403 otherwise; 404 for an organization without
Twilio settings) and the organization's management API (/api/v1/twilio/..., see manage.py).

- POST /twilio/voice: answers TwiML `<Connect><Stream>` with a per-call, single-use WebSocket URL
- WS   /twilio/stream/{token}: the media stream, run as a call (stream.py)
- POST /twilio/status: status callbacks update the call row (status.py)

`setup(app)` keeps the Twilio state on `app.state.twilio` and hooks the message SMS onto the box's event bus.
Call services come from the running appliance (`app.state.appliance.local`), else `app.state.twilio.local`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from starlette.websockets import WebSocket

from appliance.agents import AgentConfig
from appliance.errors import NotFound
from appliance.logs import mask_number
from appliance.telephony import TransferResult
from appliance.twilio import manage, protocol, twiml
from appliance.twilio.leg import TwilioCallLeg
from appliance.twilio.rest import TwilioError, TwilioRest
from appliance.twilio.settings import TwilioAccount, find_account, load_account
from appliance.twilio.signature import SIGNATURE_HEADER, is_valid, signed_url
from appliance.twilio.sms import MessageSms
from appliance.twilio.status import apply_status
from appliance.twilio.stream import close, serve_stream
from appliance.twilio.tokens import StreamGrant, StreamTokens

log = logging.getLogger(__name__)
PREFIX = ""  # for the API's router registry: these paths are absolute

webhooks = APIRouter(prefix="/twilio", tags=["twilio webhooks"])
router = APIRouter()


@dataclass(slots=True)
class TwilioState:
    """What the Twilio endpoints share: stream tokens, live streams, the message SMS hook."""

    tokens: StreamTokens = field(default_factory=StreamTokens)
    live: dict[str, TwilioCallLeg] = field(default_factory=dict)
    local: Any = None  # LocalServices when no appliance runs (tests, an API-only box)
    sms: MessageSms | None = None
    detach: list[Callable[[], None]] = field(default_factory=list)

    def register(self, leg: TwilioCallLeg) -> Callable[[], None]:
        self.live[leg.call_id] = leg

        def unregister() -> None:
            self.live.pop(leg.call_id, None)

        return unregister


def state_of(app: Any) -> TwilioState:
    state: TwilioState = app.state.twilio
    return state


def local_services(app: Any) -> Any:
    appliance = getattr(app.state, "appliance", None)
    return getattr(appliance, "local", None) or state_of(app).local


def setup(app: FastAPI) -> None:
    app.state.twilio = TwilioState()

    async def start(app: FastAPI) -> None:
        state, local = state_of(app), local_services(app)
        if local is not None and local.services.bus is not None and app.state.db is not None:
            state.sms = MessageSms(app.state.db, app.state.settings.paths)
            state.detach.append(state.sms.attach(local.services.bus))

    async def stop(app: FastAPI) -> None:
        state = state_of(app)
        for detach in state.detach:
            detach()
        state.detach.clear()
        if state.sms is not None:
            await state.sms.drain()

    app.state.on_startup.append(start)
    app.state.on_shutdown.append(stop)


def _small_int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


async def _verified(request: Request) -> tuple[TwilioAccount, dict[str, str]]:
    """The organization a webhook is for, once its signature checks out (404 / 403 otherwise)."""
    form = await request.form()
    if any(not isinstance(v, str) for _, v in form.multi_items()):
        raise HTTPException(400, "Twilio webhooks carry form fields, not files")
    params = {k: str(v) for k, v in form.multi_items()}
    org = request.query_params.get("org", "")
    outbound = params.get("Direction", "").startswith("outbound")
    numbers = [params.get("From", ""), params.get("To", "")] if outbound else [params.get("To", "")]

    def lookup() -> TwilioAccount | None:
        with request.app.state.db.session() as s:
            return find_account(s, request.app.state.settings.paths, account_sid=params.get("AccountSid", ""),
                                numbers=numbers, org_id=_small_int(org))

    account = await asyncio.to_thread(lookup)
    if account is None:
        raise HTTPException(404, "no Twilio settings for this account and number")
    url = signed_url(str(request.url), account.public_url)
    if not is_valid(account.auth_token, url, form, request.headers.get(SIGNATURE_HEADER)):
        log.warning("twilio webhook with a bad signature", extra={"path": request.url.path,
                                                                  "organization_id": account.organization_id})
        raise HTTPException(403, "invalid X-Twilio-Signature")
    return account, params


def _agent_id(request: Request, account: TwilioAccount, params: dict[str, str]) -> int | None:
    agent = _small_int(request.query_params.get("agent", ""))
    if agent is not None:
        return agent
    outbound = params.get("Direction", "").startswith("outbound")
    return account.agent_for(params.get("From" if outbound else "To", ""))


def _stream_url(request: Request, account: TwilioAccount, token: str) -> str:
    url = signed_url(str(request.url_for("twilio_stream", token=token)), account.public_url)
    return "wss" + url[len("https"):] if url.startswith("https") else "ws" + url[len("http"):]


@webhooks.post("/voice", responses={403: {}, 404: {}})
async def voice(request: Request) -> Response:
    """A call to (or placed from) one of the organization's Twilio numbers: connect it to a media stream."""
    account, params = await _verified(request)
    agent_id = _agent_id(request, account, params)
    state = state_of(request.app)
    if agent_id is None:
        raise HTTPException(404, "no agent answers this number")
    if not params.get("CallSid"):
        raise HTTPException(400, "no CallSid")
    if len(state.live) >= request.app.state.settings.admission.max_concurrent_calls:
        log.warning("twilio call refused: capacity reached", extra={"call_id": params.get("CallSid", "")})
        return Response(twiml.reject("busy"), media_type=twiml.CONTENT_TYPE)
    outbound = params.get("Direction", "").startswith("outbound")
    grant = StreamGrant(account.organization_id, agent_id, params.get("CallSid", ""), caller=params.get("From", ""),
                        callee=params.get("To", ""), direction="outbound" if outbound else "inbound")
    token = state.tokens.issue(grant)
    log.info("twilio call from %s", mask_number(grant.caller), extra={"call_id": grant.call_sid})
    return Response(twiml.connect_stream(_stream_url(request, account, token)), media_type=twiml.CONTENT_TYPE)


@webhooks.post("/status", status_code=204, responses={403: {}, 404: {}})
async def status(request: Request) -> Response:
    """Call progress from Twilio (initiated, ringing, answered, completed, busy, no-answer, failed, canceled)."""
    account, params = await _verified(request)
    agent_id = _agent_id(request, account, params)

    def write() -> str:
        with request.app.state.db.session() as s:
            return apply_status(s, account.organization_id, params, agent_id=agent_id)

    result = await asyncio.to_thread(write)
    log.info("twilio status %s: %s", params.get("CallStatus", ""), result, extra={"call_id": params.get("CallSid")})
    return Response(status_code=204)


def _transfer(account: TwilioAccount, call_sid: str) -> Callable[[str], Any]:
    async def transfer(target: str) -> TransferResult:
        try:
            await TwilioRest(account).update_call(call_sid, twiml=twiml.dial(target))
        except TwilioError as exc:
            return TransferResult(target, ok=False, status=exc.status or 502, detail=str(exc))
        return TransferResult(target, ok=True, status=200)

    return transfer


@webhooks.websocket("/stream/{token}", name="twilio_stream")
async def stream(ws: WebSocket, token: str) -> None:
    """The media stream of one call; its token is single-use and names the call, org and agent."""
    await ws.accept()
    state = state_of(ws.app)
    grant = state.tokens.redeem(token)
    if isinstance(grant, str):
        log.warning("media stream with a %s token", grant)
        await close(ws, protocol.POLICY, f"{grant} stream token")
        return
    if grant.call_sid in state.live:  # Twilio retried the webhook: one call, one stream
        await close(ws, protocol.POLICY, "the call already has a media stream")
        return
    local = local_services(ws.app)
    if local is None:
        await close(ws, protocol.SERVER_ERROR, "no call services on this box")
        return

    def load() -> tuple[AgentConfig, TwilioAccount | None]:
        from appliance.api.resources.agents import engine_config

        with ws.app.state.db.session() as s:
            agent = engine_config(s, grant.organization_id, grant.agent_id)
            return agent, load_account(s, ws.app.state.settings.paths, grant.organization_id)

    try:
        agent, account = await asyncio.to_thread(load)
    except NotFound:
        await close(ws, protocol.SERVER_ERROR, "the number's agent no longer exists")
        return
    transfer = _transfer(account, grant.call_sid) if account is not None else None
    await serve_stream(ws, grant, agent=agent, services=local.services, transfer=transfer, on_leg=state.register)


router.include_router(webhooks)
router.include_router(manage.router, prefix="/api/v1/twilio")
