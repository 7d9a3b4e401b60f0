"""/api/v1/gdpr over the real app: export zip, erase, retention preview and run; RBAC and tenant isolation."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from appliance.store.models import AuditEntry, Call
from tests.api.conftest import Api, running_api, settings_for
from tests.gdpr.conftest import Box
from tests.gdpr.seed import seed_caller

PHONE = "+4915199988877"
PHRASE = "the blue giraffe collects stamps"


@pytest.fixture
async def api(tmp_path) -> AsyncIterator[Api]:  # type: ignore[no-untyped-def]
    async with running_api(settings_for(tmp_path)) as value:
        await seed_caller(Box(value.settings, value.db, value.org1.id), call_id="api-call", phone=PHONE,
                          name="Gerda Giraffe", phrase=PHRASE)
        yield value


async def test_export_returns_the_subjects_zip_and_is_audited(api: Api) -> None:
    r = await api.client.get("/api/v1/gdpr/export", params={"phone": PHONE}, headers=api.org1.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"] and PHONE not in r.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    doc = json.loads(archive.read("subject.json"))
    assert doc["calls"][0]["id"] == "api-call" and any(PHRASE in t["user_text"] for t in doc["calls"][0]["turns"])
    assert "recordings/api-call-1.wav" in archive.namelist()
    with api.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "gdpr.export")).one()
        assert entry.actor == api.org1.admin_email and PHONE not in entry.target


async def test_another_org_exports_and_erases_nothing_of_ours(api: Api) -> None:
    r = await api.client.get("/api/v1/gdpr/export", params={"phone": PHONE}, headers=api.org2.headers)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("subject.json"))
    assert doc["calls"] == [] and doc["messages"] == [] and PHRASE not in json.dumps(doc)
    erased = (await api.client.post("/api/v1/gdpr/erase", json={"phone": PHONE}, headers=api.org2.headers)).json()
    assert erased["counts"]["calls"] == 0
    with api.db.session() as s:
        call = s.get(Call, "api-call")
        assert call is not None and call.caller == PHONE


async def test_erase_removes_the_subject_and_viewers_may_not(api: Api) -> None:
    viewer = await api.user(api.org1, "viewer")
    assert (await api.client.post("/api/v1/gdpr/erase", json={"phone": PHONE}, headers=viewer)).status_code == 403
    assert (await api.client.get("/api/v1/gdpr/export", params={"phone": PHONE}, headers=viewer)).status_code == 403
    nothing = await api.client.post("/api/v1/gdpr/erase", json={}, headers=api.org1.headers)
    assert nothing.status_code == 422
    r = await api.client.post("/api/v1/gdpr/erase", json={"phone": PHONE, "delete_calls": True},
                              headers=api.org1.headers)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["calls"] == 1 and r.json()["recording_files"] == 1
    with api.db.session() as s:
        assert s.get(Call, "api-call") is None
    again = (await api.client.get("/api/v1/gdpr/export", params={"phone": PHONE}, headers=api.org1.headers))
    assert json.loads(zipfile.ZipFile(io.BytesIO(again.content)).read("subject.json"))["calls"] == []


async def test_retention_preview_and_run_follow_the_org_setting(api: Api) -> None:
    preview = (await api.client.get("/api/v1/gdpr/retention", headers=api.org1.headers)).json()
    assert (preview["retention_days"], preview["calls"]) == (365, 0)
    patched = await api.client.patch("/api/v1/organizations/current/settings", json={"retention_days": 30},
                                     headers=api.org1.headers)
    assert patched.status_code == 200, patched.text
    with api.db.session() as s:
        call = s.get(Call, "api-call")
        assert call is not None
        call.started_at = call.started_at.replace(year=call.started_at.year - 1)
    preview = (await api.client.get("/api/v1/gdpr/retention", headers=api.org1.headers)).json()
    assert (preview["retention_days"], preview["calls"]) == (30, 1)
    other = (await api.client.post("/api/v1/gdpr/retention/run", headers=api.org2.headers)).json()
    assert other["organization_id"] == api.org2.id and other["calls"] == 0
    ran = (await api.client.post("/api/v1/gdpr/retention/run", headers=api.org1.headers)).json()
    assert ran["calls"] == 1 and ran["recording_files"] == 1
    with api.db.session() as s:
        assert s.get(Call, "api-call") is None
