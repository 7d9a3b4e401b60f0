"""The tokenized ICS feed, and the live-events WebSocket's authentication and tenant filter."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
import websockets
from sqlalchemy import select

from appliance import events as ev
from appliance.store.models import Agent, Appointment
from tests.api.conftest import Api


def org1_agent(api: Api) -> int:
    with api.db.session() as s:
        agent_id = s.scalars(select(Agent.id).where(Agent.organization_id == api.org1.id)).first()
        assert agent_id is not None
        start = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None) + dt.timedelta(days=2)
        s.add(Appointment(organization_id=api.org1.id, agent_id=agent_id, name="Jane Roe, checkup",
                          phone="+4930555", starts_at=start, ends_at=start + dt.timedelta(minutes=30)))
        return agent_id


async def test_the_feed_needs_its_token_lists_appointments_and_stops_when_revoked(api: Api) -> None:
    agent_id = org1_agent(api)
    other = await api.client.post(f"/api/v1/calendar/agents/{agent_id}/feed-token", headers=api.org2.headers)
    assert other.status_code == 404
    made = await api.client.post(f"/api/v1/calendar/agents/{agent_id}/feed-token", headers=api.org1.headers)
    assert made.status_code == 201
    token = made.json()["token"]
    feed = await api.client.get(f"/api/v1/calendar/agents/{agent_id}/feed.ics", params={"token": token})
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    body = feed.text
    assert body.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" in body and "Jane Roe\\, checkup" in body
    assert (await api.client.get(f"/api/v1/calendar/agents/{agent_id}/feed.ics",
                                 params={"token": "x" * len(token)})).status_code == 404
    assert (await api.client.delete(f"/api/v1/calendar/agents/{agent_id}/feed-token",
                                    headers=api.org1.headers)).status_code == 204
    assert (await api.client.get(f"/api/v1/calendar/agents/{agent_id}/feed.ics",
                                 params={"token": token})).status_code == 404


@dataclass
class _Services:
    bus: ev.EventBus = field(default_factory=ev.EventBus)


@dataclass
class _Local:
    services: _Services = field(default_factory=_Services)


@dataclass
class LiveBox:
    """The part of a running Appliance the WebSocket uses: the event bus and which org a call belongs to."""

    local: _Local = field(default_factory=_Local)
    orgs: dict[str, int] = field(default_factory=dict)

    def org_of(self, call_id: str) -> int | None:
        return self.orgs.get(call_id)


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[int]:
    """The app on real HTTP at 127.0.0.1 (uvicorn in this loop; the fixture already ran its lifespan)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def test_live_events_are_authenticated_and_only_of_the_callers_organization(api: Api) -> None:
    box = LiveBox(orgs={"call-1": api.org1.id, "call-2": api.org2.id})
    api.app.state.appliance = box
    token = api.org1.headers["Authorization"].split()[1]
    async with served(api.app) as port:
        url = f"ws://127.0.0.1:{port}/api/v1/calls/live/events"
        async with websockets.connect(f"{url}?token=nonsense") as ws:
            with pytest.raises(websockets.ConnectionClosed) as refused:
                await ws.recv()
        assert refused.value.rcvd is not None and refused.value.rcvd.code == 4401
        async with websockets.connect(f"{url}?token={token}") as ws:
            await asyncio.sleep(0.2)  # the server has subscribed once the socket is accepted
            for call_id in ("call-2", "call-1"):
                box.local.services.bus.publish(ev.CallStarted(call_id=call_id, direction="inbound", caller="",
                                                              callee=""))
            got = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert got["call_id"] == "call-1" and got["type"] == "CallStarted"  # org 2's call-2 never reached org 1
