"""The side-by-side's shared LLM: llama-cpp-python's OpenAI-compatible server on loopback (the same SmolLM2
gguf the box runs in-process), and our LLM interface over it, so both pipelines reach the model the same way.

`OpenAICompatLLM` streams `/v1/chat/completions` (server-sent events) with httpx; closing the stream closes
the HTTP response, which stops generation on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx

from appliance.demo import free_port
from appliance.errors import ModelUnavailable
from models.llm.base import LLM, ChatMessage, Delta, LLMCapabilities, ToolSpec

MODEL_ALIAS = "smollm2-135m"


class OpenAICompatLLM(LLM):
    """Our LLM interface over an OpenAI-compatible chat endpoint (here: llama.cpp's server)."""

    name = "openai-compat"

    def __init__(self, base_url: str, model: str = MODEL_ALIAS) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.capabilities = LLMCapabilities(tool_calling=False)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))

    async def _impl(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int,
                    temperature: float) -> AsyncIterator[Delta]:
        body = {"model": self.model, "stream": True, "max_tokens": max_tokens, "temperature": temperature,
                "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "tool"]}
        try:
            async with self._client.stream("POST", f"{self.base_url}/chat/completions", json=body) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    choice = json.loads(data)["choices"][0]
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        yield Delta(text=text)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"LLM server {self.base_url}: {exc}") from exc
        yield Delta(finish_reason="stop")


@contextlib.asynccontextmanager
async def llama_server(gguf: Path, *, threads: int = 2, log: Path | None = None) -> AsyncIterator[str]:
    """Run llama-cpp-python's server on a free loopback port for the block; yields its `/v1` base URL."""
    port = free_port()
    out = log.open("wb") if log is not None else None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads),
        "--n_threads_batch", str(threads), "--verbose", "False",
        stdout=out or asyncio.subprocess.DEVNULL, stderr=out or asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        await _wait_ready(base, proc)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if out is not None:
            out.close()


async def _wait_ready(base: str, proc: asyncio.subprocess.Process, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise ModelUnavailable(f"the llama.cpp server exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/models")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise ModelUnavailable(f"the llama.cpp server did not answer on {base} within {limit_s:.0f} s")
