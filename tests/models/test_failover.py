"""Fallback chains on real backends: a dead loopback port fails, the next backend answers in the same call,
the failover is an event on the call's bus and a metric; breakers open and half-open on an injected clock;
a missed deadline hands the request on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from prometheus_client import REGISTRY

from appliance.audio import AudioFrame, concat
from appliance.config import CONFIG_NAME, load_config
from appliance.errors import ModelUnavailable
from appliance.events import CallEvent, EventBus, ModelFailover
from appliance.logs import call_context
from models.embed.chain import EmbedChain
from models.embed.openai_http import OpenAIEmbedder
from models.failover import BreakerState, CircuitBreaker, Member, model_events
from models.llm.base import LLM, ChatMessage
from models.llm.chain import LLMChain
from models.llm.openai_http import OpenAIChatLLM
from models.packs import install_default
from models.registry import load_role
from models.stt.chain import STTChain
from models.stt.openai_http import OpenAITranscriber
from models.tts.chain import TTSChain
from models.tts.elevenlabs import ElevenLabsTTS
from tests.models.servers import LLM_TIMEOUT_S, WIRE_KEY, WireServer, dead_url

ASK = [ChatMessage("user", "Say hello to the caller.")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _failovers(modality: str, failed: str, next_backend: str) -> float:
    labels = {"modality": modality, "failed": failed, "next_backend": next_backend}
    return REGISTRY.get_sample_value("vocaliq_model_failovers_total", labels) or 0.0


def _member(name: str, backend: Any, *, failures: int = 3, cooldown_s: float = 30.0, deadline_s: float | None = None,
            clock: FakeClock | None = None) -> Member[Any]:
    breaker = CircuitBreaker(failures, cooldown_s, clock) if clock else CircuitBreaker(failures, cooldown_s)
    return Member(name, backend, breaker, deadline_s)


def _events(bus: EventBus) -> list[CallEvent]:
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    return seen


def _state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # (a call: mypy would narrow a property across the clock moving)


def test_breaker_opens_after_k_failures_and_half_opens_one_probe_after_the_cool_down() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=2, cooldown_s=30.0, clock=clock)
    breaker.failure()
    assert _state(breaker) is BreakerState.CLOSED and breaker.acquire()
    breaker.failure()
    assert _state(breaker) is BreakerState.OPEN and not breaker.acquire()
    clock.now += 29.9
    assert not breaker.acquire()
    clock.now += 0.1
    assert _state(breaker) is BreakerState.HALF_OPEN
    assert breaker.acquire() and not breaker.acquire()  # one probe at a time
    breaker.failure()  # the probe failed: open for another cool-down
    assert _state(breaker) is BreakerState.OPEN and not breaker.acquire()
    clock.now += 30
    assert breaker.acquire()
    breaker.release()  # an earlier backend answered: the probe slot is free again
    assert breaker.acquire()
    breaker.success()
    assert _state(breaker) is BreakerState.CLOSED and breaker.acquire()


async def test_llm_dead_port_then_the_real_server_answers_in_the_same_call(llama_server: str) -> None:
    bus = EventBus()
    seen = _events(bus)
    chain = LLMChain([_member("vllm", OpenAIChatLLM(dead_url(), timeout_s=LLM_TIMEOUT_S)),
                      _member("llamacpp-server", OpenAIChatLLM(llama_server, timeout_s=LLM_TIMEOUT_S))])
    before = _failovers("llm", "vllm", "llamacpp-server")
    with model_events(bus, "call-llm-1"):
        reply = await chain.complete(ASK, max_tokens=12)
    assert reply.strip()
    (event,) = [e for e in seen if isinstance(e, ModelFailover)]
    assert (event.call_id, event.modality, event.failed, event.next_backend) == (
        "call-llm-1", "llm", "vllm", "llamacpp-server")
    assert "ConnectError" in event.reason
    assert _failovers("llm", "vllm", "llamacpp-server") == before + 1


async def test_registry_chain_from_config_fails_over_to_in_process_llama_cpp(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text(tomli_w.dumps({"models": {
        "llm": ["vllm", "llamacpp"], "backends": {"vllm": {"kind": "vllm", "url": dead_url()}}}}))
    settings = load_config(data_dir=tmp_path)
    install_default(settings.paths.models)
    llm, name = load_role(settings, "llm")
    assert isinstance(llm, LLMChain) and name == "vllm > llamacpp"
    bus = EventBus()
    seen = _events(bus)
    llm.failover.bus = bus  # what ModelSet.bind_bus does; the call id comes from the log context
    with call_context("call-llm-2"):
        reply = await asyncio.wait_for(llm.complete(ASK, max_tokens=8), 120)
    assert reply.strip()
    assert [(e.call_id, e.failed, e.next_backend) for e in seen if isinstance(e, ModelFailover)] == [
        ("call-llm-2", "vllm", "llamacpp")]


async def test_open_breaker_skips_the_dead_backend_until_its_half_open_probe(wire_server: WireServer) -> None:
    clock = FakeClock()
    bus = EventBus()
    seen = _events(bus)
    live = OpenAIChatLLM(f"{wire_server.base}/v1")
    chain = LLMChain([_member("dead", OpenAIChatLLM(dead_url()), failures=2, cooldown_s=60, clock=clock),
                      _member("live", live, clock=clock)])
    with model_events(bus, "call-breaker"):
        for _ in range(2):
            assert await chain.complete(ASK) == "Hello there."
        assert chain.failover.members[0].breaker.state is BreakerState.OPEN
        assert len([e for e in seen if isinstance(e, ModelFailover)]) == 2
        assert await chain.complete(ASK) == "Hello there."  # dead one skipped: no failover
        assert len([e for e in seen if isinstance(e, ModelFailover)]) == 2
        clock.now += 60
        assert await chain.complete(ASK) == "Hello there."  # half-open probe fails, live answers
        assert len([e for e in seen if isinstance(e, ModelFailover)]) == 3
        assert chain.failover.members[0].breaker.state is BreakerState.OPEN


async def test_missed_first_token_deadline_hands_the_request_on(wire_server: WireServer) -> None:
    bus = EventBus()
    seen = _events(bus)
    slow = OpenAIChatLLM(f"{wire_server.base}/slow/v1")
    chain = LLMChain([_member("slow", slow, deadline_s=0.5), _member("live", OpenAIChatLLM(f"{wire_server.base}/v1"))])
    with model_events(bus, "call-deadline"):
        assert await chain.complete(ASK) == "Hello there."
    (event,) = [e for e in seen if isinstance(e, ModelFailover)]
    assert event.failed == "slow" and "deadline" in event.reason
    assert slow.open_streams == 0  # the slow response was closed, not left streaming


async def test_every_backend_failing_is_model_unavailable_naming_each(wire_server: WireServer) -> None:
    chain = LLMChain([_member("a", OpenAIChatLLM(dead_url())),
                      _member("b", OpenAIChatLLM(f"{wire_server.base}/denied/v1"))])
    with pytest.raises(ModelUnavailable, match=r"every llm backend failed: a: .*ConnectError.*; b: .*HTTP 401"):
        await chain.complete(ASK)


async def test_chain_capabilities_follow_the_backend_that_would_answer(wire_server: WireServer) -> None:
    from models.llm.base import LLMCapabilities

    clock = FakeClock()
    tools = OpenAIChatLLM(dead_url(), capabilities=LLMCapabilities(tool_calling=True))
    plain: LLM = OpenAIChatLLM(f"{wire_server.base}/v1")
    chain = LLMChain([_member("big", tools, failures=1, clock=clock), _member("small", plain, clock=clock)])
    assert chain.capabilities.tool_calling
    await chain.complete(ASK)
    assert not chain.capabilities.tool_calling  # big is open: small (no tools) answers next


async def test_stt_embed_and_tts_chains_fail_over_within_one_request(wire_server: WireServer) -> None:
    bus = EventBus()
    seen = _events(bus)
    stt = STTChain([_member("whisper-gpu", OpenAITranscriber(dead_url())),
                    _member("whisper-cloud", OpenAITranscriber(f"{wire_server.base}/v1"))])
    embed = EmbedChain([_member("e5-gpu", OpenAIEmbedder(dead_url(), dim=8)),
                        _member("e5-cloud", OpenAIEmbedder(f"{wire_server.base}/v1", dim=8))])
    tts = TTSChain([_member("voice-a", ElevenLabsTTS(dead_url(""), api_key=WIRE_KEY, sample_rate=16000)),
                    _member("voice-b", ElevenLabsTTS(wire_server.base, api_key=WIRE_KEY,
                                                     output_format="pcm_22050", sample_rate=22050))])
    tone = AudioFrame.from_array(np.sin(np.arange(16000) / 16000 * 2 * np.pi * 300) * 0.3, 16000)
    with model_events(bus, "call-all"):
        heard = await stt.transcribe(tone)
        vectors = await embed.embed(["hello"])
        audio = [f async for f in tts.synthesize("Hello there.")]
    assert heard.text == "I heard 1.0 seconds." and heard.backend == "whisper-cloud"
    assert len(vectors) == 1 and len(vectors[0]) == 8
    assert {f.sample_rate for f in audio} == {16000}  # voice-b's 22.05 kHz leaves at the chain's rate
    assert 1400 < concat(audio).duration_ms < 1600
    assert [(e.modality, e.failed, e.next_backend) for e in seen if isinstance(e, ModelFailover)] == [
        ("stt", "whisper-gpu", "whisper-cloud"), ("embed", "e5-gpu", "e5-cloud"), ("tts", "voice-a", "voice-b")]
    # the blocking embeddings path (Chroma's callback thread) fails over too, without touching the bus
    (vector,) = await asyncio.to_thread(embed.embed_sync, ["hi"], kind="query")
    assert len(vector) == 8 and len([e for e in seen if isinstance(e, ModelFailover)]) == 3


async def test_cancelling_a_chain_stream_closes_the_answering_backends_response(llama_server: str) -> None:
    server = OpenAIChatLLM(llama_server, timeout_s=LLM_TIMEOUT_S)
    chain = LLMChain([_member("dead", OpenAIChatLLM(dead_url())), _member("server", server)])
    stream = chain.stream([ChatMessage("user", "Tell me a long story about a lighthouse.")], max_tokens=300)
    assert (await anext(stream)).text is not None
    assert server.open_streams == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert server.open_streams == 0


async def test_a_failover_during_a_call_is_an_event_of_that_call(wire_server: WireServer) -> None:
    from appliance.agents import AgentConfig, default_reception_agent
    from appliance.conversation import CallServices
    from appliance.conversation.session import CallSession
    from appliance.legs.text import TextLeg
    from tests.fakes.models import TextModels

    async def caller() -> AsyncIterator[str]:
        yield "What kind of office is this?"

    said: list[str] = []
    bus = EventBus()
    seen = _events(bus)
    llm = LLMChain([_member("vllm", OpenAIChatLLM(dead_url())),
                    _member("hosted", OpenAIChatLLM(f"{wire_server.base}/v1"))])
    leg = TextLeg(caller(), on_text=said.append)
    session = CallSession(leg, services=CallServices(models=TextModels(llm=llm), bus=bus), transport="text",
                          agent=AgentConfig.from_mapping(default_reception_agent()))
    await asyncio.wait_for(session.run(), 60)
    assert "Hello there." in " ".join(said)
    (event,) = [e for e in seen if isinstance(e, ModelFailover)]
    assert (event.call_id, event.failed, event.next_backend) == (leg.call_id, "vllm", "hosted")
