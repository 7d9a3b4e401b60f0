"""A Twilio call on the real models: Piper-synthesized caller speech as μ-law media over a real WebSocket to
uvicorn → Silero VAD → Whisper → the Reception agent → Piper → 20 ms μ-law media back, with marks and `clear`
on barge-in. What came back is transcribed again with Whisper: the caller really heard the agent."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.audio import concat, resample, ulaw_decode
from tests.twilio.conftest import running_box
from tests.twilio.test_media_stream import greeted, wait_row_ended
from tests.twilio.twilio_double import TwilioPhone, to_ulaw, voiced_end_ms

pytestmark = pytest.mark.slow


async def speech(models: Any, text: str) -> bytes:
    return to_ulaw(concat([resample(f, 16000) async for f in models.tts.synthesize(text)]))


async def heard(models: Any, phone: TwilioPhone, since: float = 0.0, until: float = float("inf")) -> str:
    audio = b"".join(a for at, a in phone.media if since <= at < until)
    transcript = await models.stt.transcribe(resample(ulaw_decode(audio), 16000), language="en")
    return str(transcript.text).lower()


async def test_caller_speech_over_the_media_stream_gets_the_agents_spoken_answer(real_models: Any, tmp_path) -> None:
    async with running_box(tmp_path, real_models, greeting="Hello, how can I help?") as box:
        assert (await box.configure()).status_code == 200
        question = await speech(real_models, "Can I leave a message, please?")
        async with await box.phone() as phone:
            await greeted(phone)
            assert "help" in await heard(real_models, phone)
            phone.say(question)
            await phone.wait_for(lambda: f"{phone.call_sid}:1:1" in phone.session_marks(), 30, "the answer played")
            speech_end = phone.caller_started_at + voiced_end_ms(question) / 1000
            answer_at = phone.voiced_after(speech_end)
            await phone.stop()
        assert answer_at is not None
        tts_at = box.of("TtsFirstAudio", phone.call_sid)[-1].ts  # same process, same monotonic clock
        first_media = min(at for at, _ in phone.media if at >= tts_at)
        print(f"\nTwilio WS path: voice-to-voice at the caller {1000 * (answer_at - speech_end):.0f} ms "
              f"(end of voiced caller audio -> first voiced agent media); first TTS audio -> its media message "
              f"at the caller {1000 * (first_media - tts_at):.1f} ms")
        answer = await heard(real_models, phone, since=answer_at)
        assert "name" in answer
        call, turns = await wait_row_ended(box, phone.call_sid)
        stages = {k.removesuffix("_ms"): round(v) for k, v in turns[1].latency.items() if v is not None}
        print(f"session stages (ms): {stages}")
        assert call.transport == "twilio" and call.end_reason == "caller_hangup"
        assert "message" in turns[1].user_text.lower() and "name" in turns[1].agent_text
        assert [t.kind for t in box.of("Transcript", phone.call_sid)] == ["Transcript"]


async def test_speaking_over_the_greeting_clears_twilios_buffer(real_models: Any, tmp_path) -> None:
    greeting = ("Hello, you have reached our office. I can book an appointment or take a message. "
                "How can I help you today?")
    async with running_box(tmp_path, real_models, greeting=greeting) as box:
        assert (await box.configure()).status_code == 200
        interruption = await speech(real_models, "Sorry, I would like to leave a message.")
        async with await box.phone() as phone:
            await phone.wait_for(lambda: phone.agent_audio_ms() > 1500, 15, "the greeting playing")
            phone.say(interruption)
            await phone.wait_for(lambda: phone.clears, 10, "a clear")
            await phone.wait_for(lambda: f"{phone.call_sid}:1:0" in phone.session_marks(), 30, "the answer")
            await phone.stop()
        _call, turns = await wait_row_ended(box, phone.call_sid)
    assert turns[0].interrupted and greeting.startswith(turns[0].played_text)
    assert len(turns[0].played_text) < len(greeting)
    assert f"{phone.call_sid}:0:2" not in phone.session_marks()  # "How can I help you today?" never played
