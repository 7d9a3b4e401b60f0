"""Trunks (write-only passwords in the secrets dir) and routes (number → agent) over the API."""

from __future__ import annotations

import stat

from sqlalchemy import select

from appliance.store.models import Agent, AuditEntry
from appliance.store.routing import agent_for_number, sip_trunks
from tests.api.conftest import Api

TRUNKS, ROUTES = "/api/v1/trunks", "/api/v1/routes"
PASSWORD = "s3cret-trunk-pass"


async def test_a_trunk_password_goes_to_a_0600_secret_file_the_sip_side_reads_and_is_never_shown(api: Api) -> None:
    made = await api.client.post(TRUNKS, headers=api.org1.headers, json={
        "name": "carrier", "host": "sip.carrier.example", "username": "4930123", "password": PASSWORD,
        "realm": "carrier.example", "allowed_cidrs": ["192.0.2.0/24"]})
    assert made.status_code == 201, made.text
    trunk = made.json()
    assert trunk["password_set"] is True and PASSWORD not in made.text and "password" not in trunk
    secret = api.settings.paths.secret(f"trunk-{trunk['id']}-password")
    assert secret.read_text() == PASSWORD and stat.S_IMODE(secret.stat().st_mode) == 0o600
    [row] = sip_trunks(api.db, api.settings)
    assert row["password"] == PASSWORD and row["registrar"] == "sip:sip.carrier.example:5060"
    for url in (TRUNKS, f"{TRUNKS}/{trunk['id']}"):
        assert PASSWORD not in (await api.client.get(url, headers=api.org1.headers)).text
    renamed = await api.client.patch(f"{TRUNKS}/{trunk['id']}", headers=api.org1.headers, json={"port": 5080})
    assert renamed.json()["password_set"] and secret.exists()
    cleared = await api.client.patch(f"{TRUNKS}/{trunk['id']}", headers=api.org1.headers, json={"password": ""})
    assert cleared.json()["password_set"] is False and not secret.exists()
    await api.client.patch(f"{TRUNKS}/{trunk['id']}", headers=api.org1.headers, json={"password": "another-one"})
    assert secret.exists()
    assert (await api.client.delete(f"{TRUNKS}/{trunk['id']}", headers=api.org1.headers)).status_code == 204
    assert not secret.exists() and sip_trunks(api.db, api.settings) == []
    with api.db.session() as s:
        details = [str(e.detail) for e in s.scalars(select(AuditEntry).where(AuditEntry.action.like("trunk.%")))]
    assert len(details) == 5 and not any(PASSWORD in d or "another-one" in d for d in details)


async def test_inconsistent_trunks_are_refused_with_the_reason(api: Api) -> None:
    cases = [
        ({"name": "a", "kind": "register", "host": "pbx.example"}, 400, "username"),
        ({"name": "b", "kind": "ip"}, 400, "allowed_cidrs"),
        ({"name": "c", "kind": "ip", "allowed_cidrs": ["10.0.0.300"]}, 422, "not an IP address"),
        ({"name": "d", "host": "pbx.example", "username": "u", "srtp": "mandatory"}, 400, "tls"),
        ({"name": "bad name!", "kind": "ip", "allowed_cidrs": ["10.0.0.1"]}, 422, "pattern"),
    ]
    for body, status, reason in cases:
        r = await api.client.post(TRUNKS, headers=api.org1.headers, json=body)
        assert r.status_code == status and reason in r.text, (body, r.text)
    ok = await api.client.post(TRUNKS, headers=api.org1.headers,
                               json={"name": "pbx", "kind": "ip", "allowed_cidrs": ["10.0.0.5"]})
    assert ok.status_code == 201 and ok.json()["allowed_cidrs"] == ["10.0.0.5/32"]
    taken = await api.client.post(TRUNKS, headers=api.org2.headers,
                                  json={"name": "pbx", "kind": "ip", "allowed_cidrs": ["10.0.0.6"]})
    assert taken.status_code == 409  # the SIP stack keys trunks by name box-wide


async def test_trunks_are_invisible_to_other_organizations_and_editors_cannot_change_them(api: Api) -> None:
    trunk = (await api.client.post(TRUNKS, headers=api.org1.headers, json={
        "name": "mine", "kind": "ip", "allowed_cidrs": ["198.51.100.7"], "password": PASSWORD})).json()
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.client.request(method, f"{TRUNKS}/{trunk['id']}", headers=api.org2.headers,
                                     json={"password": "stolen"} if method == "PATCH" else None)
        assert r.status_code == 404, method
    assert (await api.client.get(TRUNKS, headers=api.org2.headers)).json() == []
    assert api.settings.paths.secret(f"trunk-{trunk['id']}-password").read_text() == PASSWORD
    editor = await api.user(api.org1, "editor")
    assert (await api.client.get(TRUNKS, headers=editor)).status_code == 200
    assert (await api.client.patch(f"{TRUNKS}/{trunk['id']}", headers=editor, json={"port": 1})).status_code == 403


async def test_a_route_sends_its_number_to_the_agent_and_stays_inside_the_organization(api: Api) -> None:
    with api.db.session() as s:
        reception = s.scalars(select(Agent).where(Agent.organization_id == api.org1.id)).one()
        reception_id, reception_name = reception.id, reception.name
    night = (await api.client.post("/api/v1/agents", headers=api.org1.headers, json={"name": "Night"})).json()
    made = await api.client.post(ROUTES, headers=api.org1.headers,
                                 json={"did_pattern": "+49301112*", "agent_id": night["id"]})
    assert made.status_code == 201, made.text
    route = made.json()
    assert agent_for_number(api.db, "+4930111299") == "Night"
    assert agent_for_number(api.db, "+4940000000") == reception_name  # the '*' route made by init
    assert (await api.client.post(ROUTES, headers=api.org1.headers,
                                  json={"did_pattern": "+49301112*", "agent_id": reception_id})).status_code == 409

    theirs = (await api.client.post("/api/v1/agents", headers=api.org2.headers, json={"name": "Theirs"})).json()
    steal = await api.client.post(ROUTES, headers=api.org2.headers,
                                  json={"did_pattern": "+49301112*", "agent_id": theirs["id"]})
    assert steal.status_code == 409 and "another organization" in steal.json()["detail"]
    foreign_agent = await api.client.post(ROUTES, headers=api.org2.headers,
                                          json={"did_pattern": "+4989*", "agent_id": night["id"]})
    assert foreign_agent.status_code == 404
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.client.request(method, f"{ROUTES}/{route['id']}", headers=api.org2.headers,
                                     json={"agent_id": theirs["id"]} if method == "PATCH" else None)
        assert r.status_code == 404, method
    assert (await api.client.get(ROUTES, headers=api.org2.headers)).json() == []

    moved = await api.client.patch(f"{ROUTES}/{route['id']}", headers=api.org1.headers,
                                   json={"agent_id": reception_id})
    assert moved.status_code == 200 and agent_for_number(api.db, "+4930111299") == reception_name
    assert (await api.client.delete(f"{ROUTES}/{route['id']}", headers=api.org1.headers)).status_code == 204
    assert (await api.client.get(f"{ROUTES}/{route['id']}", headers=api.org1.headers)).status_code == 404
