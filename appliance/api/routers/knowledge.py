"""The organization's knowledge base: upload (txt, md, pdf, html), list, delete, search."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.services import knowledge_of
from appliance.errors import NotFound
from appliance.store.models import KnowledgeDocument
from appliance.store.repositories import TenantRepo

router = APIRouter(prefix="/knowledge", tags=["knowledge"])
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


class DocumentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    sha256: str
    chunks: int
    created_at: dt.datetime


class Hit(BaseModel):
    document_id: int | None
    name: str
    text: str
    score: float


def chroma_id(doc: KnowledgeDocument) -> str:
    return f"kd{doc.id}"


def _out(doc: KnowledgeDocument) -> DocumentOut:
    return DocumentOut(id=doc.id, filename=doc.filename, content_type=doc.content_type, sha256=doc.sha256,
                       chunks=doc.chunks, created_at=doc.created_at)


@router.post("", status_code=201, responses={400: {}})
async def upload(file: UploadFile, request: Request,
                 principal: Annotated[Principal, Depends(require("content:write"))]) -> DocumentOut:
    """Extract, chunk and embed a document; the agent's answers can cite it at once."""
    data = await file.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise HTTPException(413, f"document over {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
    name = (file.filename or "document.txt")[-200:]
    org, db = principal.org_id, request.app.state.db

    def add_row() -> int:  # the row first: its id names the chunks
        with db.session() as s:
            return TenantRepo(s, KnowledgeDocument, org).add(
                title=name, filename=name, content_type=file.content_type or "application/octet-stream",
                sha256=hashlib.sha256(data).hexdigest()).id

    def drop_row(doc_id: int) -> None:
        with db.session() as s:
            TenantRepo(s, KnowledgeDocument, org).delete(doc_id)

    def finish_row(doc_id: int, chunks: int) -> DocumentOut:
        with db.session() as s:
            doc = TenantRepo(s, KnowledgeDocument, org).get(doc_id)
            doc.chunks = chunks
            audit(s, principal, "knowledge.add", f"knowledge:{doc_id}", {"filename": name, "chunks": chunks})
            return _out(doc)

    doc_id = await asyncio.to_thread(add_row)  # DB writes never on the loop
    knowledge = await knowledge_of(request)
    try:
        info = await knowledge.add_document(org, name, data, doc_id=f"kd{doc_id}")
    except Exception:
        await asyncio.to_thread(drop_row, doc_id)
        raise
    return await asyncio.to_thread(finish_row, doc_id, info.chunks)


@router.get("")
def list_documents(principal: Annotated[Principal, Depends(require("content:read"))],
                   session: Annotated[Session, Depends(get_session, scope="function")]) -> list[DocumentOut]:
    return [_out(d) for d in TenantRepo(session, KnowledgeDocument, principal.org_id).find(
        order_by=KnowledgeDocument.id)]


@router.delete("/{document_id}", status_code=204)
async def delete_document(document_id: int, request: Request,
                          principal: Annotated[Principal, Depends(require("content:write"))]) -> None:
    org, db = principal.org_id, request.app.state.db

    def filename() -> str:
        with db.session() as s:
            return TenantRepo(s, KnowledgeDocument, org).get(document_id).filename  # 404 for another org's id

    def drop_row(name: str) -> None:
        with db.session() as s:
            TenantRepo(s, KnowledgeDocument, org).delete(document_id)
            audit(s, principal, "knowledge.remove", f"knowledge:{document_id}", {"filename": name})

    name = await asyncio.to_thread(filename)
    knowledge = await knowledge_of(request)
    with contextlib.suppress(NotFound):  # a document without text chunks has none to remove
        await knowledge.remove_document(org, f"kd{document_id}")
    await asyncio.to_thread(drop_row, name)


@router.get("/search")
async def search(request: Request, principal: Annotated[Principal, Depends(require("content:read"))],
                 q: Annotated[str, Query(min_length=1, max_length=500)],
                 k: Annotated[int, Query(ge=1, le=20)] = 3) -> list[Hit]:
    """What the agent would find for `q` in this organization's documents (best first)."""
    knowledge = await knowledge_of(request)
    hits: list[dict[str, Any]] = await knowledge.search(principal.org_id, q, k=k)
    return [Hit(document_id=int(h["doc_id"][2:]) if str(h["doc_id"]).startswith("kd") else None,
                name=h["name"], text=h["text"], score=h["score"]) for h in hits]
