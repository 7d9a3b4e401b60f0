"""Roles decide what a user may do; rate limits answer 429 with Retry-After; oversize bodies get 413."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from appliance.api.ratelimit import MemoryLimiter, RedisLimiter
from tests.api.conftest import PASSWORD, Api


@pytest.mark.parametrize(("role", "can_manage_users", "can_read_audit"), [
    ("owner", True, True), ("admin", True, True), ("editor", False, False), ("viewer", False, False),
    ("auditor", False, True),
])
async def test_role_matrix(api: Api, role: str, can_manage_users: bool, can_read_audit: bool) -> None:
    headers = await api.user(api.org1, role) if role != "owner" else api.org1.headers
    users = await api.client.get("/api/v1/users", headers=headers)
    assert users.status_code == (200 if can_manage_users else 403)
    audit = await api.client.get("/api/v1/admin/audit", headers=headers)
    assert audit.status_code == (200 if can_read_audit else 403)


async def test_an_admin_cannot_make_owners_and_only_the_superadmin_creates_orgs(api: Api) -> None:
    r = await api.client.post("/api/v1/users", headers=api.org2.headers,
                              json={"email": "boss@second.example", "password": PASSWORD, "role": "owner"})
    assert r.status_code == 403
    r = await api.client.post("/api/v1/organizations", headers=api.org2.headers,
                              json={"name": "Third", "admin_email": "a@third.example", "admin_password": PASSWORD})
    assert r.status_code == 403


async def test_org_admin_edits_own_settings_only(api: Api) -> None:
    r = await api.client.patch("/api/v1/organizations/current/settings", headers=api.org2.headers,
                               json={"retention_days": 30, "hosted_fallback_allowed": True})
    assert r.status_code == 200 and r.json()["settings"]["retention_days"] == 30
    mine = (await api.client.get("/api/v1/organizations/current", headers=api.org1.headers)).json()
    assert mine["settings"]["retention_days"] == 365
    bad = await api.client.patch("/api/v1/organizations/current/settings", headers=api.org2.headers,
                                 json={"retention_days": -1})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_over_the_per_user_limit_a_request_gets_429_with_retry_after(api: Api) -> None:
    api.settings.security.rate_limit_per_minute = 5
    codes = [(await api.client.get("/api/v1/auth/me", headers=api.org2.headers)).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    r = await api.client.get("/api/v1/auth/me", headers=api.org2.headers)
    assert 1 <= int(r.headers["Retry-After"]) <= 60


async def test_a_body_over_the_limit_gets_413_declared_or_streamed(api: Api) -> None:
    big = b"x" * (api.settings.security.max_request_bytes + 1)
    r = await api.client.post("/api/v1/auth/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(api.settings.security.max_request_bytes // 65536 + 2):
            yield b"x" * 65536

    r = await api.client.post("/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_memory_limiter_counts_per_key() -> None:
    limiter = MemoryLimiter()
    assert [limiter.hit("a", 2).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("b", 2).allowed


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.redis
@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
def test_redis_limiter_shares_counts_between_instances() -> None:
    key = f"test-{uuid.uuid4().hex}"
    one, two = RedisLimiter("redis://127.0.0.1:6379/0"), RedisLimiter("redis://127.0.0.1:6379/0")
    assert one.hit(key, 3).allowed and two.hit(key, 3).allowed and one.hit(key, 3).allowed
    verdict = two.hit(key, 3)  # the fourth hit, from a second API worker
    assert not verdict.allowed and 1 <= verdict.retry_after <= 60


@pytest.mark.redis
@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
async def test_the_api_uses_redis_when_configured(api: Api) -> None:
    api.app.state.limiter = RedisLimiter("redis://127.0.0.1:6379/0", namespace=f"test-{uuid.uuid4().hex}")
    api.settings.security.rate_limit_per_minute = 3
    key = await api.client.post("/api/v1/api-keys", headers=api.org1.headers, json={"name": "k"})
    headers = {"X-API-Key": key.json()["secret"]}
    codes = [(await api.client.get("/api/v1/organizations/current", headers=headers)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


async def test_a_new_organizations_audit_log_starts_with_its_creation(api: Api) -> None:
    entries = (await api.client.get("/api/v1/admin/audit", headers=api.org2.headers)).json()
    assert [(e["action"], e["actor"]) for e in entries if e["action"].startswith("org.")] == \
        [("org.created", "superadmin")]  # not the superadmin's email: that is organization 1's
    mine = (await api.client.get("/api/v1/admin/audit?action=org.create", headers=api.org1.headers)).json()
    assert mine[0]["detail"] == {"name": "Second Org", "admin": "admin@second.example"}
    verdict = (await api.client.get("/api/v1/admin/audit/verify", headers=api.org1.headers)).json()
    assert verdict == {"intact": True, "first_bad_id": None}


async def test_audit_verify_names_the_first_entry_changed_behind_the_apis_back(api: Api) -> None:
    from sqlalchemy import select, update

    from appliance.store.models import AuditEntry

    with api.db.session() as s:
        victim = s.scalars(select(AuditEntry.id).where(AuditEntry.action == "org.create")).one()
        s.execute(update(AuditEntry).where(AuditEntry.id == victim).values(actor="someone-else@x.example"))
    verdict = (await api.client.get("/api/v1/admin/audit/verify", headers=api.org1.headers)).json()
    assert verdict == {"intact": False, "first_bad_id": victim}
    auditor = await api.user(api.org1, "auditor")
    assert (await api.client.get("/api/v1/admin/audit/verify", headers=auditor)).json()["intact"] is False
