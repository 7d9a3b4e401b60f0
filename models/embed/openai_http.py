"""OpenAI-compatible `/v1/embeddings` client (a hosted provider, or an embedding server on the box).

Vectors are comparable only within one model: a knowledge base indexed with one embedder cannot be searched
with another. Use this as a fallback only for a server running the same model as the primary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import httpx

from appliance.errors import ModelUnavailable
from models.embed.base import Embedder, EmbedKind
from models.http_clients import HttpClients, bearer


class OpenAIEmbedder(Embedder):
    """`query_prefix` / `passage_prefix` are prepended per kind (e5 models want "query: " / "passage: ")."""

    name = "openai-embed"

    def __init__(self, url: str, *, model: str = "", api_key: str | None = None, timeout_s: float = 10.0,
                 dim: int = 0, query_prefix: str = "", passage_prefix: str = "") -> None:
        if not url:
            raise ModelUnavailable("an OpenAI-compatible embeddings backend needs a url")
        self.model = model
        self.dim = dim  # 0 = learned from the first answer
        self.prefixes: dict[EmbedKind, str] = {"query": query_prefix, "passage": passage_prefix}
        self.http = HttpClients(url, timeout_s=timeout_s, headers=bearer(api_key), secret=api_key)

    def _body(self, texts: Sequence[str], kind: EmbedKind) -> dict[str, Any]:
        return {"model": self.model, "input": [self.prefixes[kind] + t for t in texts], "encoding_format": "float"}

    def _vectors(self, response: httpx.Response, count: int) -> list[list[float]]:
        if response.status_code >= 400:
            raise self.http.status_error("embeddings", response)
        try:
            rows = sorted(response.json()["data"], key=lambda r: int(r.get("index", 0)))
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(f"embeddings at {self.http.base_url}: malformed answer ({exc})") from exc
        if len(vectors) != count:
            raise ModelUnavailable(f"embeddings at {self.http.base_url}: {len(vectors)} vectors for {count} texts")
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or (self.dim and dims != {self.dim}):
            raise ModelUnavailable(f"embeddings at {self.http.base_url}: dimension {sorted(dims)}, "
                                   f"expected {self.dim or 'one dimension'}")
        self.dim = self.dim or dims.pop()
        return [_normalised(v) for v in vectors]

    async def _impl(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        if not texts:
            return []
        try:
            response = await self.http.get().post("/embeddings", json=self._body(texts, kind))
        except httpx.HTTPError as exc:
            raise self.http.error("embeddings", exc) from exc
        return self._vectors(response, len(texts))

    def _impl_sync(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        if not texts:
            return []
        try:
            response = self.http.sync().post("/embeddings", json=self._body(texts, kind))
        except httpx.HTTPError as exc:
            raise self.http.error("embeddings", exc) from exc
        return self._vectors(response, len(texts))

    async def aclose(self) -> None:
        await self.http.aclose()


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector
