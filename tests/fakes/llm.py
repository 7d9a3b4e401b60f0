"""A scripted LLM: replies with canned texts in order, streamed word by word; records what it was asked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from models.llm.base import LLM, ChatMessage, Delta, LLMCapabilities, ToolCall, ToolSpec


class ScriptedLLM(LLM):
    name = "scripted"

    def __init__(self, replies: Sequence[str | ToolCall] = (), *, tool_calling: bool = False) -> None:
        self.capabilities = LLMCapabilities(tool_calling=tool_calling)
        self.replies = list(replies)
        self.calls: list[list[ChatMessage]] = []

    async def _impl(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int,
                    temperature: float) -> AsyncIterator[Delta]:
        self.calls.append(list(messages))
        reply = self.replies.pop(0) if self.replies else "I see."
        if isinstance(reply, ToolCall):
            yield Delta(tool_call=reply)
            return
        for word in reply.split(" "):
            yield Delta(text=word + " ")
        yield Delta(finish_reason="stop")
