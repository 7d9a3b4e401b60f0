"""The persistence subscriber builds call, turn and event rows from the event stream."""

from __future__ import annotations

from appliance.conversation.recorder import CallRecorder
from tests.conversation.conftest import chat
from tests.fakes.call_log import MemoryCallLog


async def test_recorder_writes_call_turns_with_heard_text_nlu_and_all_events() -> None:
    run = await chat(["I'd like to book an appointment tomorrow at 3 pm", "My name is Anna", "yes", "bye"])
    rows = MemoryCallLog()
    on_event = CallRecorder(None, 7, call_log=rows, submit=lambda fn: fn()).for_call("chat")
    for event in run.events:
        on_event(event)
    call = rows.calls["chat"]
    assert call["organization_id"] == 7 and call["transport"] == "text"
    assert call["reason"] == "agent_hangup"
    assert call["summary"] == "caller: book_appointment, goodbye; done: book_appointment"
    booked = rows.turns[("chat", 3)]
    assert booked["user_text"] == "yes" and booked["tools"] == ["book_appointment"]
    assert "booked" in booked["played_text"]
    assert rows.turns[("chat", 1)]["intent"] == "book_appointment"
    assert len(rows.events) == len(run.events)
    assert {"v2v_ms", "stt_ms", "endpoint_wait_ms", "llm_ttft_ms", "tts_first_audio_ms"} <= set(booked)
