"""Messages over the API: the ones the agent's take_message tool stored, newest first with filters and offset
pages, marked read/done, deleted, and never across organizations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from appliance.conversation.backoffice import DbBackoffice
from appliance.store.models import Agent, AuditEntry, Message
from tests.api.conftest import Api

MESSAGES = "/api/v1/messages"
T0 = dt.datetime(2026, 4, 1, 8, 0)


def an_agent(api: Api, org_id: int, name: str) -> int:
    with api.db.session() as s:
        row = Agent(organization_id=org_id, name=name)
        s.add(row)
        s.flush()
        return row.id


async def take(api: Api, org_id: int, agent_id: int, name: str, phone: str, hours: int) -> int:
    """A message as a call stores it, taken `hours` after T0."""
    message_id = int(await DbBackoffice(api.db, org_id, agent_id=agent_id).create_message(
        name=name, phone=phone, text=f"please call {name} back", call_id=""))
    with api.db.session() as s:
        s.execute(update(Message).where(Message.id == message_id)
                  .values(created_at=T0 + dt.timedelta(hours=hours)))
    return message_id


async def listed(api: Api, headers: dict[str, str], **params: str | int) -> list[int]:
    r = await api.client.get(MESSAGES, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()]


async def test_lists_newest_first_with_filters_and_pages(api: Api) -> None:
    front, back = an_agent(api, api.org1.id, "Front"), an_agent(api, api.org1.id, "Back")
    m0 = await take(api, api.org1.id, front, "Ada", "+4930100", 0)
    m1 = await take(api, api.org1.id, back, "Ben", "+4930101", 1)
    m2 = await take(api, api.org1.id, front, "Cem", "+4930102", 2)
    theirs = await take(api, api.org2.id, an_agent(api, api.org2.id, "Theirs"), "Dora", "+4930103", 3)

    assert await listed(api, api.org1.headers) == [m2, m1, m0]
    assert await listed(api, api.org2.headers) == [theirs]
    assert await listed(api, api.org1.headers, limit=2) == [m2, m1]
    assert await listed(api, api.org1.headers, limit=2, offset=2) == [m0]
    assert await listed(api, api.org1.headers, agent_id=front) == [m2, m0]
    assert await listed(api, api.org1.headers, since=(T0 + dt.timedelta(hours=1)).isoformat(),
                        until=(T0 + dt.timedelta(hours=2)).isoformat()) == [m1]
    assert await listed(api, api.org1.headers, since=(T0 + dt.timedelta(minutes=30)).isoformat() + "Z") == [m2, m1]
    first = (await api.client.get(f"{MESSAGES}/{m0}", headers=api.org1.headers)).json()
    assert first == {"id": m0, "agent_id": front, "call_id": None, "caller_name": "Ada", "phone": "+4930100",
                     "text": "please call Ada back", "status": "new", "created_at": "2026-04-01T08:00:00Z"}
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "archived"}):
        assert (await api.client.get(MESSAGES, headers=api.org1.headers, params=bad)).status_code == 422, bad


async def test_mark_handled_delete_audit_and_isolation(api: Api) -> None:
    agent = an_agent(api, api.org1.id, "Front")
    mine = await take(api, api.org1.id, agent, "Erika Muster", "+4917612345", 0)
    other = await take(api, api.org1.id, agent, "Fritz", "+4917699999", 1)
    url = f"{MESSAGES}/{mine}"
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.client.request(method, url, headers=api.org2.headers,
                                     json={"status": "done"} if method == "PATCH" else None)
        assert r.status_code == 404, method
        assert "Erika" not in r.text
    viewer = await api.user(api.org1, "viewer")
    assert (await api.client.get(url, headers=viewer)).status_code == 200
    assert (await api.client.patch(url, headers=viewer, json={"status": "done"})).status_code == 403
    assert (await api.client.patch(url, headers=api.org1.headers, json={"status": "gone"})).status_code == 422
    done = await api.client.patch(url, headers=api.org1.headers, json={"status": "done"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert await listed(api, api.org1.headers, status="new") == [other]
    assert await listed(api, api.org1.headers, status="done") == [mine]
    assert (await api.client.delete(url, headers=api.org1.headers)).status_code == 204
    assert (await api.client.get(url, headers=api.org1.headers)).status_code == 404
    with api.db.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action.like("message.%"))
                                 .order_by(AuditEntry.id)))
    assert [(e.action, e.target) for e in entries] == [("message.update", f"message:{mine}"),
                                                       ("message.delete", f"message:{mine}")]
    assert not any("Erika" in str(e.detail) or "4917612345" in str(e.detail) for e in entries)
