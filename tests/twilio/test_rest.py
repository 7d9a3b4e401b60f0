"""Twilio's REST API against a local HTTP server that speaks it (the client's base URL pointed at it): outbound
calls from the API and the CLI, answered and run like Twilio would; SMS to staff after take_message; Twilio's
refusals and an unreachable Twilio as clear errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from appliance.conversation import CallServices
from appliance.conversation.backoffice import load_agent
from appliance.conversation.session import CallSession
from appliance.legs.text import TextLeg
from appliance.store.models import Call, CallEventRow
from tests.fakes.llm import ScriptedLLM
from tests.fakes.models import TextModels
from tests.twilio.conftest import NUMBER, Box, free_socket
from tests.twilio.test_media_stream import greeted, wait_row_ended
from tests.twilio.twilio_double import ACCOUNT_SID, AUTH_TOKEN, TwilioPhone, signed_post, stream_url_of

REPO = Path(__file__).resolve().parents[2]
CALLEE = "+4930555000111"
STAFF = "+4930111222333"


async def test_outbound_call_from_the_api_is_placed_at_twilio_and_the_answered_call_gets_the_agent(box: Box) -> None:
    r = await box.client.post("/api/v1/twilio/calls", json={"to": CALLEE, "agent_id": box.agent_id},
                              headers=box.headers)
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["from_number"] == NUMBER and placed["call_sid"].startswith("CA")
    [request] = box.twilio.made("Calls")
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert (request.one("To"), request.one("From")) == (CALLEE, NUMBER)
    voice_url = request.one("Url")
    assert voice_url == f"{box.base}/twilio/voice?org={box.org_id}&agent={box.agent_id}"
    assert request.one("StatusCallback") == f"{box.base}/twilio/status?org={box.org_id}&agent={box.agent_id}"

    # the callee answers: Twilio fetches the voice URL (signed), then opens the stream
    r, call_sid = await box.answer(placed["call_sid"], url=voice_url, to=CALLEE, from_=NUMBER,
                                   direction="outbound-api")
    assert r.status_code == 200, r.text
    async with TwilioPhone(stream_url_of(r.text), call_sid) as phone:
        await greeted(phone)
        await phone.stop()
    call, _ = await wait_row_ended(box, call_sid)
    assert (call.direction, call.caller, call.callee, call.transport) == ("outbound", NUMBER, CALLEE, "twilio")

    status = {"AccountSid": ACCOUNT_SID, "CallSid": call_sid, "CallStatus": "completed", "CallDuration": "4",
              "Direction": "outbound-api", "From": NUMBER, "To": CALLEE}
    r = await signed_post(box.client, request.one("StatusCallback"), status)
    assert r.status_code == 204
    with box.db.session() as s:
        row = s.get(Call, call_sid)
        assert row is not None and row.external_id == call_sid and row.end_reason == "caller_hangup"
        kinds = s.scalars(select(CallEventRow.type).where(CallEventRow.call_id == call_sid)).all()
        assert "TwilioStatus" in kinds and "CallEnded" in kinds


async def test_twilio_refusing_the_credentials_is_a_502_with_its_reason(box: Box) -> None:
    assert (await box.configure(auth_token="0" * 32)).status_code == 200
    r = await box.client.post("/api/v1/twilio/calls", json={"to": CALLEE, "agent_id": box.agent_id},
                              headers=box.headers)
    assert r.status_code == 502
    assert "Authenticate" in r.json()["detail"] and "HTTP 401" in r.json()["detail"]
    assert "0" * 32 not in r.text


async def test_unreachable_twilio_is_a_502(box: Box) -> None:
    sock = free_socket()  # bound, never listening: connection refused
    try:
        assert (await box.configure(api_base_url=f"http://127.0.0.1:{sock.getsockname()[1]}")).status_code == 200
        r = await box.client.post("/api/v1/twilio/calls", json={"to": CALLEE, "agent_id": box.agent_id},
                                  headers=box.headers)
    finally:
        sock.close()
    assert r.status_code == 502 and "cannot reach Twilio" in r.json()["detail"]


async def test_outbound_call_needs_a_public_url_and_a_known_agent(box: Box) -> None:
    r = await box.client.post("/api/v1/twilio/calls", json={"to": CALLEE, "agent_id": 999}, headers=box.headers)
    assert r.status_code == 404
    assert (await box.configure(public_url="")).status_code == 200
    r = await box.client.post("/api/v1/twilio/calls", json={"to": CALLEE, "agent_id": box.agent_id},
                              headers=box.headers)
    assert r.status_code == 400 and "public_url" in r.json()["detail"]
    assert box.twilio.made("Calls") == []


async def _take_message(box: Box, caller: str = "+4930123456") -> None:
    agent, org = load_agent(box.db, "Reception")
    bus = box.app.state.twilio.local.services.bus  # the box's bus, where the SMS hook listens
    leg = TextLeg(_lines(["Can I leave a message?", "Peter Miller", "Please call me back about my invoice", "yes"]),
                  on_text=lambda _: None, caller=caller)
    session = CallSession(leg, services=CallServices(models=TextModels(llm=ScriptedLLM()), bus=bus, db=box.db,
                                                     organization_id=org), agent=agent, transport="text")
    await asyncio.wait_for(session.run(), 30)
    await box.app.state.twilio.sms.drain()


async def _lines(lines: list[str]):  # type: ignore[no-untyped-def]
    for line in lines:
        await asyncio.sleep(0)
        yield line


async def test_message_taken_texts_the_agents_staff(box: Box) -> None:
    assert (await box.configure(message_sms={box.agent_id: [STAFF]})).status_code == 200
    await _take_message(box)
    [sms] = box.twilio.made("Messages")
    assert sms.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert (sms.one("To"), sms.one("From")) == (STAFF, NUMBER)
    assert "Peter Miller" in sms.one("Body") and "invoice" in sms.one("Body") and "+4930123456" in sms.one("Body")


async def test_no_sms_for_an_agent_not_configured_for_it(box: Box) -> None:
    await _take_message(box)
    assert box.twilio.made("Messages") == []


async def test_call_out_via_twilio_from_the_cli(box: Box) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "call-out", "--via", "twilio", "--to", CALLEE, "--agent", "Reception",
        "--data-dir", str(box.settings.data_dir), "--json", cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    result = json.loads(out)
    assert result["via"] == "twilio" and result["call_sid"].startswith("CA") and result["from"] == NUMBER
    [request] = box.twilio.made("Calls")
    assert request.one("To") == CALLEE and f"agent={box.agent_id}" in request.one("Url")
