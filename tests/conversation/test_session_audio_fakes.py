"""Session audio logic (endpointing, speculative STT, barge-in, DTMF lane) with small audio fakes on a FileLeg
running faster than real time. The same behaviours run on the real models in test_audio_pipeline.py."""

from __future__ import annotations

import dataclasses
from typing import Any

from appliance.agents import AgentConfig, default_reception_agent
from appliance.audio import INTERNAL_RATE, AudioFrame, concat, silence
from appliance.conversation import CallServices
from appliance.conversation.session import CallSession
from appliance.events import CallEvent, EventBus
from appliance.legs.file import FileLeg
from tests.conversation.conftest import TODAY
from tests.fakes.audio_models import FakeAudioModels, ScriptedSTT, tone
from tests.fakes.backoffice import MemoryBackoffice


async def _call(audio: AudioFrame, texts: list[str], *, dtmf: dict[float, str] | None = None,
                agent: AgentConfig | None = None) -> tuple[list[CallEvent], FileLeg, FakeAudioModels]:
    models = FakeAudioModels(ScriptedSTT(texts))
    bus = EventBus()
    events: list[CallEvent] = []
    bus.subscribe(events.append)
    leg = FileLeg(audio, speed=10.0, linger_ms=3000, dtmf=dtmf)
    agent = agent or AgentConfig.from_mapping(default_reception_agent())
    session = CallSession(leg, services=CallServices(models=models, bus=bus), agent=agent, transport="file",
                          today=TODAY, backoffice=MemoryBackoffice())
    await session.run()
    return events, leg, models


def kinds(events: list[CallEvent], kind: str) -> list[CallEvent]:
    return [e for e in events if e.kind == kind]


async def test_caller_speech_during_greeting_interrupts_at_once_and_keeps_the_heard_prefix() -> None:
    audio = concat([silence(1500), tone(800), silence(2000)])
    events, leg, _ = await _call(audio, ["When are you open?"])
    cut = kinds(events, "AgentSpeechInterrupted")[0]
    assert cut.turn == 0
    assert cut.planned_text.startswith(cut.played_text) and 0 < len(cut.played_text) < len(cut.planned_text)
    started_at = leg.clears[0][0]
    track = leg.agent_track().to_array()
    after = track[int(INTERNAL_RATE * (started_at + 20) / 1000): int(INTERNAL_RATE * (started_at + 500) / 1000)]
    assert not after.any()  # nothing of the greeting is played after the clear
    assert "Monday" in kinds(events, "AgentSpeechFinished")[-1].played_text


async def test_short_pause_does_not_end_the_turn_and_speculative_stt_is_restarted() -> None:
    agent = dataclasses.replace(AgentConfig.from_mapping(default_reception_agent()), greeting="Hi.")
    audio = concat([silence(1000), tone(600), silence(350), tone(600), silence(3000)])
    events, _, models = await _call(audio, [], agent=agent)
    transcripts = [e.text for e in kinds(events, "Transcript")]
    assert len(transcripts) == 1 and len(kinds(events, "EndOfTurn")) == 1
    heard_ms = float(transcripts[0].split()[2])
    assert heard_ms >= 1550  # both parts and the pause in one utterance
    assert models.stt.started == 2  # speculative run at the pause, restarted after the caller went on
    assert len(kinds(events, "SpeechEnded")) == 2


async def test_a_click_shorter_than_min_speech_is_ignored() -> None:
    agent = dataclasses.replace(AgentConfig.from_mapping(default_reception_agent()), greeting="Hi.")
    audio = concat([silence(1000), tone(120), silence(3000)])
    events, _, models = await _call(audio, ["should not be used"], agent=agent)
    assert models.stt.started == 0
    assert kinds(events, "Transcript") == [] and kinds(events, "EndOfTurn") == []


async def test_dtmf_overtakes_playout_and_unknown_digit_is_reported() -> None:
    events, _, _ = await _call(silence(6000), [], dtmf={1000.0: "9", 3000.0: "2"})
    assert kinds(events, "AgentSpeechInterrupted")[0].turn == 0
    said = " ".join(e.played_text for e in kinds(events, "AgentSpeechFinished"))
    said += " ".join(e.planned_text for e in kinds(events, "AgentSpeechInterrupted"))
    assert "9 is not an option" in said
    assert "What is your name?" in said  # 2 = message flow


async def test_caller_who_goes_on_after_the_endpoint_gets_one_answer_to_both_parts() -> None:
    agent = dataclasses.replace(AgentConfig.from_mapping(default_reception_agent()), greeting="Hi.")
    audio = concat([silence(1000), tone(600), silence(560), tone(600), silence(3000)])
    models = FakeAudioModels(SlowSTT(["My name is Anna and I'd like", "an appointment tomorrow at 3 pm"]))
    bus = EventBus()
    events: list[CallEvent] = []
    bus.subscribe(events.append)
    leg = FileLeg(audio, speed=10.0, linger_ms=3000)
    session = CallSession(leg, services=CallServices(models=models, bus=bus), agent=agent, transport="file",
                          today=TODAY, backoffice=MemoryBackoffice())
    await session.run()
    intents = kinds(events, "Intent")
    assert len(intents) == 1 and intents[0].intent == "book_appointment"
    assert intents[0].entities == {"date": "2026-11-26", "time": "15:00", "name": "Anna"}
    reply = kinds(events, "FirstSentence")[-1].text
    assert reply.startswith("So that is an appointment for Anna on Thursday, November 26 at 3 PM")


class SlowSTT(ScriptedSTT):
    """Takes 1 s of audio time at speed 10 — long enough for the caller to start again."""

    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Any:
        import asyncio

        await asyncio.sleep(0.1)
        return await super()._impl(utterance, language=language, prompt=prompt)


async def test_a_cough_shorter_than_the_barge_in_minimum_does_not_stop_the_agent() -> None:
    base = AgentConfig.from_mapping(default_reception_agent())
    agent = dataclasses.replace(base, endpointing=dataclasses.replace(base.endpointing, barge_in_min_ms=400))
    events, _, _ = await _call(concat([silence(1500), tone(250), silence(6000)]), [], agent=agent)
    assert kinds(events, "SpeechStarted") and not kinds(events, "AgentSpeechInterrupted")
    assert kinds(events, "AgentSpeechFinished")[0].played_text.endswith("How can I help?")


async def test_history_keeps_the_question_and_only_the_heard_part_of_an_interrupted_answer() -> None:
    from tests.fakes.llm import ScriptedLLM

    agent = dataclasses.replace(AgentConfig.from_mapping(default_reception_agent()), greeting="Hi.",
                                knowledge_enabled=False)
    answer = "We are a small family practice. We have been here for twenty years. We love our patients."
    llm = ScriptedLLM([answer, "Sure."])
    models = FakeAudioModels(ScriptedSTT(["Tell me about you", "Wait, one question"]), llm=llm)
    bus = EventBus()
    audio = concat([silence(800), tone(500), silence(2500), tone(600), silence(4000)])
    leg = FileLeg(audio, speed=10.0, linger_ms=2000)
    await CallSession(leg, services=CallServices(models=models, bus=bus), agent=agent, transport="file",
                      today=TODAY, backoffice=MemoryBackoffice()).run()
    second = llm.calls[1]
    assert [m.role for m in second[-3:]] == ["user", "assistant", "user"]
    assert second[-3].content == "Tell me about you"
    heard = second[-2].content
    assert heard and answer.startswith(heard) and len(heard) < len(answer)
