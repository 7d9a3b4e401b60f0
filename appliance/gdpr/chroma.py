"""The subject's chunks in the organization's Chroma collection: find, delete, and scrub Chroma's own files.

Deleting through Chroma removes a chunk from queries, but its text stays in Chroma's SQLite write-ahead log
(`embeddings_queue`, replayed into the vector index) and in free pages until they are reused. `scrub` blanks the
erased ids' text in that log (the add and delete operations stay, so a replay still ends with the chunk gone),
merges the full-text index, and VACUUMs the file.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMA_DB = "chroma.sqlite3"


@dataclass(frozen=True, slots=True)
class Chunk:
    id: str
    document: str
    text: str


def _collection(chroma_dir: Path, organization_id: int) -> Any:
    if not (chroma_dir / CHROMA_DB).exists():
        return None
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    name = f"org_{organization_id}"
    if name not in {c.name for c in client.list_collections()}:
        return None
    return client.get_collection(name)


def find_chunks(chroma_dir: Path, organization_id: int, needles: tuple[str, ...]) -> list[Chunk]:
    """Chunks whose text contains any of `needles` (exact substring)."""
    col = _collection(chroma_dir, organization_id)
    if col is None or not needles:
        return []
    found: dict[str, Chunk] = {}
    for needle in needles:
        got = col.get(where_document={"$contains": needle}, include=["documents", "metadatas"])
        for cid, text, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False):
            found[cid] = Chunk(cid, str((meta or {}).get("name", "")), str(text))
    return sorted(found.values(), key=lambda c: c.id)


def delete_chunks(chroma_dir: Path, organization_id: int, ids: list[str]) -> None:
    col = _collection(chroma_dir, organization_id)
    if col is not None and ids:
        col.delete(ids=ids)


def scrub(chroma_dir: Path, ids: list[str]) -> None:
    """Remove the erased chunks' text from Chroma's SQLite file (log rows, full-text index, free pages)."""
    path = chroma_dir / CHROMA_DB
    if not path.exists():
        return
    with closing(sqlite3.connect(path, timeout=30)) as db:
        if ids:
            marks = ",".join("?" * len(ids))
            rows = db.execute(f"SELECT seq_id, metadata FROM embeddings_queue WHERE id IN ({marks})", ids).fetchall()
            for seq_id, metadata in rows:
                if not metadata:
                    continue
                blank = {k: ("" if isinstance(v, str) else v) for k, v in json.loads(metadata).items()}
                db.execute("UPDATE embeddings_queue SET metadata = ? WHERE seq_id = ?", (json.dumps(blank), seq_id))
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "embedding_fulltext_search" in tables:
            db.execute("INSERT INTO embedding_fulltext_search(embedding_fulltext_search) VALUES ('optimize')")
        db.commit()
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a no-op unless Chroma ever runs its file in WAL mode
