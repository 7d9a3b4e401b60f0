"""One media-stream WebSocket from Twilio's `start` to the close: a `TwilioCallLeg` with the agent on it.

Three tasks share the stream: the reader (Twilio's messages into the leg), the leg's pump (our messages out;
the only writer of the socket) and the call (`run_call`). Whoever ends first decides the close: Twilio's
`stop` or a dropped socket hang the caller up; a malformed message closes the stream with its code and
reason (the call ends with reason `error`); the agent hanging up closes it normally. The call task is always
awaited, so its row is finished whatever happened on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from appliance.agents import AgentConfig
from appliance.conversation import CallOutcome, CallServices, run_call
from appliance.logs import call_context
from appliance.telephony import Direction, HangupReason
from appliance.twilio import protocol
from appliance.twilio.leg import Transfer, TwilioCallLeg
from appliance.twilio.protocol import ProtocolError
from appliance.twilio.tokens import StreamGrant

log = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0  # Twilio sends connected and start at once
FINISH_TIMEOUT_S = 30.0  # the session's own wind-down (final rows) after the stream is gone


@dataclass(slots=True)
class StreamOutcome:
    """How a stream ended: the close we sent (code, reason) and the call's outcome (None: never started)."""

    code: int
    reason: str
    call: CallOutcome | None = None
    leg: TwilioCallLeg | None = None


async def close(ws: WebSocket, code: int, reason: str) -> None:
    """Close with a code and reason unless the peer already went away."""
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await ws.close(code, reason[:120])


async def _receive(ws: WebSocket) -> protocol.Message | None:
    """The next message from Twilio, None when the socket closed; ProtocolError for a bad one."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    return protocol.parse(message.get("text") if message.get("text") is not None else message.get("bytes"))


async def _await_start(ws: WebSocket) -> protocol.Start | None:
    while True:
        msg = await _receive(ws)
        if msg is None or isinstance(msg, protocol.Start):
            return msg
        if isinstance(msg, protocol.Media | protocol.Dtmf | protocol.Mark | protocol.Stop):
            raise ProtocolError(protocol.POLICY, f"{type(msg).__name__.lower()} before start")


async def _read(ws: WebSocket, leg: TwilioCallLeg) -> tuple[int, str] | None:
    """Feed Twilio's messages to the leg until the stream ends; the close to send for a bad message."""
    try:
        while True:
            msg = await _receive(ws)
            if msg is None:
                leg.remote_ended(HangupReason.CALLER_HANGUP, "media stream closed without stop")
                return None
            if isinstance(msg, protocol.Media):
                leg.on_media(msg.payload)
            elif isinstance(msg, protocol.Mark):
                leg.on_mark(msg.name)
            elif isinstance(msg, protocol.Dtmf):
                leg.on_dtmf(msg.digit)
            elif isinstance(msg, protocol.Stop):
                leg.remote_ended(HangupReason.CALLER_HANGUP, "stop")
                return protocol.NORMAL, "stream stopped"
            elif isinstance(msg, protocol.Start):
                raise ProtocolError(protocol.POLICY, "second start on one stream")
    except ProtocolError as exc:
        log.warning("media stream refused: %s", exc.reason, extra={"call_id": leg.call_id, "code": exc.code})
        leg.remote_ended(HangupReason.ERROR, f"media stream: {exc.reason}")
        return exc.code, exc.reason
    except WebSocketDisconnect:
        leg.remote_ended(HangupReason.CALLER_HANGUP, "media stream closed without stop")
        return None


async def serve_stream(ws: WebSocket, grant: StreamGrant, *, agent: AgentConfig, services: CallServices,
                       transfer: Transfer | None = None,
                       on_leg: Callable[[TwilioCallLeg], Callable[[], None]] | None = None,
                       call: Callable[..., Coroutine[Any, Any, CallOutcome]] = run_call) -> StreamOutcome:
    """Run the call on an accepted WebSocket whose token gave `grant`; returns once it is closed and the call
    finished. `on_leg(leg)` registers the live call and returns its unregister."""
    try:
        start = await asyncio.wait_for(_await_start(ws), START_TIMEOUT_S)
    except TimeoutError:
        start, failure = None, (protocol.POLICY, f"no start message within {START_TIMEOUT_S:.0f} s")
    except ProtocolError as exc:
        start, failure = None, (exc.code, exc.reason)
    except WebSocketDisconnect:
        start, failure = None, (protocol.NORMAL, "closed before start")
    else:
        failure = (protocol.NORMAL, "closed before start")
    if start is not None and start.call_sid != grant.call_sid:
        start, failure = None, (protocol.POLICY, "stream token is for another call")
    if start is None:
        await close(ws, *failure)
        return StreamOutcome(*failure)

    leg = TwilioCallLeg(call_id=grant.call_sid, stream_sid=start.stream_sid, caller=grant.caller,
                        callee=grant.callee, transfer=transfer,
                        direction=Direction.OUTBOUND if grant.direction == "outbound" else Direction.INBOUND)
    unregister = on_leg(leg) if on_leg is not None else None

    async def send(text: str) -> None:
        try:
            await ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            leg.remote_ended(HangupReason.CALLER_HANGUP, "media stream closed")

    with call_context(leg.call_id):
        pump = asyncio.create_task(leg.pump(send), name=f"twilio-pump-{leg.call_id}")
        reader = asyncio.create_task(_read(ws, leg), name=f"twilio-reader-{leg.call_id}")
        session: asyncio.Task[CallOutcome] = asyncio.create_task(
            call(leg, services=services, agent=agent, transport="twilio"), name=f"twilio-call-{leg.call_id}")
        try:
            await asyncio.wait({reader, session}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                closing = reader.result() or (protocol.NORMAL, "stream closed")
            else:  # the agent ended the call (hangup, transfer) or the session failed
                reader.cancel()
                await leg.hangup(leg.hangup_reason or HangupReason.AGENT_HANGUP)
                closing = protocol.NORMAL, f"call ended: {leg.hangup_reason}"
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(pump, 5.0)  # returns once the leg ended and the clear (if any) is out
            await close(ws, *closing)
            try:
                outcome: CallOutcome | None = await asyncio.wait_for(asyncio.shield(session), FINISH_TIMEOUT_S)
            except TimeoutError:
                session.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await session
                outcome = None
            except Exception:  # run_call never raises for caller behaviour; log what did
                log.exception("twilio call failed")
                outcome = None
        finally:
            for task in (pump, reader, session):
                task.cancel()
            for task in (pump, reader, session):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if unregister is not None:
                unregister()
    log.info("twilio stream closed", extra={"call_id": leg.call_id, "code": closing[0], "reason": closing[1],
                                             "played_ms": round(leg.played_ms), "clears": leg.clears})
    return StreamOutcome(closing[0], closing[1], outcome, leg)
