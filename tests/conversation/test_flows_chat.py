"""Flow logic through the real CallSession on a TextLeg, with a scripted LLM (fast)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from appliance.telephony import HangupReason
from tests.conversation.conftest import chat
from tests.fakes.backoffice import MemoryBackoffice
from tests.fakes.llm import ScriptedLLM


async def test_booking_conversation_creates_one_appointment_at_the_asked_time() -> None:
    run = await chat(["I'd like to book an appointment tomorrow at 3 pm", "My name is Anna Schmidt", "yes",
                      "no thanks, bye"])
    booked = [(a["start"], a["name"]) for a in run.backoffice.appointments]
    assert booked == [(dt.datetime(2026, 11, 26, 15), "Anna Schmidt")]
    assert "booked" in run.text
    assert run.outcome.reason == HangupReason.AGENT_HANGUP
    assert run.llm.calls == []  # the flow carried the task, no LLM needed


async def test_double_booking_offers_the_next_free_slot() -> None:
    office = MemoryBackoffice()
    office.appointments.append({"start": dt.datetime(2026, 11, 26, 15), "end": dt.datetime(2026, 11, 26, 15, 30),
                                "name": "Bob", "phone": "", "call_id": "x"})
    run = await chat(["book an appointment", "Anna", "tomorrow", "at 3 pm", "yes", "yes"], backoffice=office)
    assert "not available" in run.text and "3:30 PM" in run.text
    starts = [a["start"] for a in office.appointments]
    assert starts == [dt.datetime(2026, 11, 26, 15), dt.datetime(2026, 11, 26, 15, 30)]


async def test_message_flow_stores_the_message_with_caller_id() -> None:
    run = await chat(["Can I leave a message?", "Peter Miller", "Please call me back about my invoice", "yes"],
                     caller="+4930123456")
    assert run.backoffice.messages == [{"name": "Peter Miller", "phone": "+4930123456",
                                        "text": "Please call me back about my invoice", "call_id": "chat"}]


async def test_dtmf_menu_and_unknown_digit() -> None:
    run = await chat(["#0", "#7", "#2", "Eva", "0301234567", "Hello from Eva", "yes"])
    assert "7 is not an option" in run.text
    assert len(run.backoffice.messages) == 1 and run.backoffice.messages[0]["phone"] == "+49301234567"
    assert [e.digit for e in run.of("Dtmf")] == ["0", "7", "2"]


async def test_empty_utterances_get_fallback_then_a_message_offer(reception) -> None:
    run = await chat(["", "", ""])
    assert "Sorry, I didn't catch that." in run.said
    assert "take a message" in run.text
    intents = [e.intent for e in run.of("Intent")]
    assert intents[:3] == ["empty", "empty", "empty"]


async def test_small_talk_goes_to_the_llm_with_history_of_heard_text() -> None:
    llm = ScriptedLLM(["We are a dental practice. How can I help?", "You're welcome."])
    run = await chat(["What kind of office is this?", "thanks"], llm=llm)
    assert "We are a dental practice." in run.said
    assert len(llm.calls) == 2
    second = llm.calls[1]
    assert second[-2].content == "We are a dental practice. How can I help?"  # the first reply, as heard


async def test_opening_hours_answer_from_business_hours() -> None:
    run = await chat(["When are you open?"])
    assert "Monday to Thursday from 9 AM to 5 PM" in run.text


async def test_transfer_without_target_falls_back_to_a_message(reception) -> None:
    run = await chat(["I want to speak to a human"], agent=reception)
    assert "take a message" in run.text and "your name" in run.text


async def test_transfer_with_target_transfers_the_call(reception) -> None:
    agent = dataclasses.replace(reception, transfer_targets={"default": "sip:desk@127.0.0.1"})
    run = await chat(["Can I talk to a person please"], agent=agent, hang_up=False)
    assert run.outcome.reason == HangupReason.TRANSFERRED
    assert run.leg.transferred_to == "sip:desk@127.0.0.1"
    assert run.of("Transferred")[0].ok


async def test_silent_caller_is_ended_politely(reception) -> None:
    agent = dataclasses.replace(reception, no_input_timeout_s=0.05, no_input_prompts=1)
    run = await chat([], agent=agent, hang_up=False)
    assert run.outcome.reason == HangupReason.NO_INPUT
    assert "Are you still there?" in run.text and run.said[-1].endswith("Goodbye!")


async def test_timeline_records_turns_with_nlu_and_heard_text() -> None:
    from appliance.conversation.timeline import CallTimeline

    run = await chat(["I'd like to book an appointment tomorrow at 3 pm", "This is terrible"])
    timeline = CallTimeline("chat")
    for event in run.events:
        timeline.on_event(event)
    first = timeline.turns[1]
    assert first.user_text == "I'd like to book an appointment tomorrow at 3 pm"
    assert first.intent == "book_appointment" and first.entities == {"date": "2026-11-26", "time": "15:00"}
    assert first.played_text == "Sure. May I have your name, please?"
    assert timeline.turns[2].sentiment < 0
    assert timeline.turns[0].played_text.startswith("Hello")


async def test_max_call_duration_ends_the_call_with_a_notice(reception) -> None:
    agent = dataclasses.replace(reception, max_call_s=0.3, no_input_timeout_s=5)
    run = await chat([], agent=agent, hang_up=False)
    assert run.outcome.reason == HangupReason.MAX_DURATION
    assert "maximum call time" in run.text


async def test_llm_with_tool_calling_books_through_the_tool() -> None:
    from models.llm.base import ToolCall

    llm = ScriptedLLM([ToolCall("c1", "book_appointment", {"name": "Eva", "date": "2026-11-30", "time": "10:00"})],
                      tool_calling=True)
    run = await chat(["Could you put Eva down for Monday morning?"], llm=llm)
    assert [a["start"] for a in run.backoffice.appointments] == [dt.datetime(2026, 11, 30, 10)]
    assert run.of("ToolCalled")[0].tool == "book_appointment"
    assert "booked" in run.text


async def test_rambling_llm_reply_is_cut_after_three_sentences() -> None:
    llm = ScriptedLLM(["One thing here. Two things here. Three things here. Four things here. Five things here."])
    run = await chat(["Tell me everything about your office"], llm=llm)
    assert "Three things here." in run.said and "Four things here." not in run.text


async def test_german_reception_books_next_tuesday_at_ten() -> None:
    from appliance.agents import AgentConfig, default_reception_agent

    agent = AgentConfig.from_mapping(default_reception_agent("de"))
    run = await chat(["Wann haben Sie geöffnet?", "Ich möchte einen Termin nächsten Dienstag um 10",
                      "Anna Schmidt", "ja", "tschüss"], agent=agent)
    assert "Wir haben Montag bis Donnerstag von 9 Uhr bis 17 Uhr, Freitag von 9 Uhr bis 15 Uhr geöffnet." in run.said
    assert [a["start"] for a in run.backoffice.appointments] == [dt.datetime(2026, 12, 1, 10)]
    assert "Wie ist Ihr Name, bitte?" in run.text
    assert "Ihr Termin ist am Dienstag, 1. Dezember um 10 Uhr eingetragen." in run.text
    assert run.said[-1] == "Auf Wiederhören!"


async def test_failed_transfer_apologises_and_takes_a_message(reception) -> None:
    import asyncio

    from appliance.conversation import CallServices
    from appliance.conversation.session import CallSession
    from appliance.events import EventBus
    from appliance.legs.text import TextLeg
    from appliance.telephony import TransferResult
    from tests.conversation.conftest import TODAY, _lines
    from tests.fakes.models import TextModels

    class BusyDeskLeg(TextLeg):
        async def transfer(self, target: str) -> TransferResult:
            return TransferResult(target, ok=False, status=486, detail="Busy Here")

    said: list[str] = []
    office = MemoryBackoffice()
    leg = BusyDeskLeg(_lines(["I want to speak to a person", "Max", "Please call me back", "yes"],
                             keep_open=False), on_text=said.append, caller="+49301111111")
    agent = dataclasses.replace(reception, transfer_targets={"default": "sip:desk@127.0.0.1"})
    outcome = await asyncio.wait_for(CallSession(leg, services=CallServices(models=TextModels(), bus=EventBus()),
                                                 agent=agent, transport="text", today=TODAY,
                                                 backoffice=office).run(), timeout=30)
    assert outcome.reason == HangupReason.CALLER_HANGUP
    assert "I'm sorry, I couldn't connect you." in " ".join(said)
    assert office.messages[0]["text"] == "Please call me back" and office.messages[0]["phone"] == "+49301111111"
