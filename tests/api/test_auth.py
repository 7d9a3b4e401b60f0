"""Authentication: login, lockout, refresh rotation and reuse, logout, refused tokens and keys — each audited."""

from __future__ import annotations

import datetime as dt

import httpx
import jwt
from sqlalchemy import select, update

from appliance.api.deps import REFUSALS_PER_MINUTE
from appliance.api.security import jwt_key, password_stamp
from appliance.store.models import ApiKey, AuditEntry, RefreshToken, User
from tests.api.conftest import PASSWORD, Api


def audited(api: Api, action: str) -> list[AuditEntry]:
    with api.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


async def test_login_me_and_a_wrong_password_is_refused_and_audited(api: Api) -> None:
    me = await api.client.get("/api/v1/auth/me", headers=api.org1.headers)
    assert me.status_code == 200 and me.json()["email"] == "owner@first.example"
    bad = await api.client.post("/api/v1/auth/login", json={"email": "owner@first.example", "password": "nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
    unknown = await api.client.post("/api/v1/auth/login", json={"email": "ghost@x.example", "password": "nope"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == bad.json()["detail"]  # no user enumeration
    assert {e.actor for e in audited(api, "auth.login_failed")} >= {"owner@first.example", "ghost@x.example"}


async def test_repeated_failures_lock_the_account_even_for_the_right_password(api: Api) -> None:
    api.settings.security.login_max_failures = 3
    for _ in range(3):
        r = await api.client.post("/api/v1/auth/login", json={"email": "admin@second.example", "password": "x"})
        assert r.status_code == 401
    locked = await api.client.post("/api/v1/auth/login",
                                   json={"email": "admin@second.example", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert audited(api, "auth.locked_out")


async def test_refresh_rotates_and_reusing_a_used_token_revokes_the_whole_family(api: Api) -> None:
    first = await api.login("owner@first.example")
    second = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    newer = second.json()["refresh_token"]
    assert newer != first["refresh_token"]
    reuse = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    after = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": newer})
    assert after.status_code == 401  # the thief's reuse also ended the legitimate session
    assert audited(api, "auth.refresh_reuse")


async def test_logout_revokes_the_refresh_token(api: Api) -> None:
    tokens = await api.login("owner@first.example")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    out = await api.client.post("/api/v1/auth/logout", headers=headers, json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def _token(api: Api, *, algorithm: str = "HS256", key: str | None = None, **claims: object) -> str:
    now = dt.datetime.now(dt.UTC)
    with api.db.session() as s:
        user = s.get(User, 1)
        assert user is not None
        stamp = password_stamp(user.password_hash)
    body = {"sub": "1", "org": 1, "typ": "access", "pwd": stamp, "iat": now, "exp": now + dt.timedelta(minutes=5),
            **claims}
    return jwt.encode(body, key if key is not None else jwt_key(api.settings), algorithm=algorithm)


async def test_forged_expired_and_alg_none_tokens_are_refused_and_audited(api: Api) -> None:
    _header, payload, _ = _token(api).split(".")
    unsigned = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode() + "." + payload + "."
    cases = {
        "alg none": unsigned,
        "expired": _token(api, exp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)),
        "other key": _token(api, key="not-our-key-" * 4),
        "HS512": _token(api, algorithm="HS512"),
        "refresh as access": _token(api, typ="refresh"),
        "other org claim": _token(api, org=2),
        "other password": _token(api, pwd="0" * 16),
        "garbage": "abc.def.ghi",
    }
    before = len(audited(api, "auth.refused"))
    for name, token in cases.items():
        r = await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
    assert len(audited(api, "auth.refused")) - before == len(cases)
    assert (await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {_token(api)}"})
            ).status_code == 200  # the control: a correctly signed token for user 1 works


async def test_api_keys_work_in_both_headers_until_revoked_and_never_across_orgs(api: Api) -> None:
    created = await api.client.post("/api/v1/api-keys", headers=api.org2.headers,
                                    json={"name": "crm sync", "scopes": ["calls:read"]})
    assert created.status_code == 201
    key = created.json()
    assert key["secret"].startswith(key["prefix"])
    listed = (await api.client.get("/api/v1/api-keys", headers=api.org2.headers)).json()
    assert "secret" not in listed[0]  # shown once
    for headers in ({"X-API-Key": key["secret"]}, {"Authorization": f"Bearer {key['secret']}"}):
        assert (await api.client.get("/api/v1/organizations/current", headers=headers)).json()["id"] == api.org2.id
    scoped = await api.client.get("/api/v1/users", headers={"X-API-Key": key["secret"]})
    assert scoped.status_code == 403  # a calls:read key cannot manage users
    # org 1 cannot see or revoke org 2's key
    assert (await api.client.delete(f"/api/v1/api-keys/{key['id']}", headers=api.org1.headers)).status_code == 404
    assert (await api.client.delete(f"/api/v1/api-keys/{key['id']}", headers=api.org2.headers)).status_code == 204
    revoked = await api.client.get("/api/v1/organizations/current", headers={"X-API-Key": key["secret"]})
    assert revoked.status_code == 401
    with api.db.session() as s:
        row = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.refused")
                        .order_by(AuditEntry.id.desc())).first()
        assert row is not None and "revoked" in row.detail["reason"]
        assert key["secret"] not in str(row.detail)  # the secret itself is never written down


async def test_a_key_cannot_be_granted_scopes_its_creator_lacks(api: Api) -> None:
    editor = await api.user(api.org1, "editor")
    r = await api.client.post("/api/v1/api-keys", headers=editor, json={"name": "x", "scopes": ["users:manage"]})
    assert r.status_code == 403


async def test_each_failure_after_a_lockout_doubles_it_and_a_success_resets_the_count(api: Api) -> None:
    api.settings.security.login_max_failures, api.settings.security.lockout_minutes = 2, 1
    email = "admin@second.example"

    async def attempt(password: str) -> httpx.Response:
        return await api.client.post("/api/v1/auth/login", json={"email": email, "password": password})

    def unlock() -> None:  # time passes: the lock has run out
        with api.db.session() as s:
            s.execute(update(User).where(User.email == email).values(
                locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))

    assert [(await attempt("wrong")).status_code for _ in range(2)] == [401, 401]
    first = await attempt(PASSWORD)
    assert first.status_code == 429 and 50 <= int(first.headers["Retry-After"]) <= 61
    unlock()
    assert (await attempt("wrong")).status_code == 401  # one more failure locks again, for twice as long
    second = await attempt(PASSWORD)
    assert second.status_code == 429 and 110 <= int(second.headers["Retry-After"]) <= 121
    assert [e.detail["minutes"] for e in audited(api, "auth.lockout")] == [1, 2]
    unlock()
    assert (await attempt(PASSWORD)).status_code == 200
    assert (await attempt("wrong")).status_code == 401  # the count started again from zero
    assert (await attempt(PASSWORD)).status_code == 200


async def test_unknown_and_expired_refresh_tokens_are_refused_and_audited(api: Api) -> None:
    before = len(audited(api, "auth.refused"))
    r = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": "vqr_made-up"})
    assert r.status_code == 401
    tokens = await api.login("owner@first.example")
    with api.db.session() as s:
        s.execute(update(RefreshToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    r = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    reasons = [e.detail["reason"] for e in audited(api, "auth.refused")[before:]]
    assert reasons == ["unknown refresh token", "refresh token expired or its user disabled"]


async def test_a_flood_of_bad_credentials_is_cut_off_without_growing_the_audit_log(api: Api) -> None:
    before = len(audited(api, "auth.refused"))
    codes = [(await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer junk{i}"})).status_code
             for i in range(REFUSALS_PER_MINUTE + 5)]
    assert codes == [401] * REFUSALS_PER_MINUTE + [429] * 5
    assert len(audited(api, "auth.refused")) - before == REFUSALS_PER_MINUTE
    assert (await api.client.get("/api/v1/auth/me", headers=api.org1.headers)).status_code == 200


async def test_a_new_password_ends_logins_and_a_deleted_users_keys_stop_working(api: Api) -> None:
    r = await api.client.post("/api/v1/users", headers=api.org2.headers,
                              json={"email": "temp@second.example", "password": PASSWORD, "role": "admin"})
    user_id = r.json()["id"]
    tokens = await api.login("temp@second.example")
    own = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = (await api.client.post("/api/v1/api-keys", headers=own, json={"name": "temp"})).json()
    assert (await api.client.get("/api/v1/agents", headers={"X-API-Key": key["secret"]})).status_code == 200
    changed = await api.client.patch(f"/api/v1/users/{user_id}", headers=api.org2.headers,
                                     json={"password": PASSWORD + "!"})
    assert changed.status_code == 200
    r = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401  # the login made with the old password cannot be renewed
    assert (await api.client.get("/api/v1/auth/me", headers=own)).status_code == 401  # nor used any longer
    assert (await api.client.get("/api/v1/agents", headers={"X-API-Key": key["secret"]})).status_code == 200
    assert (await api.client.delete(f"/api/v1/users/{user_id}", headers=api.org2.headers)).status_code == 204
    assert (await api.client.get("/api/v1/agents", headers={"X-API-Key": key["secret"]})).status_code == 401
    assert [e.action for e in audited(api, "user.delete")] == ["user.delete"]


async def test_a_key_records_when_it_was_last_used(api: Api) -> None:
    key = (await api.client.post("/api/v1/api-keys", headers=api.org1.headers, json={"name": "probe"})).json()
    assert key["last_used_at"] is None
    await api.client.get("/api/v1/agents", headers={"X-API-Key": key["secret"]})
    listed = (await api.client.get("/api/v1/api-keys", headers=api.org1.headers)).json()
    assert next(k for k in listed if k["id"] == key["id"])["last_used_at"] is not None


async def test_another_orgs_key_reaches_nothing_and_a_key_moved_across_orgs_is_refused_and_audited(api: Api) -> None:
    agent = (await api.client.post("/api/v1/agents", headers=api.org1.headers, json={"name": "Org One Only"})).json()
    key = (await api.client.post("/api/v1/api-keys", headers=api.org2.headers, json={"name": "org2"})).json()
    as_org2 = {"X-API-Key": key["secret"]}
    assert (await api.client.get(f"/api/v1/agents/{agent['id']}", headers=as_org2)).status_code == 404
    assert "Org One Only" not in (await api.client.get("/api/v1/agents", headers=as_org2)).text
    with api.db.session() as s:  # a key row pointed at organization 1 while its user stays in organization 2
        s.execute(update(ApiKey).where(ApiKey.id == key["id"]).values(organization_id=api.org1.id))
    before = len(audited(api, "auth.refused"))
    assert (await api.client.get(f"/api/v1/agents/{agent['id']}", headers=as_org2)).status_code == 401
    refused = audited(api, "auth.refused")
    assert len(refused) == before + 1 and "different organizations" in refused[-1].detail["reason"]
