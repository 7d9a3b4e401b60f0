"""The media-stream WebSocket with a real client (websockets) against uvicorn on 127.0.0.1, on the fast fake
audio models (tone TTS, energy VAD, scripted STT): media frames and marks, DTMF, barge-in `clear`, stop, and
bad input (garbage, oversize and binary frames, unknown, reused or foreign tokens) closing the stream with a
code and reason while the call row stays complete."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import websockets
from sqlalchemy import select

from appliance.audio import AudioFrame
from appliance.conversation.recorder import flush
from appliance.store.models import Call, Turn
from tests.twilio.conftest import CALLER, NUMBER, Box, fake_models, running_box
from tests.twilio.twilio_double import TwilioPhone, stream_url_of, to_ulaw


def loud_tone(ms: float) -> bytes:
    t = np.arange(int(8000 * ms / 1000)) / 8000
    return to_ulaw(AudioFrame.from_array(0.5 * np.sin(2 * np.pi * 440 * t), 8000))


def call_row(box: Box, call_sid: str) -> tuple[Call, list[Turn]]:
    flush()
    with box.db.session() as s:
        call = s.get(Call, call_sid)
        assert call is not None, "no call row"
        turns = list(s.scalars(select(Turn).where(Turn.call_id == call_sid).order_by(Turn.index)))
        s.expunge_all()
        return call, turns


async def wait_row_ended(box: Box, call_sid: str) -> tuple[Call, list[Turn]]:
    for _ in range(200):
        call, turns = call_row(box, call_sid) if _has_row(box, call_sid) else (None, [])
        if call is not None and call.status == "ended":
            return call, turns
        await asyncio.sleep(0.05)
    raise AssertionError("the call row was never finished")


def _has_row(box: Box, call_sid: str) -> bool:
    flush()
    with box.db.session() as s:
        return s.get(Call, call_sid) is not None


async def greeted(phone: TwilioPhone) -> None:
    await phone.wait_for(lambda: f"{phone.call_sid}:0:0" in phone.session_marks(), 10, "the greeting's mark")


async def test_greeting_arrives_as_20ms_media_then_its_mark_and_stop_ends_the_call(box: Box) -> None:
    async with await box.phone() as phone:
        await greeted(phone)
        assert phone.media and all(len(audio) == 160 for _, audio in phone.media)
        assert phone.agent_audio_ms() >= 150  # "Hi." at 50 ms a character
        acks = [name for _, name in phone.marks if name.startswith("~")]
        assert len(acks) == len(phone.media)  # one playout mark per 20 ms chunk
        await phone.stop()
        await phone.wait_for(lambda: phone.closed is not None, 10, "the close")
    assert phone.closed == (1000, "stream stopped")
    call, turns = await wait_row_ended(box, phone.call_sid)
    assert (call.transport, call.direction, call.caller, call.callee) == ("twilio", "inbound", CALLER, NUMBER)
    assert call.end_reason == "caller_hangup" and call.agent_id == box.agent_id
    assert turns[0].agent_text == "Hi." and turns[0].played_text == "Hi."


async def test_dtmf_reaches_the_agent_which_answers_with_audio(box: Box) -> None:
    async with await box.phone() as phone:
        await greeted(phone)
        heard = phone.agent_audio_ms()
        await phone.dtmf("2")  # the Reception agent's message flow
        await phone.wait_for(lambda: f"{phone.call_sid}:1:1" in phone.session_marks(), 15, "the answer's marks")
        assert phone.agent_audio_ms() >= heard + 1400  # "Of course. What is your name?" at 50 ms a character
        await phone.stop()
    _call, turns = await wait_row_ended(box, phone.call_sid)
    assert "name" in turns[1].agent_text
    assert [e.digit for e in box.of("Dtmf", phone.call_sid)] == ["2"]


async def test_caller_speech_barges_in_with_a_clear_and_only_the_heard_part_is_kept(tmp_path) -> None:
    greeting = "Hello, you have reached our office. I can book an appointment or take a message for you."
    async with running_box(tmp_path, fake_models("I want to leave a message"), greeting=greeting) as box:
        assert (await box.configure()).status_code == 200
        async with await box.phone() as phone:
            await phone.wait_for(lambda: phone.agent_audio_ms() > 1000, 10, "a second of greeting")
            phone.say(loud_tone(700))
            await phone.wait_for(lambda: phone.clears, 5, "a clear")
            cut_at = phone.clears[0]
            await phone.wait_for(lambda: f"{phone.call_sid}:1:0" in phone.session_marks(), 15, "the answer")
            await phone.stop()
        # between the clear and the answer nothing more of the greeting arrived
        answer_starts = min(at for at, _ in phone.media if at > cut_at)
        assert answer_starts - cut_at > 0.05
        assert f"{phone.call_sid}:0:1" not in phone.session_marks()  # the cleared sentence never "played"
        _call, turns = await wait_row_ended(box, phone.call_sid)
    greeting_turn = turns[0]
    assert greeting_turn.interrupted
    assert 0 < len(greeting_turn.played_text) < len(greeting_turn.agent_text)
    assert greeting.startswith(greeting_turn.played_text)


async def test_garbage_json_closes_the_stream_with_1007_and_the_call_row_is_complete(box: Box) -> None:
    async with await box.phone() as phone:
        await greeted(phone)
        await phone.send("{not json")
        await phone.wait_for(lambda: phone.closed is not None, 10, "the close")
    assert phone.closed == (1007, "message is not valid JSON")
    call, turns = await wait_row_ended(box, phone.call_sid)
    assert call.end_reason == "error" and turns[0].played_text == "Hi."


async def test_oversize_and_binary_frames_close_with_their_own_codes(box: Box) -> None:
    async with await box.phone() as phone:
        await greeted(phone)
        await phone.send(json.dumps({"event": "media", "media": {"payload": "A" * 100_000}}))
        await phone.wait_for(lambda: phone.closed is not None, 10, "the close")
    assert phone.closed is not None and phone.closed[0] == 1009
    await wait_row_ended(box, phone.call_sid)
    async with await box.phone() as phone:
        await greeted(phone)
        await phone.send(b"\x00\x01binary")
        await phone.wait_for(lambda: phone.closed is not None, 10, "the close")
    assert phone.closed is not None and phone.closed[0] == 1003
    call, _ = await wait_row_ended(box, phone.call_sid)
    assert call.end_reason == "error"


async def test_unknown_and_reused_tokens_are_closed_with_a_reason_and_the_first_call_goes_on(box: Box) -> None:
    async with websockets.connect(f"{box.base.replace('http', 'ws')}/twilio/stream/forged") as ws:
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, "unknown stream token")
    r, call_sid = await box.answer()
    url = stream_url_of(r.text)
    async with TwilioPhone(url, call_sid) as phone:
        await greeted(phone)
        async with TwilioPhone(url, call_sid) as replay:
            await replay.wait_for(lambda: replay.closed is not None, 5, "the close")
        assert replay.closed == (1008, "used stream token")
        await phone.dtmf("2")
        await phone.wait_for(lambda: f"{call_sid}:1:0" in phone.session_marks(), 15, "the first call going on")
        await phone.stop()
    call, turns = await wait_row_ended(box, call_sid)
    assert call.end_reason == "caller_hangup" and len(turns) == 2


async def test_a_token_only_opens_the_call_it_was_issued_for(box: Box) -> None:
    r, _ = await box.answer()
    async with TwilioPhone(stream_url_of(r.text), "CA" + "f" * 32) as phone:
        await phone.wait_for(lambda: phone.closed is not None, 5, "the close")
    assert phone.closed == (1008, "stream token is for another call")


async def test_media_before_start_is_refused(box: Box) -> None:
    r, call_sid = await box.answer()
    async with TwilioPhone(stream_url_of(r.text), call_sid, send_start=False) as phone:
        await phone.send({"event": "media", "media": {"payload": "//8="}})
        await phone.wait_for(lambda: phone.closed is not None, 5, "the close")
    assert phone.closed == (1008, "media before start")


async def test_over_capacity_the_voice_webhook_rejects_busy(box: Box) -> None:
    box.settings.admission.max_concurrent_calls = 1
    async with await box.phone() as phone:
        await greeted(phone)
        r, _ = await box.answer()
        assert r.status_code == 200 and '<Reject reason="busy" />' in r.text
        await phone.stop()


async def test_transfer_replaces_the_calls_twiml_with_a_dial_and_closes_the_stream(tmp_path) -> None:
    async with running_box(tmp_path, fake_models(), config={"transfer_targets": {"default": "+4930999888777"}}
                           ) as box:
        assert (await box.configure()).status_code == 200
        async with await box.phone() as phone:
            await greeted(phone)
            await phone.dtmf("0")  # the menu
            await phone.wait_for(lambda: f"{phone.call_sid}:1:0" in phone.session_marks(), 15, "the menu")
            await phone.dtmf("3")  # "to speak to someone"
            await phone.wait_for(lambda: phone.closed is not None, 15, "the close")
        assert phone.closed == (1000, "call ended: transferred")
        [update] = [r for r in box.twilio.requests if r.path.endswith(f"/Calls/{phone.call_sid}.json")]
        assert "<Dial>+4930999888777</Dial>" in update.one("Twiml")
        call, _ = await wait_row_ended(box, phone.call_sid)
        assert call.end_reason == "transferred"


async def test_a_second_stream_for_a_live_call_is_refused(box: Box) -> None:
    first, call_sid = await box.answer()
    retried, _ = await box.answer(call_sid)  # Twilio retried the webhook
    async with TwilioPhone(stream_url_of(first.text), call_sid) as phone:
        await greeted(phone)
        async with TwilioPhone(stream_url_of(retried.text), call_sid) as second:
            await second.wait_for(lambda: second.closed is not None, 5, "the close")
        assert second.closed == (1008, "the call already has a media stream")
        await phone.stop()
