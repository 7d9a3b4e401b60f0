"""API fixtures: a migrated data dir (SQLite, or PostgreSQL in its own schema), the app over real HTTP
(httpx against the ASGI app), and two organizations with admin credentials.

Reuse: `api` (an `Api` with `.client`, `.settings`, `.db`, `.app`, `.org1`, `.org2`), `Api.login(email,
password)` (a real password login), `Api.user(org, role)` (a new user's auth headers), or
`running_api(settings_for(tmp_path))` in a fixture of your own.

Speed: on SQLite the migrated data dir with both organizations is built once per test process (through the
real app: `initialise`, then `POST /organizations` as the superadmin) and copied for each test; the fixture's
own access tokens are signed directly (`issue_access`, as a login does) instead of costing an argon2 verify per
login. On PostgreSQL every test builds its schema from scratch.
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from appliance.api import create_app
from appliance.api.security import issue_access
from appliance.config import Settings
from appliance.store.bootstrap import initialise
from appliance.store.db import Database, open_database
from appliance.store.models import User

PASSWORD = "correct horse battery staple"
ORG1_NAME, ORG1_EMAIL = "First Org", "owner@first.example"
ORG2_NAME, ORG2_EMAIL = "Second Org", "admin@second.example"


@dataclass
class Org:
    id: int
    admin_email: str
    headers: dict[str, str] = field(default_factory=dict)
    admin_id: int = 0


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings
    db: Database
    app: Any
    org1: Org
    org2: Org

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        """A real password login (argon2 verify, refresh token stored); the token pair."""
        r = await self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def headers_for(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.login(email, password))['access_token']}"}

    async def user(self, org: Org, role: str) -> dict[str, str]:
        """A new user with `role` in `org`, made through the API by its admin; returns its auth headers."""
        email = f"{role}-{secrets.token_hex(3)}@org{org.id}.example"
        r = await self.client.post("/api/v1/users", headers=org.headers,
                                   json={"email": email, "password": PASSWORD, "role": role})
        assert r.status_code == 201, r.text
        return bearer(self.settings, self.db, r.json()["id"])


def bearer(settings: Settings, db: Database, user_id: int) -> dict[str, str]:
    """Auth headers with an access token exactly as a login issues it (without the argon2 verify)."""
    with db.session() as s:
        user = s.get(User, user_id)
        assert user is not None, user_id
        token, _ = issue_access(settings, user_id=user.id, org_id=user.organization_id,
                                password_hash=user.password_hash)
    return {"Authorization": f"Bearer {token}"}


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


@dataclass(frozen=True)
class _Template:
    data_dir: Path
    org1: Org
    org2: Org


_template: _Template | None = None


async def _sqlite_template() -> _Template:
    """The migrated SQLite data dir with both organizations, built once per process through the real app."""
    global _template
    if _template is None:
        root = Path(tempfile.mkdtemp(prefix="vocaliq-api-template-"))
        atexit.register(shutil.rmtree, root, True)
        settings = settings_for(root)
        async with _built_from_scratch(settings) as api:
            org1, org2 = api.org1, api.org2
        _template = _Template(settings.data_dir, org1, org2)  # the DB is closed: WAL checkpointed into the file
    return _template


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[Api]:
    """The app on `settings`' data dir with org 1 (owner, superadmin) and org 2 (admin), lifespan running."""
    if settings.storage.database_url:
        async with _built_from_scratch(settings) as api:
            yield api
        return
    template = await _sqlite_template()
    shutil.copytree(template.data_dir, settings.data_dir, dirs_exist_ok=True)
    db = open_database(settings)
    app = create_app(settings, db=db)
    org1 = Org(template.org1.id, template.org1.admin_email, admin_id=template.org1.admin_id)
    org2 = Org(template.org2.id, template.org2.admin_email, admin_id=template.org2.admin_id)
    for org in (org1, org2):
        org.headers = bearer(settings, db, org.admin_id)
    try:
        async with _serving(app) as client:
            yield Api(client, settings, db, app, org1, org2)
    finally:
        db.close()


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://vocaliq.test") as client:
        yield client


@asynccontextmanager
async def _built_from_scratch(settings: Settings) -> AsyncIterator[Api]:
    """Migrate, bootstrap org 1 and make org 2 through the API as the superadmin (real logins)."""
    initialise(settings, org_name=ORG1_NAME, admin_email=ORG1_EMAIL, admin_password=PASSWORD)
    db = open_database(settings)
    app = create_app(settings, db=db)
    try:
        async with _serving(app) as client:
            org1 = Org(1, ORG1_EMAIL)
            org1.headers = await _login(client, org1.admin_email)
            r = await client.post("/api/v1/organizations", headers=org1.headers,
                                  json={"name": ORG2_NAME, "admin_email": ORG2_EMAIL, "admin_password": PASSWORD})
            assert r.status_code == 201, r.text
            org2 = Org(r.json()["id"], ORG2_EMAIL)
            org2.headers = await _login(client, org2.admin_email)
            with db.session() as s:
                for org in (org1, org2):
                    org.admin_id = s.scalars(select(User.id).where(User.email == org.admin_email)).one()
            yield Api(client, settings, db, app, org1, org2)
    finally:
        db.close()


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
