"""llama.cpp in-process (llama-cpp-python): streamed chat completion in a worker thread, stoppable per token."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from appliance.errors import ModelUnavailable
from models.llm.base import LLM, ChatMessage, Delta, LLMCapabilities, ToolSpec


class SmolLM(LLM):
    name = "llamacpp"

    def __init__(self, gguf: Path) -> None:
        from llama_cpp import Llama

        if not gguf.exists():
            raise ModelUnavailable(f"{gguf} is missing; run `vocaliq models install default`")
        try:
            self._llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=2, verbose=False)
        except ValueError as exc:  # llama.cpp's words for a corrupt or truncated file
            raise ModelUnavailable(f"{gguf} cannot be loaded ({exc}); run `vocaliq models install default`") from exc
        self.capabilities = LLMCapabilities(tool_calling=False)
        self._lock = threading.Lock()

    async def _impl(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int,
                    temperature: float) -> AsyncIterator[Delta]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta | None] = asyncio.Queue()
        stop = threading.Event()
        chat = [{"role": m.role, "content": m.content} for m in messages if m.role != "tool"]

        def run() -> None:
            try:
                with self._lock:
                    for part in self._llm.create_chat_completion(chat, max_tokens=max_tokens,  # type: ignore[arg-type]
                                                                 temperature=temperature, stream=True):
                        if stop.is_set():
                            break
                        delta: Any = part["choices"][0]["delta"]  # type: ignore[index]
                        text = str(delta.get("content") or "")
                        if text:
                            loop.call_soon_threadsafe(queue.put_nowait, Delta(text=text))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = asyncio.create_task(asyncio.to_thread(run))
        try:
            while (delta := await queue.get()) is not None:
                yield delta
            yield Delta(finish_reason="stop")
        finally:
            stop.set()
            await asyncio.shield(worker)
