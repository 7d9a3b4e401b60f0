"""Audio, knowledge and chat routes on the real local models, real Chroma and the real DB."""

from __future__ import annotations

import io
import wave

from sqlalchemy import select

from appliance.store.models import Agent
from tests.api.conftest import Api


async def test_synthesize_then_transcribe_round_trips_through_the_local_models(api: Api) -> None:
    spoken = await api.client.post("/api/v1/audio/synthesize", headers=api.org1.headers,
                                   json={"text": "Our opening hours are nine to five."})
    assert spoken.status_code == 200 and spoken.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(spoken.content)) as w:
        assert w.getnframes() / w.getframerate() > 1.0
    heard = await api.client.post("/api/v1/audio/transcribe", headers=api.org1.headers,
                                  files={"file": ("hours.wav", spoken.content, "audio/wav")})
    assert heard.status_code == 200, heard.text
    assert "opening hours" in heard.json()["text"].lower()


async def test_a_broken_wav_is_a_400_problem_and_a_viewer_may_not_use_audio(api: Api) -> None:
    bad = await api.client.post("/api/v1/audio/transcribe", headers=api.org1.headers,
                                files={"file": ("x.wav", b"RIFF\x00\x00not a wav", "audio/wav")})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    viewer = await api.user(api.org1, "viewer")
    denied = await api.client.post("/api/v1/audio/synthesize", headers=viewer, json={"text": "hi"})
    assert denied.status_code == 403


async def test_knowledge_is_per_organization_from_upload_to_delete(api: Api) -> None:
    doc = b"Parking: visitors park for free in the blue garage behind the clinic on Linden Street."
    up = await api.client.post("/api/v1/knowledge", headers=api.org1.headers,
                               files={"file": ("parking.txt", doc, "text/plain")})
    assert up.status_code == 201, up.text
    doc_id = up.json()["id"]
    assert up.json()["chunks"] >= 1
    listed = (await api.client.get("/api/v1/knowledge", headers=api.org1.headers)).json()
    assert [d["id"] for d in listed] == [doc_id]
    hits = (await api.client.get("/api/v1/knowledge/search", headers=api.org1.headers,
                                 params={"q": "where can I park my car"})).json()
    assert hits and hits[0]["document_id"] == doc_id and "blue garage" in hits[0]["text"]
    theirs = await api.client.get("/api/v1/knowledge/search", headers=api.org2.headers,
                                  params={"q": "where can I park my car"})
    assert theirs.json() == []
    assert (await api.client.get("/api/v1/knowledge", headers=api.org2.headers)).json() == []
    assert (await api.client.delete(f"/api/v1/knowledge/{doc_id}", headers=api.org2.headers)).status_code == 404
    unsupported = await api.client.post("/api/v1/knowledge", headers=api.org1.headers,
                                        files={"file": ("tool.exe", b"MZ...", "application/octet-stream")})
    assert unsupported.status_code == 400 and "unsupported" in unsupported.json()["detail"]
    assert (await api.client.delete(f"/api/v1/knowledge/{doc_id}", headers=api.org1.headers)).status_code == 204
    gone = (await api.client.get("/api/v1/knowledge/search", headers=api.org1.headers,
                                 params={"q": "where can I park my car"})).json()
    assert gone == []


async def test_a_chat_keeps_its_conversation_and_stays_inside_the_organization(api: Api) -> None:
    with api.db.session() as s:
        agent_id = s.scalars(select(Agent.id).where(Agent.organization_id == api.org1.id)).first()
    assert (await api.client.post("/api/v1/chat", headers=api.org2.headers, json={"agent_id": agent_id})
            ).status_code == 404
    started = await api.client.post("/api/v1/chat", headers=api.org1.headers, json={"agent_id": agent_id})
    assert started.status_code == 201, started.text
    conv = started.json()["conversation_id"]
    assert started.json()["replies"], "the agent greets first"
    reply = await api.client.post(f"/api/v1/chat/{conv}", headers=api.org1.headers,
                                  json={"text": "What are your opening hours?"})
    assert reply.status_code == 200 and reply.json()["replies"], reply.text
    assert (await api.client.post(f"/api/v1/chat/{conv}", headers=api.org2.headers, json={"text": "hi"})
            ).status_code == 404
    assert (await api.client.delete(f"/api/v1/chat/{conv}", headers=api.org1.headers)).status_code == 204
