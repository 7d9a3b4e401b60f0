"""The side-by-side's shared LLM: llama-cpp-python's OpenAI-compatible server on loopback, serving the same
SmolLM2 gguf the box runs in-process. Our engine reaches it with its own OpenAI-compatible backend
(models.llm.openai_http, the client that talks to vLLM on a GPU box), Pipecat with its OpenAILLMService."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from appliance.demo import free_port
from appliance.errors import ModelUnavailable

MODEL_ALIAS = "smollm2-135m"


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
