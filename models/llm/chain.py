"""LLM fallback chain: the first backend whose breaker lets it through streams the reply; if it errors or
misses its first-token deadline, the next one answers the same request.

Failover happens only before the first token: once words went out, a failure ends the reply with
ModelUnavailable (two models' halves would not make one sentence).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from appliance.events import EventBus
from models.failover import Failover, Member, describe
from models.llm.base import LLM, ChatMessage, Delta, LLMCapabilities, ToolSpec


class LLMChain(LLM):
    name = "chain"

    def __init__(self, members: list[Member[LLM]], bus: EventBus | None = None) -> None:
        self.failover = Failover("llm", members, bus)

    @property
    def capabilities(self) -> LLMCapabilities:
        """The capabilities of the backend that would answer now (e.g. tool calling while vLLM is healthy)."""
        return self.failover.preferred().backend.capabilities

    @capabilities.setter
    def capabilities(self, value: LLMCapabilities) -> None:
        raise AttributeError("a chain's capabilities are its members'")

    async def _impl(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int,
                    temperature: float) -> AsyncIterator[Delta]:
        plan = self.failover.plan()
        reasons: list[str] = []
        for i, member in enumerate(plan):
            backend = member.backend
            stream = backend.stream(messages, tools=tools if backend.capabilities.tool_calling else (),
                                    max_tokens=max_tokens, temperature=temperature)
            deadline = self.failover.deadline(plan, i)
            try:
                async with asyncio.timeout(deadline):
                    first: Delta | None = await anext(stream)
            except StopAsyncIteration:
                first = None
            except asyncio.CancelledError:
                await _close(stream)
                self.failover.release(plan[i:])
                raise
            except Exception as exc:
                await _close(stream)
                reason = describe(exc, deadline, "first token")
                reasons.append(f"{member.name}: {reason}")
                self.failover.failed(member, reason, plan[i + 1] if i + 1 < len(plan) else None)
                continue
            self.failover.succeeded(member)
            self.failover.release(plan[i + 1:])
            try:
                if first is not None:
                    yield first
                    async for delta in stream:
                        yield delta
            except Exception:
                member.breaker.failure()
                raise
            finally:
                await _close(stream)
            return
        raise self.failover.exhausted(reasons)


async def _close(stream: AsyncIterator[Delta]) -> None:
    if isinstance(stream, AsyncGenerator):
        await stream.aclose()
