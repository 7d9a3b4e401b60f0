"""GDPR: export a data subject's zip, erase them, and run or preview retention for the caller's organization."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, database, get_session, require, settings_of
from appliance.config import Settings
from appliance.gdpr import erase_subject, export_subject, run_retention
from appliance.store.db import Database

router = APIRouter(prefix="/gdpr", tags=["gdpr"])
Manager = Annotated[Principal, Depends(require("gdpr:manage"))]
Db = Annotated[Database, Depends(database)]
Config = Annotated[Settings, Depends(settings_of)]
CHUNK = 64 * 1024


class EraseRequest(BaseModel):
    phone: str | None = Field(default=None, min_length=6, max_length=40, examples=["+4915112345678"])
    contact_id: int | None = None
    delete_calls: bool = Field(False, description="Delete the subject's call rows instead of keeping them as "
                                                  "anonymous statistics.")

    @model_validator(mode="after")
    def _subject(self) -> EraseRequest:
        if not self.phone and self.contact_id is None:
            raise ValueError("give phone or contact_id")
        return self


class ErasureOut(BaseModel):
    counts: dict[str, int]
    recording_files: int
    knowledge_chunks: int
    knowledge_documents: list[str]
    problems: list[str]


class RetentionOut(BaseModel):
    organization_id: int
    retention_days: int | None
    cutoff: str | None
    calls: int
    recording_files: int
    deliveries: int


def _release(session: Session) -> None:
    """End the request's own transaction: an erase VACUUMs, which must not wait on our open snapshot."""
    session.commit()


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}}, "description": "subject.json + recordings"}})
def export(p: Manager, s: Annotated[Session, Depends(get_session, scope="function")], db: Db, settings: Config,
           phone: Annotated[str | None, Query(min_length=6, max_length=40)] = None,
           contact_id: Annotated[int | None, Query()] = None) -> StreamingResponse:
    """Everything stored about a phone number or contact, as a zip (audited)."""
    from appliance.gdpr.subject import InvalidSubject

    if not phone and contact_id is None:
        raise InvalidSubject("give phone or contact_id")
    _release(s)
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by the stream)
    try:
        export_subject(db, settings.paths, p.org_id, spool, phone=phone, contact_id=contact_id, actor=p.actor)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def stream() -> Any:
        with spool:
            while chunk := spool.read(CHUNK):
                yield chunk

    return StreamingResponse(stream(), media_type="application/zip",
                             headers={"Content-Disposition": 'attachment; filename="vocaliq-subject-export.zip"'})


@router.post("/erase", response_model=ErasureOut)
def erase(body: EraseRequest, p: Manager, s: Annotated[Session, Depends(get_session, scope="function")], db: Db,
          settings: Config) -> dict[str, Any]:
    """Erase everything about the subject: rows, recordings, knowledge passages, webhook payloads (audited)."""
    _release(s)
    report = erase_subject(db, settings.paths, p.org_id, phone=body.phone, contact_id=body.contact_id,
                           actor=p.actor, keep_statistics=not body.delete_calls)
    return report.to_dict()


@router.get("/retention", response_model=RetentionOut)
def retention_preview(p: Manager, db: Db, settings: Config) -> dict[str, Any]:
    """What the next retention run would delete in this organization."""
    (result,) = run_retention(db, settings.paths, organization_id=p.org_id, dry_run=True, actor=p.actor)
    return result.to_dict()


@router.post("/retention/run", response_model=RetentionOut)
def retention_run(p: Manager, s: Annotated[Session, Depends(get_session, scope="function")], db: Db,
                  settings: Config) -> dict[str, Any]:
    """Apply this organization's retention now (the box also runs it daily)."""
    _release(s)
    (result,) = run_retention(db, settings.paths, organization_id=p.org_id, actor=p.actor)
    return result.to_dict()
