"""Embeddings fallback chain: the first healthy backend embeds; if it errors or misses its deadline, the next
one does. All members must produce vectors of one model's space (checked by dimension): a knowledge base
indexed with one model cannot be searched with another's vectors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from appliance.errors import ModelUnavailable
from appliance.events import EventBus
from models.embed.base import Embedder, EmbedKind
from models.failover import Failover, Member, describe


class EmbedChain(Embedder):
    name = "chain"

    def __init__(self, members: list[Member[Embedder]], bus: EventBus | None = None) -> None:
        self.failover = Failover("embed", members, bus)
        self.dim = members[0].backend.dim

    def _check(self, member: Member[Embedder], vectors: list[list[float]]) -> list[list[float]]:
        if self.dim and any(len(v) != self.dim for v in vectors):
            raise ModelUnavailable(f"{member.name} returned vectors of another dimension than {self.dim}")
        return vectors

    async def _impl(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        plan = self.failover.plan()
        reasons: list[str] = []
        for i, member in enumerate(plan):
            deadline = self.failover.deadline(plan, i)
            try:
                async with asyncio.timeout(deadline):
                    vectors = self._check(member, await member.backend.embed(texts, kind=kind))
            except asyncio.CancelledError:
                self.failover.release(plan[i:])
                raise
            except Exception as exc:
                reason = describe(exc, deadline, "vectors")
                reasons.append(f"{member.name}: {reason}")
                self.failover.failed(member, reason, plan[i + 1] if i + 1 < len(plan) else None)
                continue
            self.failover.succeeded(member)
            self.failover.release(plan[i + 1:])
            return vectors
        raise self.failover.exhausted(reasons)

    def _impl_sync(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        """Blocking path (already in a worker thread): no deadline beyond each backend's own timeout."""
        plan = self.failover.plan()
        reasons: list[str] = []
        for i, member in enumerate(plan):
            try:
                vectors = self._check(member, member.backend.embed_sync(texts, kind=kind))
            except Exception as exc:
                reason = describe(exc)
                reasons.append(f"{member.name}: {reason}")
                self.failover.failed(member, reason, plan[i + 1] if i + 1 < len(plan) else None)
                continue
            self.failover.succeeded(member)
            self.failover.release(plan[i + 1:])
            return vectors
        raise self.failover.exhausted(reasons)
