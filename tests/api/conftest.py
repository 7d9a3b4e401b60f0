"""API fixtures: a migrated data dir (SQLite, or PostgreSQL in its own schema), the app over real HTTP
(httpx against the ASGI app), and two organizations with admin credentials.

Reuse: `api` (an `Api` with `.client`, `.org1`, `.org2`), `Api.login(email, password)`, `Api.user(org, role)`.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.api import create_app
from appliance.config import Settings
from appliance.store.bootstrap import initialise
from appliance.store.db import Database, open_database

PASSWORD = "correct horse battery staple"


@dataclass
class Org:
    id: int
    admin_email: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings
    db: Database
    app: Any
    org1: Org
    org2: Org

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def headers_for(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.login(email, password))['access_token']}"}

    async def user(self, org: Org, role: str) -> dict[str, str]:
        """A new user with `role` in `org`; returns its auth headers."""
        email = f"{role}-{secrets.token_hex(3)}@org{org.id}.example"
        r = await self.client.post("/api/v1/users", headers=org.headers,
                                   json={"email": email, "password": PASSWORD, "role": role})
        assert r.status_code == 201, r.text
        return await self.headers_for(email)


def settings_for(tmp_path: Path, database_url: str = "") -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    settings.storage.database_url = database_url
    settings.security.rate_limit_per_minute = 100_000  # tests that check limits lower it themselves
    return settings


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
async def api(api_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(api_settings) as value:
        yield value


from contextlib import asynccontextmanager  # noqa: E402


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[Api]:
    initialise(settings, org_name="First Org", admin_email="owner@first.example", admin_password=PASSWORD)
    db = open_database(settings)
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://vocaliq.test") as client:
        org1 = Org(1, "owner@first.example")
        org1.headers = await _headers(client, org1.admin_email)
        r = await client.post("/api/v1/organizations", headers=org1.headers,
                               json={"name": "Second Org", "admin_email": "admin@second.example",
                                     "admin_password": PASSWORD})
        assert r.status_code == 201, r.text
        org2 = Org(r.json()["id"], "admin@second.example")
        org2.headers = await _headers(client, org2.admin_email)
        try:
            yield Api(client, settings, db, app, org1, org2)
        finally:
            db.close()


async def _headers(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
