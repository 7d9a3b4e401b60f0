"""Contacts over the API: what the agent's caller lookup finds, one contact per number, org-scoped."""

from __future__ import annotations

from sqlalchemy import select

from appliance.conversation.backoffice import DbBackoffice
from appliance.store.models import AuditEntry
from tests.api.conftest import Api

CONTACTS = "/api/v1/contacts"


async def test_a_contact_made_over_the_api_is_found_by_the_agents_caller_lookup(api: Api) -> None:
    made = await api.client.post(CONTACTS, headers=api.org1.headers, json={
        "name": "Jane Roe", "phone": "+49 30 123-456", "email": "jane@example.org", "notes": "prefers mornings"})
    assert made.status_code == 201, made.text
    assert made.json()["phone"] == "+4930123456"
    lookup = DbBackoffice(api.db, api.org1.id)
    assert await lookup.find_contact("+4930123456") == {"name": "Jane Roe", "phone": "+4930123456",
                                                        "email": "jane@example.org"}
    assert await DbBackoffice(api.db, api.org2.id).find_contact("+4930123456") is None
    dup = await api.client.post(CONTACTS, headers=api.org1.headers, json={"name": "Other", "phone": "+4930123456"})
    assert dup.status_code == 409
    assert (await api.client.post(CONTACTS, headers=api.org2.headers,
                                  json={"name": "Same number elsewhere", "phone": "+4930123456"})).status_code == 201
    bad = await api.client.post(CONTACTS, headers=api.org1.headers, json={"name": "X", "phone": "call me maybe"})
    assert bad.status_code == 422
    with api.db.session() as s:
        details = [str(e.detail) + e.target for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action.like("contact.%")))]
    assert details and not any("Jane" in d or "4930123456" in d for d in details)


async def test_search_update_delete_and_isolation(api: Api) -> None:
    for name, phone in (("Anna Schmidt", "+4989111"), ("Bernd Maier", "+4989222"), ("Clara Schmidt", "")):
        assert (await api.client.post(CONTACTS, headers=api.org1.headers,
                                      json={"name": name, "phone": phone})).status_code == 201
    found = (await api.client.get(CONTACTS, headers=api.org1.headers, params={"q": "schmidt"})).json()
    assert [c["name"] for c in found] == ["Anna Schmidt", "Clara Schmidt"]
    assert [c["name"] for c in (await api.client.get(CONTACTS, headers=api.org1.headers,
                                                     params={"q": "89222"})).json()] == ["Bernd Maier"]
    anna = found[0]
    patched = await api.client.patch(f"{CONTACTS}/{anna['id']}", headers=api.org1.headers,
                                     json={"email": "anna@example.org", "external_ref": "crm-17"})
    assert patched.json()["email"] == "anna@example.org" and patched.json()["phone"] == "+4989111"
    assert (await api.client.patch(f"{CONTACTS}/{anna['id']}", headers=api.org1.headers,
                                   json={"phone": "+49 89 222"})).status_code == 409
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.client.request(method, f"{CONTACTS}/{anna['id']}", headers=api.org2.headers,
                                     json={"notes": "x"} if method == "PATCH" else None)
        assert r.status_code == 404, method
    assert (await api.client.get(CONTACTS, headers=api.org2.headers, params={"q": "schmidt"})).json() == []
    assert (await api.client.delete(f"{CONTACTS}/{anna['id']}", headers=api.org1.headers)).status_code == 204
    assert (await api.client.get(f"{CONTACTS}/{anna['id']}", headers=api.org1.headers)).status_code == 404
