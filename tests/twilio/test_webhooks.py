"""Twilio's webhooks on the real app over loopback HTTP: X-Twilio-Signature vectors checked with the twilio
library's RequestValidator, organization lookup (404 without settings), the TwiML answer, status callbacks."""

from __future__ import annotations

import stat

from sqlalchemy import select

from appliance.store.models import Call, CallEventRow, Setting, WebhookDelivery
from appliance.twilio.signature import sign
from tests.twilio.conftest import CALLER, NUMBER, Box
from tests.twilio.twilio_double import AUTH_TOKEN, sid, signed_post, stream_url_of, voice_params


async def test_valid_signature_gets_twiml_connecting_a_single_use_stream(box: Box) -> None:
    r, call_sid = await box.answer()
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    assert "<Connect><Stream url=" in r.text
    url = stream_url_of(r.text)
    assert url.startswith(box.base.replace("http://", "ws://") + "/twilio/stream/")
    r2, _ = await box.answer(call_sid)
    assert stream_url_of(r2.text) != url  # a fresh token per webhook


async def test_tampered_body_is_refused(box: Box) -> None:
    params = voice_params(sid("CA"), to=NUMBER, from_=CALLER)
    tampered = {**params, "From": "+4930999999999"}
    r = await signed_post(box.client, f"{box.base}/twilio/voice", params, body=tampered)
    assert r.status_code == 403
    assert "Signature" in r.json()["detail"]


async def test_signature_for_another_url_is_refused(box: Box) -> None:
    params = voice_params(sid("CA"), to=NUMBER, from_=CALLER)
    wrong = sign(AUTH_TOKEN, "https://attacker.example/twilio/voice", params)
    r = await signed_post(box.client, f"{box.base}/twilio/voice", params, signature=wrong)
    assert r.status_code == 403


async def test_missing_signature_header_is_refused(box: Box) -> None:
    params = voice_params(sid("CA"), to=NUMBER, from_=CALLER)
    r = await signed_post(box.client, f"{box.base}/twilio/voice", params, signature="")
    assert r.status_code == 403


async def test_signature_with_another_token_is_refused(box: Box) -> None:
    params = voice_params(sid("CA"), to=NUMBER, from_=CALLER)
    r = await signed_post(box.client, f"{box.base}/twilio/voice", params, token="0" * 32)
    assert r.status_code == 403


async def test_number_of_no_organization_is_not_found(box: Box) -> None:
    r, _ = await box.answer(to="+15550100999")
    assert r.status_code == 404


async def test_without_twilio_settings_every_webhook_is_not_found(box: Box) -> None:
    r = await box.client.delete("/api/v1/twilio/settings", headers=box.headers)
    assert r.status_code == 204
    r, _ = await box.answer()
    assert r.status_code == 404
    params = {"AccountSid": voice_params("CA1", to=NUMBER, from_=CALLER)["AccountSid"], "CallSid": sid("CA"),
              "CallStatus": "completed", "To": NUMBER, "From": CALLER}
    r = await signed_post(box.client, f"{box.base}/twilio/status", params)
    assert r.status_code == 404


async def test_behind_a_proxy_the_public_url_is_what_is_signed(box: Box) -> None:
    r = await box.configure(public_url="https://vocaliq.example.com/phone")
    assert r.status_code == 200, r.text
    params = voice_params(sid("CA"), to=NUMBER, from_=CALLER)
    signature = sign(AUTH_TOKEN, "https://vocaliq.example.com/phone/twilio/voice", params)
    r = await signed_post(box.client, f"{box.base}/twilio/voice", params, signature=signature)
    assert r.status_code == 200, r.text
    assert stream_url_of(r.text).startswith("wss://vocaliq.example.com/phone/twilio/stream/")
    r = await signed_post(box.client, f"{box.base}/twilio/voice", params)  # signed for the inner URL
    assert r.status_code == 403


async def test_settings_never_show_the_auth_token_which_lives_in_a_0600_secret(box: Box) -> None:
    r = await box.client.get("/api/v1/twilio/settings", headers=box.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["auth_token_set"] is True and AUTH_TOKEN not in r.text
    assert body["voice_url"] == f"{box.base}/twilio/voice"
    secret = box.settings.paths.secret(f"twilio-org-{box.org_id}-auth-token")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    with box.db.session() as s:
        stored = s.get(Setting, (box.org_id, "twilio"))
        assert stored is not None and AUTH_TOKEN not in str(stored.value)
    r = await box.configure(auth_token=None, numbers={NUMBER: box.agent_id, "+15550100002": box.agent_id})
    assert r.status_code == 200 and r.json()["auth_token_set"] is True  # absent token: the stored one stays
    assert secret.read_text() == AUTH_TOKEN


async def test_settings_refuse_unknown_agents_and_bad_numbers(box: Box) -> None:
    assert (await box.configure(numbers={NUMBER: 999})).status_code == 404
    assert (await box.configure(numbers={"12345": box.agent_id})).status_code == 422
    assert (await box.configure(account_sid="AC123")).status_code == 422
    assert (await box.client.put("/api/v1/twilio/settings", json={"account_sid": "AC" + "1" * 32},
                                 headers=box.headers)).status_code == 200  # token already stored


async def test_status_callback_for_a_call_that_never_connected_keeps_a_row(box: Box) -> None:
    r = await box.client.post("/api/v1/webhooks", json={"url": "https://crm.example/hooks", "events": ["call.ended"]},
                              headers=box.headers)
    assert r.status_code == 201, r.text
    call_sid = sid("CA")
    params = {"AccountSid": voice_params("CA1", to=NUMBER, from_=CALLER)["AccountSid"], "CallSid": call_sid,
              "CallStatus": "no-answer", "Direction": "outbound-api", "From": NUMBER, "To": "+4930555000111",
              "CallDuration": "0"}
    url = f"{box.base}/twilio/status?org={box.org_id}&agent={box.agent_id}"
    r = await signed_post(box.client, url, params)
    assert r.status_code == 204
    with box.db.session() as s:
        call = s.get(Call, call_sid)
        assert call is not None
        assert (call.status, call.end_reason, call.direction, call.transport) == ("ended", "no_answer", "outbound",
                                                                                  "twilio")
        assert call.agent_id == box.agent_id and call.external_id == call_sid
        events = s.scalars(select(CallEventRow).where(CallEventRow.call_id == call_sid)).all()
        assert [e.payload["status"] for e in events] == ["no-answer"]
        [delivery] = s.scalars(select(WebhookDelivery)).all()
        assert delivery.event == "call.ended" and delivery.payload["data"]["end_reason"] == "no_answer"


async def test_status_callback_with_a_forged_org_in_the_url_is_refused(box: Box) -> None:
    params = {"AccountSid": voice_params("CA1", to=NUMBER, from_=CALLER)["AccountSid"], "CallSid": sid("CA"),
              "CallStatus": "busy", "To": NUMBER, "From": CALLER}
    r = await signed_post(box.client, f"{box.base}/twilio/status?org={box.org_id}", params, token="1" * 32)
    assert r.status_code == 403
    r = await signed_post(box.client, f"{box.base}/twilio/status?org=77", params)
    assert r.status_code == 404


async def test_a_webhook_with_a_file_is_refused_before_any_check(box: Box) -> None:
    params = voice_params(sid("CA"), to=NUMBER, from_=CALLER)
    r = await box.client.post(f"{box.base}/twilio/voice", data=params, files={"x": ("x.txt", b"hello")},
                              headers={"X-Twilio-Signature": sign(AUTH_TOKEN, f"{box.base}/twilio/voice", params)})
    assert r.status_code == 400
