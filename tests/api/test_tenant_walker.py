"""Tenant isolation, generated from the route list: every route of the app is called with the second
organization's admin credentials against the first organization's objects, and must neither succeed nor show
anything of the first organization. A new route is covered by itself; a new path parameter fails this test
until it is added to `ids` below.
"""

from __future__ import annotations

import datetime as dt
import re
import wave
from typing import Any

from appliance.store.models import (
    Agent,
    Appointment,
    Call,
    Contact,
    KnowledgeDocument,
    Message,
    Recording,
    Route,
    Trunk,
    Turn,
    Webhook,
    WebhookDelivery,
)
from tests.api.conftest import PASSWORD, Api

CANARIES = ("CanaryAgent", "canary-trunk", "+4930555123", "Canary Contact", "canary@first.example",
            "Canary appointment", "canary message text", "canary-hook", "canary knowledge", "canary words spoken",
            "canary-key")
ALLOWED = {403, 404, 405, 422, 503}  # refused, not found, or nothing to act on: never org 1's object


async def seed_org1(api: Api) -> dict[str, Any]:
    """One object of every kind in organization 1; returns path parameter -> its id."""
    org = api.org1.id
    key = await api.client.post("/api/v1/api-keys", headers=api.org1.headers, json={"name": "canary-key"})
    user = await api.client.post("/api/v1/users", headers=api.org1.headers,
                                 json={"email": "canary@first.example", "password": PASSWORD, "role": "viewer"})
    assert key.status_code == 201 and user.status_code == 201
    recordings = api.settings.paths.recordings / "2026-01-01"
    recordings.mkdir(parents=True, exist_ok=True)
    with wave.open(str(recordings / "canary.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x01\x00" * 32000)
    start = dt.datetime(2026, 12, 1, 9, 0)
    with api.db.session() as s:
        agent = Agent(organization_id=org, name="CanaryAgent")
        s.add(agent)
        s.flush()
        trunk = Trunk(organization_id=org, name="canary-trunk", kind="ip", host="127.0.0.9",
                      allowed_cidrs=["127.0.0.9/32"])
        s.add(trunk)
        s.flush()
        route = Route(organization_id=org, did_pattern="+4930555123", agent_id=agent.id, priority=5)
        contact = Contact(organization_id=org, name="Canary Contact", phone="+4930555123")
        call = Call(organization_id=org, agent_id=agent.id, caller="+4930555123", callee="+4930999",
                    status="ended", end_reason="caller_hangup")
        s.add_all([route, contact, call])
        s.flush()
        s.add(Turn(organization_id=org, call_id=call.id, index=1, user_text="canary words spoken"))
        s.add(Recording(organization_id=org, call_id=call.id, path=str(recordings / "canary.wav")))
        appointment = Appointment(organization_id=org, agent_id=agent.id, name="Canary appointment",
                                  phone="+4930555123", starts_at=start, ends_at=start + dt.timedelta(minutes=30))
        message = Message(organization_id=org, agent_id=agent.id, phone="+4930555123", text="canary message text")
        document = KnowledgeDocument(organization_id=org, title="canary knowledge", filename="canary knowledge.txt")
        hook = Webhook(organization_id=org, url="http://127.0.0.1:9/canary-hook", events=["call.ended"])
        s.add_all([appointment, message, document, hook])
        s.flush()
        delivery = WebhookDelivery(organization_id=org, webhook_id=hook.id, event="call.ended",
                                   payload={"caller": "+4930555123"})
        s.add(delivery)
        s.flush()
        return {"agent_id": agent.id, "trunk_id": trunk.id, "route_id": route.id, "call_id": call.id,
                "contact_id": contact.id, "appointment_id": appointment.id, "message_id": message.id,
                "document_id": document.id, "webhook_id": hook.id, "delivery_id": delivery.id,
                "key_id": key.json()["id"], "user_id": user.json()["id"],
                "conversation_id": "chat-0123456789abcdef"}


BODIES = {  # bodies that pass validation where a route needs one, so the ownership check is what answers
    "transfer": {"target": "sip:desk@127.0.0.1"},
    "chat": {"text": "hello"},
}


def _body(path: str, method: str) -> dict[str, Any] | None:
    if method not in ("POST", "PATCH", "PUT"):
        return None
    for word, body in BODIES.items():
        if word in path:
            return body
    return {}


async def test_no_route_lets_another_organization_see_or_touch_the_first_ones_objects(api: Api) -> None:
    ids = await seed_org1(api)
    checked: list[str] = []
    for template, operations in api.app.openapi()["paths"].items():
        if not template.startswith("/api/v1"):
            continue
        params = re.findall(r"{(\w+)}", template)
        missing = [p for p in params if p not in ids]
        assert not missing, f"{template}: add an org-1 object for {missing} to seed_org1"
        path = template.format(**{p: ids[p] for p in params})
        for method in sorted(m.upper() for m in operations):
            r = await api.client.request(method, path, headers=api.org2.headers, json=_body(template, method))
            where = f"{method} {template}"
            for canary in CANARIES:
                assert canary not in r.text, f"{where} showed org 1's {canary!r}"
            if params:
                assert r.status_code in ALLOWED, f"{where} answered {r.status_code} to org 2: {r.text[:300]}"
            checked.append(where)
    assert len(checked) > 40  # the walk really covered the API
    # and org 1's objects are all still there, unchanged by org 2's attempts
    with api.db.session() as s:
        assert s.get(Agent, ids["agent_id"]) is not None and s.get(Contact, ids["contact_id"]) is not None
        assert s.get(Call, ids["call_id"]) is not None and s.get(Trunk, ids["trunk_id"]) is not None
    mine = await api.client.get(f"/api/v1/calls/{ids['call_id']}", headers=api.org1.headers)
    assert mine.status_code == 200 and "canary words spoken" in mine.text  # the control: org 1 sees its own
