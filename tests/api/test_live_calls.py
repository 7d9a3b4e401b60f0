"""Live calls through the API of a running appliance: real SIP on loopback (callers and callees are softphone
subprocesses), the API on real HTTP. The models are the tiny fakes from tests/fakes (tone TTS, scripted STT):
this is about call control and tenancy, tests/sip covers the audio path.

The API hangs up after the greeting has played: a local hangup of a SIP leg while agent audio is still
playing has crashed the process (SIGSEGV right after the call's teardown, in the next allocation-heavy code)
in about 1 run in 4 here; that is a media-teardown race for sip/ to fix, not something a test should hit."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance import events as ev
from appliance.config import Settings, load_config
from appliance.conversation import CallServices
from appliance.conversation.backoffice import load_agent
from appliance.conversation.services import LocalServices
from appliance.demo import free_port
from appliance.serve import Appliance
from appliance.store.bootstrap import initialise
from appliance.store.db import open_database
from appliance.store.models import Call
from tests.api.conftest import PASSWORD
from tests.fakes.audio_models import FakeAudioModels, ScriptedSTT
from tests.sip.conftest import REPO, softphone

pytestmark = pytest.mark.skipif(not hasattr(Appliance, "org_of"),
                                reason="this Appliance does not tell which organization a live call belongs to")


def box_settings(tmp_path: Path) -> Settings:
    settings = load_config(data_dir=tmp_path / "data")
    settings.sip.host, settings.sip.port, settings.sip.transports = "127.0.0.1", free_port(), ["udp"]
    settings.sip.trusted_cidrs = ["127.0.0.1/32"]
    settings.server.api_port = free_port()
    settings.server.drain_seconds = 0
    settings.security.rate_limit_per_minute = 100_000
    return settings


@asynccontextmanager
async def listening_phone(seconds: float = 15, hold: float = 6) -> AsyncIterator[tuple[int, Any]]:
    """A softphone answering on a free port; yields (port, coroutine returning its report)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sip.softphone", "--listen", str(port), "--duration", str(seconds), "--hold",
        str(hold), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    async def report() -> dict[str, Any]:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 15)
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    await asyncio.sleep(1.0)  # its endpoint is up
    try:
        yield port, report
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def live(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/calls/live", headers=headers)
    assert r.status_code == 200, r.text
    calls: list[dict[str, Any]] = r.json()
    return calls


async def wait_live(client: httpx.AsyncClient, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        if len(calls := await live(client, headers)) == count:
            return calls
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {count} live call(s): {await live(client, headers)}")


async def test_live_calls_are_listed_hung_up_transferred_and_placed_only_by_their_organization(
        tmp_path: Path) -> None:
    settings = box_settings(tmp_path)
    initialise(settings, org_name="First Org", admin_email="owner@first.example", admin_password=PASSWORD)
    db = open_database(settings)
    agent, org_id = load_agent(db, None)
    local = LocalServices(CallServices(models=FakeAudioModels(ScriptedSTT([])), db=db, organization_id=org_id),
                          agent)
    try:
        async with Appliance(settings, local=local) as box, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{box.api_port}", timeout=60) as client:
            while not box.api_server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
                await asyncio.sleep(0.05)

            async def login(email: str) -> dict[str, str]:
                r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            first = await login("owner@first.example")
            made = await client.post("/api/v1/organizations", headers=first, json={
                "name": "Second Org", "admin_email": "admin@second.example", "admin_password": PASSWORD})
            assert made.status_code == 201, made.text
            second = await login("admin@second.example")
            box_uri = f"sip:reception@127.0.0.1:{box.sip_port}"
            greeted: set[str] = set()
            box.local.services.bus.subscribe(
                lambda e: greeted.add(e.call_id) if isinstance(e, ev.AgentSpeechFinished) else None)

            # 1. an inbound call is live for its organization only, and the API hangs it up
            caller = asyncio.create_task(softphone(box_uri, "--duration", "20"))
            [call] = await wait_live(client, first, 1)
            assert call["direction"] == "inbound" and call["answered"]
            assert await live(client, second) == []
            for _ in range(100):  # hang up after the greeting (see the module docstring)
                if call["call_id"] in greeted:
                    break
                await asyncio.sleep(0.1)
            assert (await client.post(f"/api/v1/calls/{call['call_id']}/hangup", headers=second)).status_code == 404
            assert (await client.post(f"/api/v1/calls/{call['call_id']}/hangup", headers=first)).status_code == 204
            hung_up = call["call_id"]
            await wait_live(client, first, 0)  # within 10 s, though the caller would stay 20 s
            assert (await caller)["answered"]

            # 2. a live call is blind-transferred to another phone
            async with listening_phone() as (port, target_report):
                caller = asyncio.create_task(softphone(box_uri, "--accept-transfer", "--duration", "8"))
                [call] = await wait_live(client, first, 1)
                target = f"sip:frontdesk@127.0.0.1:{port}"
                assert (await client.post(f"/api/v1/calls/{call['call_id']}/transfer", headers=second,
                                          json={"target": target})).status_code == 404
                moved = await client.post(f"/api/v1/calls/{call['call_id']}/transfer", headers=first,
                                          json={"target": target})
                assert moved.status_code == 200, moved.text
                assert moved.json()["ok"] and moved.json()["status"] == 200
                assert (await caller)["transfers_followed"]
                assert [c["to"] for c in (await target_report())["calls"]] == ["frontdesk"]

            # 3. an outbound call with the agent, listed live while it runs
            async with listening_phone(hold=4) as (port, callee_report):
                placed = await client.post("/api/v1/calls/outbound", headers=first, json={
                    "to": f"sip:customer@127.0.0.1:{port}", "agent_id": agent.id})
                assert placed.status_code == 201, placed.text
                call_id = placed.json()["call_id"]
                assert [c["call_id"] for c in await live(client, first)] == [call_id]
                assert await live(client, second) == []
                assert [c["to"] for c in (await callee_report())["calls"]] == ["customer"]
            await wait_live(client, first, 0)
            assert (await client.post("/api/v1/calls/outbound", headers=second, json={
                "to": "sip:x@127.0.0.1:9", "agent_id": agent.id})).status_code == 404
        with db.session() as s:
            rows = {c.id: c for c in s.query(Call)}
        assert rows[call_id].direction == "outbound" and rows[call_id].organization_id == org_id
        assert rows[hung_up].end_reason == "agent_hangup"
    finally:
        db.close()
