"""Erase a subject: rows, recording files, knowledge chunks, webhook payloads, then compact the files.

What stays is anonymous: with `keep_statistics` (the default) each of the subject's calls keeps its row with
time, duration, direction, agent and outcome (numbers, summary and external id blanked), so call counts and
durations in reports stay right; turns, events, recordings, appointments, messages, contacts and webhook
payloads are deleted. The audit entry names the subject by its masked number only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete

from appliance.config import DataDir
from appliance.gdpr import chroma
from appliance.gdpr.compact import compact
from appliance.gdpr.subject import collect, inside, resolve
from appliance.store.db import Database
from appliance.store.models import (
    Appointment,
    Call,
    CallEventRow,
    Contact,
    Message,
    Recording,
    Turn,
    WebhookDelivery,
)
from appliance.store.repositories import AuditLog

log = logging.getLogger(__name__)
TOUCHED = ("calls", "turns", "call_events", "recordings", "appointments", "messages", "contacts",
           "webhook_deliveries", "audit_log")


@dataclass(slots=True)
class ErasureReport:
    counts: dict[str, int]
    recording_files: int = 0
    knowledge_chunks: int = 0
    knowledge_documents: list[str] = field(default_factory=list)  # documents that lost passages: re-upload clean
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"counts": self.counts, "recording_files": self.recording_files,
                "knowledge_chunks": self.knowledge_chunks, "knowledge_documents": self.knowledge_documents,
                "problems": self.problems}


def erase_subject(db: Database, paths: DataDir, organization_id: int, *, phone: str | None = None,
                  contact_id: int | None = None, actor: str = "system", keep_statistics: bool = True) -> ErasureReport:
    """Erase everything about the subject (see module docstring); audited in the same transaction."""
    with db.session() as s:
        subject = resolve(s, organization_id, phone=phone, contact_id=contact_id)
        fp = collect(s, subject)
        files = [p for p in (inside(r.path, paths.recordings) for r in fp.recordings) if p is not None]
        ids = fp.call_ids

        def gone(model: type, rows: list[object]) -> None:
            keys = [r.id for r in rows]  # type: ignore[attr-defined]
            if keys:
                s.execute(delete(model).where(model.id.in_(keys)))  # type: ignore[attr-defined]

        gone(WebhookDelivery, list(fp.deliveries))
        gone(Turn, list(fp.turns))
        gone(CallEventRow, list(fp.events))
        gone(Recording, list(fp.recordings))
        gone(Appointment, list(fp.appointments))
        gone(Message, list(fp.messages))
        gone(Contact, list(fp.contacts))
        if keep_statistics:
            for call in fp.calls:
                call.caller = "" if call.caller in subject.phones else call.caller
                call.callee = "" if call.callee in subject.phones else call.callee
                call.summary, call.external_id = "", ""
        elif ids:
            s.execute(delete(Call).where(Call.id.in_(ids)))
        report = ErasureReport(fp.counts())
        chunks = chroma.find_chunks(paths.chroma, organization_id, subject.phones)
        report.knowledge_chunks = len(chunks)
        report.knowledge_documents = sorted({c.document for c in chunks})
        AuditLog(s).append("gdpr.erase", actor=actor, target=subject.label, organization_id=organization_id,
                           detail={**report.counts, "knowledge_chunks": len(chunks),
                                   "calls_kept_anonymous": keep_statistics})
    # the rows are gone for good: now the copies outside the database
    for path in files:
        try:
            path.unlink(missing_ok=True)
            report.recording_files += 1
        except OSError as exc:
            report.problems.append(f"recording {path.name}: {exc.strerror}")
    if chunks:
        chroma.delete_chunks(paths.chroma, organization_id, [c.id for c in chunks])
    chroma.scrub(paths.chroma, [c.id for c in chunks])
    compact(db, TOUCHED)
    log.info("gdpr erase done", extra={"organization_id": organization_id, "subject": subject.label,
                                       **report.counts})
    return report
