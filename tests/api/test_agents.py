"""Agents over the API: validated as the engine reads them, scoped to the caller's organization, audited."""

from __future__ import annotations

from sqlalchemy import select

from appliance.agents import AgentConfig
from appliance.conversation.backoffice import load_agent
from appliance.store.models import AuditEntry, Route
from tests.api.conftest import Api

BASE = "/api/v1/agents"


async def test_an_agent_made_over_the_api_is_what_a_call_loads(api: Api) -> None:
    made = await api.client.post(BASE, headers=api.org1.headers, json={
        "name": "Night line", "template": "reception", "language": "de", "timezone": "Europe/Vienna",
        "greeting": "Guten Abend, hier ist {org}.", "business_hours": {"mon": [["18:00", "22:00"]]},
        "endpointing": {"min_silence_ms": 900}, "tools": ["take_message", "end_call"]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["organization_name"] == "First Org" and "booking" in body["flows"]
    assert body["endpointing"]["min_silence_ms"] == 900 and body["endpointing"]["vad_threshold"] == 0.5
    agent, org_id = load_agent(api.db, "Night line")
    assert isinstance(agent, AgentConfig) and org_id == api.org1.id
    assert agent.timezone == "Europe/Vienna" and agent.tools == ("take_message", "end_call")
    assert agent.business_hours == {"mon": [["18:00", "22:00"]]} and agent.endpointing.min_silence_ms == 900
    assert agent.greeting_text() == "Guten Abend, hier ist First Org."


async def test_patch_changes_only_what_it_names_and_is_audited(api: Api) -> None:
    made = (await api.client.post(BASE, headers=api.org1.headers, json={"name": "Support"})).json()
    assert made["flows"] == {} and made["language"] == "en"
    patched = await api.client.patch(f"{BASE}/{made['id']}", headers=api.org1.headers,
                                     json={"greeting": "Support desk, how can I help?", "max_misses": 2})
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["greeting"] == "Support desk, how can I help?" and after["max_misses"] == 2
    assert {k: v for k, v in after.items() if k not in ("greeting", "max_misses", "updated_at")} == \
        {k: v for k, v in made.items() if k not in ("greeting", "max_misses", "updated_at")}
    with api.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "agent.update")).one()
        assert entry.detail == {"fields": ["greeting", "max_misses"]} and entry.target == f"agent:{made['id']}"


async def test_invalid_agents_are_refused_with_the_reason(api: Api) -> None:
    cases = [
        ({"name": "X", "timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"name": "X", "tools": ["launch_rocket"]}, "unknown tools"),
        ({"name": "X", "business_hours": {"mon": [["17:00", "09:00"]]}}, "is not before"),
        ({"name": "X", "flows": {"menu": {"steps": [{"type": "menu", "prompt": "Press 1",
                                                     "options": [{"digit": "1", "goto": "nowhere"}]}]}}},
         "unknown flow 'nowhere'"),
        ({"name": "X", "flows": {"f": {"steps": [{"type": "slot", "slot": "when", "prompt": "When?",
                                                  "kind": "weekday"}]}}}, "kind"),
        ({"name": "X", "colour": "blue"}, "Extra inputs"),
        ({"name": ""}, "at least 1 character"),
    ]
    for body, reason in cases:
        r = await api.client.post(BASE, headers=api.org1.headers, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert reason in str(r.json()["errors"]), (reason, r.json())


async def test_names_are_unique_per_organization_only(api: Api) -> None:
    assert (await api.client.post(BASE, headers=api.org1.headers, json={"name": "Sales"})).status_code == 201
    again = await api.client.post(BASE, headers=api.org1.headers, json={"name": "Sales"})
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    assert (await api.client.post(BASE, headers=api.org2.headers, json={"name": "Sales"})).status_code == 201


async def test_another_organizations_agent_is_not_found_and_its_list_is_its_own(api: Api) -> None:
    mine = (await api.client.post(BASE, headers=api.org1.headers, json={"name": "Private"})).json()
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.client.request(method, f"{BASE}/{mine['id']}", headers=api.org2.headers,
                                     json={"greeting": "hijacked"} if method == "PATCH" else None)
        assert r.status_code == 404, (method, r.text)
    assert "Private" not in [a["name"] for a in (await api.client.get(BASE, headers=api.org2.headers)).json()]
    assert (await api.client.get(f"{BASE}/{mine['id']}", headers=api.org1.headers)).json()["greeting"] != "hijacked"


async def test_a_routed_agent_cannot_be_deleted_and_a_viewer_cannot_change_agents(api: Api) -> None:
    with api.db.session() as s:
        routed = s.scalars(select(Route.agent_id).where(Route.organization_id == api.org1.id)).first()
    refused = await api.client.delete(f"{BASE}/{routed}", headers=api.org1.headers)
    assert refused.status_code == 409 and "route" in refused.json()["detail"]
    viewer = await api.user(api.org1, "viewer")
    assert (await api.client.get(BASE, headers=viewer)).status_code == 200
    assert (await api.client.post(BASE, headers=viewer, json={"name": "Nope"})).status_code == 403
    spare = (await api.client.post(BASE, headers=api.org1.headers, json={"name": "Spare"})).json()
    assert (await api.client.delete(f"{BASE}/{spare['id']}", headers=api.org1.headers)).status_code == 204
    assert (await api.client.get(f"{BASE}/{spare['id']}", headers=api.org1.headers)).status_code == 404
