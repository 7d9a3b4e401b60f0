"""Call history over the API: filters, cursor pages, detail with turns/latency/events, recording download with
HTTP Range, and the live-call routes of an API that runs without `vocaliq serve`."""

from __future__ import annotations

import datetime as dt
import io
import wave
from pathlib import Path

import numpy as np
from sqlalchemy import select

from appliance.store.models import Agent, Call, CallEventRow, Recording, Turn
from tests.api.conftest import Api

CALLS = "/api/v1/calls"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def agent_of(api: Api, org_id: int) -> int:
    with api.db.session() as s:
        agent = s.scalars(select(Agent.id).where(Agent.organization_id == org_id)).first()
        if agent is None:
            row = Agent(organization_id=org_id, name="Theirs")
            s.add(row)
            s.flush()
            agent = row.id
        return agent


def seed_calls(api: Api) -> dict[str, str]:
    """Seven calls in org 1 an hour apart (newest last) and two in org 2; returns name -> call id."""
    a1, a2 = agent_of(api, api.org1.id), agent_of(api, api.org2.id)
    specs = [
        ("c0", api.org1.id, a1, "inbound", "+4930111000", "caller_hangup"),
        ("c1", api.org1.id, a1, "inbound", "+4930111001", "transferred"),
        ("c2", api.org1.id, None, "outbound", "+4940222000", "caller_hangup"),
        ("c3", api.org1.id, a1, "inbound", "+4930111003", "no_input"),
        ("c4", api.org1.id, a1, "inbound", "+4989333000", "caller_hangup"),
        ("c5", api.org1.id, a1, "outbound", "+4930111005", "agent_hangup"),
        ("c6", api.org1.id, a1, "inbound", "+4930111006", ""),
        ("x0", api.org2.id, a2, "inbound", "+4930111007", "caller_hangup"),
        ("x1", api.org2.id, a2, "inbound", "+4930111008", "caller_hangup"),
    ]
    ids = {}
    with api.db.session() as s:
        for i, (name, org, agent, direction, caller, outcome) in enumerate(specs):
            call = Call(organization_id=org, agent_id=agent, direction=direction, caller=caller, callee="+4930999",
                        status="active" if not outcome else "ended", end_reason=outcome,
                        started_at=T0 + dt.timedelta(hours=i % 7), duration_s=30.0 + i)
            s.add(call)
            s.flush()
            ids[name] = call.id
    return ids


async def page_ids(api: Api, **params: str | int) -> list[str]:
    r = await api.client.get(CALLS, headers=api.org1.headers, params=params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


async def test_lists_filter_and_page_newest_first_within_the_organization(api: Api) -> None:
    ids = seed_calls(api)
    newest_first = [ids[f"c{i}"] for i in range(6, -1, -1)]
    assert await page_ids(api) == newest_first
    walked, cursor = [], None
    while True:
        r = (await api.client.get(CALLS, headers=api.org1.headers,
                                  params={"limit": 3} | ({"cursor": cursor} if cursor else {}))).json()
        walked += [c["id"] for c in r["items"]]
        if (cursor := r["next_cursor"]) is None:
            break
    assert walked == newest_first
    since, until = (T0 + dt.timedelta(hours=2)).isoformat(), (T0 + dt.timedelta(hours=5)).isoformat()
    assert await page_ids(api, since=since, until=until) == [ids["c4"], ids["c3"], ids["c2"]]
    assert await page_ids(api, direction="outbound") == [ids["c5"], ids["c2"]]
    assert await page_ids(api, outcome="caller_hangup") == [ids["c4"], ids["c2"], ids["c0"]]
    assert await page_ids(api, status="active") == [ids["c6"]]
    assert await page_ids(api, caller="+4930111003") == [ids["c3"]]
    assert await page_ids(api, caller="+49301110*") == [ids["c6"], ids["c5"], ids["c3"], ids["c1"], ids["c0"]]
    assert await page_ids(api, agent_id=agent_of(api, api.org2.id)) == []
    theirs = (await api.client.get(CALLS, headers=api.org2.headers)).json()["items"]
    assert sorted(c["id"] for c in theirs) == sorted([ids["x0"], ids["x1"]])
    bad = await api.client.get(CALLS, headers=api.org1.headers, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    first = (await api.client.get(CALLS, headers=api.org1.headers)).json()["items"][-1]
    assert first["started_at"] == "2026-03-02T09:00:00Z" and first["caller"] == "+4930111000"


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    stereo = np.stack([pcm, pcm // 2], axis=1).tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo)
    return out.getvalue()


def seed_detail(api: Api, call_id: str, recording: Path) -> None:
    with api.db.session() as s:
        call = s.get(Call, call_id)
        assert call is not None
        org = call.organization_id
        for index, (user, played, v2v) in enumerate([("", "Hello, how can I help?", None),
                                                     ("When are you open?", "Nine to five.", 820.0),
                                                     ("Thanks", "Goodbye!", 640.0)]):
            s.add(Turn(organization_id=org, call_id=call_id, index=index, user_text=user, agent_text=played,
                       played_text=played, latency={"stt_ms": None if v2v is None else 120.0 + index,
                                                    "v2v_ms": v2v}))
        for ts, kind in ((100.0, "CallStarted"), (100.25, "AgentSpeechStarted"), (103.5, "CallEnded")):
            s.add(CallEventRow(organization_id=org, call_id=call_id, type=kind, ts=ts, payload={"x": kind}))
        s.add(Recording(organization_id=org, call_id=call_id, path=str(recording), duration_s=0.5))


async def test_detail_has_turns_latency_breakdown_events_and_a_range_served_recording(api: Api) -> None:
    ids = seed_calls(api)
    day = api.settings.paths.recordings / "2026-03-02"
    day.mkdir(parents=True, exist_ok=True)
    audio = wav_bytes()
    (day / f"{ids['c1']}.wav").write_bytes(audio)
    seed_detail(api, ids["c1"], day / f"{ids['c1']}.wav")
    r = await api.client.get(f"{CALLS}/{ids['c1']}", headers=api.org1.headers)
    assert r.status_code == 200, r.text
    call = r.json()
    assert [t["played_text"] for t in call["turns"]] == ["Hello, how can I help?", "Nine to five.", "Goodbye!"]
    stages = {s["stage"]: s for s in call["latency"]}
    assert stages["v2v"] == {"stage": "v2v", "turns": 2, "mean_ms": 730.0, "p50_ms": 730.0, "max_ms": 820.0}
    assert stages["stt"]["turns"] == 2 and "llm_ttft" not in stages
    assert [(e["type"], e["at_ms"]) for e in call["events"]] == [
        ("CallStarted", 0.0), ("AgentSpeechStarted", 250.0), ("CallEnded", 3500.0)]
    [rec] = call["recordings"]
    whole = await api.client.get(rec["download"], headers=api.org1.headers)
    assert whole.status_code == 200 and whole.content == audio and whole.headers["accept-ranges"] == "bytes"
    part = await api.client.get(rec["download"], headers={**api.org1.headers, "Range": "bytes=44-1043"})
    assert part.status_code == 206 and part.content == audio[44:1044]
    assert part.headers["content-range"] == f"bytes 44-1043/{len(audio)}"
    tail = await api.client.get(f"{CALLS}/{ids['c1']}/recording", headers={**api.org1.headers,
                                                                          "Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == audio[-100:]
    beyond = await api.client.get(rec["download"], headers={**api.org1.headers, "Range": f"bytes={len(audio)}-"})
    assert beyond.status_code == 416
    for url in (f"{CALLS}/{ids['c1']}", rec["download"]):
        assert (await api.client.get(url, headers=api.org2.headers)).status_code == 404


async def test_recordings_outside_the_recordings_dir_missing_or_encrypted_are_not_served(
        api: Api, tmp_path: Path) -> None:
    ids = seed_calls(api)
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(wav_bytes())
    with api.db.session() as s:
        s.add(Recording(organization_id=api.org1.id, call_id=ids["c2"], path=str(outside)))
        s.add(Recording(organization_id=api.org1.id, call_id=ids["c3"],
                        path=str(api.settings.paths.recordings / "gone.wav")))
        s.add(Recording(organization_id=api.org1.id, call_id=ids["c4"], path=str(outside), encrypted=True))
    for name, status in (("c2", 404), ("c3", 404), ("c4", 409), ("c5", 404)):
        r = await api.client.get(f"{CALLS}/{ids[name]}/recording", headers=api.org1.headers)
        assert r.status_code == status, (name, r.text)


async def test_without_a_live_appliance_there_are_no_live_calls_and_control_is_unavailable(api: Api) -> None:
    assert (await api.client.get(f"{CALLS}/live", headers=api.org1.headers)).json() == []
    agent = agent_of(api, api.org1.id)
    placed = await api.client.post(f"{CALLS}/outbound", headers=api.org1.headers,
                                   json={"to": "sip:someone@127.0.0.1:5999", "agent_id": agent})
    assert placed.status_code == 503 and "vocaliq serve" in placed.json()["detail"]
    assert (await api.client.post(f"{CALLS}/outbound", headers=api.org2.headers,
                                  json={"to": "+4930123", "agent_id": agent})).status_code == 404
    assert (await api.client.post(f"{CALLS}/abc/hangup", headers=api.org1.headers)).status_code == 503
    editor = await api.user(api.org1, "editor")
    assert (await api.client.post(f"{CALLS}/abc/hangup", headers=editor)).status_code == 403
    assert (await api.client.post(f"{CALLS}/abc/transfer", headers=api.org1.headers,
                                  json={"target": "not a target"})).status_code == 422
