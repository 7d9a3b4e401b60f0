"""Text embeddings for the knowledge base (our own embedding function; nothing downloads)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

EmbedKind = Literal["query", "passage"]


class Embedder(ABC):
    name: ClassVar[str]
    dim: int

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "passage") -> list[list[float]]:
        """Normalised vectors, one per text."""
        return await self._impl(texts, kind=kind)

    def embed_sync(self, texts: Sequence[str], *, kind: EmbedKind = "passage") -> list[list[float]]:
        """Blocking variant for callers that are already in a worker thread (e.g. Chroma's callback)."""
        return self._impl_sync(texts, kind=kind)

    @abstractmethod
    async def _impl(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]: ...

    @abstractmethod
    def _impl_sync(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]: ...
