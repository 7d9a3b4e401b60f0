"""Language model: chat messages (and tools) in, a stream of text and tool-call deltas out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class LLMCapabilities:
    streaming: bool = True
    tool_calling: bool = False
    languages: tuple[str, ...] = ("en",)
    context_tokens: int = 2048


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call; `parameters` is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class Delta:
    text: str = ""
    tool_call: ToolCall | None = None
    finish_reason: str | None = None


class LLM(ABC):
    name: ClassVar[str]
    capabilities: LLMCapabilities

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = 200,
        temperature: float = 0.6,
    ) -> AsyncIterator[Delta]:
        """Stream the reply. Closing the iterator (`aclose`, or cancelling the consumer) stops generation."""
        return self._impl(messages, tools=tools, max_tokens=max_tokens, temperature=temperature)

    async def complete(self, messages: Sequence[ChatMessage], **kwargs: Any) -> str:
        """The whole reply text (non-streaming convenience)."""
        return "".join([d.text async for d in self.stream(messages, **kwargs)])

    @abstractmethod
    def _impl(
        self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int, temperature: float
    ) -> AsyncIterator[Delta]: ...
