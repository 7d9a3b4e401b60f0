"""/api/v1/webhooks over the real app: the secret is shown once, a call event reaches a real receiver through
the dispatcher the API runs, test delivery reports the receiver's answer, RBAC and tenant isolation hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from appliance.webhooks import emit
from tests.api.conftest import Api, running_api, settings_for
from tests.webhooks.receiver import receiver


@pytest.fixture
async def api(tmp_path) -> AsyncIterator[Api]:  # type: ignore[no-untyped-def]
    async with running_api(settings_for(tmp_path)) as value:
        yield value


async def test_create_shows_the_secret_once_and_the_dispatcher_delivers_signed_events(api: Api) -> None:
    with receiver() as rx:
        r = await api.client.post("/api/v1/webhooks", headers=api.org1.headers,
                                  json={"url": rx.url, "events": ["call.started"]})
        assert r.status_code == 201, r.text
        hook = r.json()
        rx.secret = hook["secret"]
        assert hook["secret"].startswith("whsec_") and hook["events"] == ["call.started"]
        listed = (await api.client.get("/api/v1/webhooks", headers=api.org1.headers)).json()
        assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
        assert "secret" not in (await api.client.get(f"/api/v1/webhooks/{hook['id']}", headers=api.org1.headers)).json()
        with api.db.session() as s:
            emit(s, api.org1.id, "call.started", {"call_id": "api-1"})
            emit(s, api.org1.id, "call.ended", {"call_id": "api-1"})  # not subscribed
        api.app.state.jobs.dispatcher.wake()
        for _ in range(250):
            if rx.received:
                break
            await asyncio.sleep(0.02)
        assert [(e["event"], e["data"]["call_id"]) for e in rx.received] == [("call.started", "api-1")]
        deliveries = (await api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries",
                                           headers=api.org1.headers)).json()
        assert [(d["event"], d["status"], d["attempts"]) for d in deliveries] == [("call.started", "delivered", 1)]
        detail = (await api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries/{deliveries[0]['id']}",
                                       headers=api.org1.headers)).json()
        assert detail["payload"]["data"]["call_id"] == "api-1"
        again = await api.client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{deliveries[0]['id']}/redeliver",
                                      headers=api.org1.headers)
        assert again.status_code == 200 and again.json()["status"] == "pending"


async def test_test_delivery_reports_the_receivers_answer_and_a_rotated_secret_signs_it(api: Api) -> None:
    with receiver(fail_next=1) as rx:
        hook = (await api.client.post("/api/v1/webhooks", headers=api.org1.headers, json={"url": rx.url})).json()
        rx.secret = hook["secret"]
        failed = (await api.client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=api.org1.headers)).json()
        assert (failed["delivered"], failed["status_code"]) == (False, 503)
        rotated = await api.client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=api.org1.headers)
        rx.secret = rotated.json()["secret"]
        assert rx.secret != hook["secret"]
        ok = (await api.client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=api.org1.headers)).json()
        assert (ok["delivered"], ok["status_code"], ok["error"]) == (True, 204, "")
        assert rx.received[0]["event"] == "webhook.test" and rx.refused == []


async def test_bad_urls_and_events_are_refused_and_other_orgs_and_viewers_cannot_touch_a_webhook(api: Api) -> None:
    bad = await api.client.post("/api/v1/webhooks", headers=api.org1.headers, json={"url": "ftp://x.example/h"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    unknown = await api.client.post("/api/v1/webhooks", headers=api.org1.headers,
                                    json={"url": "https://x.example/h", "events": ["call.exploded"]})
    assert unknown.status_code == 422
    hook = (await api.client.post("/api/v1/webhooks", headers=api.org1.headers,
                                  json={"url": "https://crm.example/h"})).json()
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test"), ("GET", "/deliveries")):
        r = await api.client.request(method, f"/api/v1/webhooks/{hook['id']}{path}", headers=api.org2.headers,
                                     json={"enabled": False} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.text)
    viewer = await api.user(api.org1, "viewer")
    assert (await api.client.get("/api/v1/webhooks", headers=viewer)).status_code == 200
    assert (await api.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=viewer)).status_code == 403
    patched = await api.client.patch(f"/api/v1/webhooks/{hook['id']}", headers=api.org1.headers,
                                     json={"enabled": False, "events": ["message.taken"]})
    assert patched.json()["enabled"] is False and patched.json()["events"] == ["message.taken"]
    assert (await api.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=api.org1.headers)).status_code == 204
    assert (await api.client.get(f"/api/v1/webhooks/{hook['id']}", headers=api.org1.headers)).status_code == 404
