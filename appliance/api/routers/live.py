"""Live call events over a WebSocket: every event of the organization's calls in progress, as JSON.

`GET /api/v1/calls/live/events?token=<access token or API key>` (browsers cannot set headers on a WebSocket;
an `Authorization` header works too). Needs `calls:read`. Closes with 4401 (no valid credential), 4403 (no
permission) or 1013 (the API runs without a live appliance).
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from appliance import events as ev
from appliance.api.deps import Principal, authenticate

router = APIRouter(prefix="/calls", tags=["calls"])


def _principal(ws: WebSocket) -> Principal:
    token = ws.query_params.get("token", "")
    scheme, _, header = ws.headers.get("authorization", "").partition(" ")
    credential = token or (header if scheme.lower() == "bearer" else "") or ws.headers.get("x-api-key", "")
    if not credential:
        raise HTTPException(401, "authentication required")
    with ws.app.state.db.session() as session:
        return authenticate(ws, session, credential)


@router.websocket("/live/events")
async def live_events(ws: WebSocket) -> None:
    await ws.accept()  # then close with a code and reason a client can read (a refused handshake has none)
    try:
        principal = await asyncio.to_thread(_principal, ws)
    except HTTPException as exc:
        await ws.close(code=4401, reason=str(exc.detail)[:120])
        return
    if not principal.can("calls:read"):
        await ws.close(code=4403, reason="this needs the 'calls:read' permission")
        return
    box = ws.app.state.appliance
    if box is None or getattr(box.local, "services", None) is None:
        await ws.close(code=1013, reason="no live appliance in this process")
        return
    with box.local.services.bus.queue() as events:
        receiver = asyncio.create_task(ws.receive_text())  # ends when the client goes away
        try:
            while True:
                getter = asyncio.create_task(events.get())
                done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    getter.cancel()
                    if receiver.exception() is not None:
                        return  # disconnected
                    receiver = asyncio.create_task(ws.receive_text())  # a client's ping text; ignored
                    continue
                event: ev.CallEvent = getter.result()
                if box.org_of(event.call_id) != principal.org_id:
                    continue  # another organization's call, or one not (yet) routed
                await ws.send_json(event.to_dict())
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver
