"""Export everything stored about a subject: `subject.json` plus the call recordings, in one zip."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from appliance.config import DataDir
from appliance.gdpr import chroma
from appliance.gdpr.subject import Footprint, Subject, collect, inside, resolve
from appliance.store.db import Database
from appliance.store.models import Base, Organization
from appliance.store.repositories import AuditLog

README = """This archive holds every record VocalIQ stores about the data subject named in subject.json:
calls (with their turns, events and recording metadata), appointments, messages, contacts, queued or sent
webhook payloads, and knowledge-base passages that mention the number. Recordings are in recordings/,
one stereo WAV per call (caller left, agent right) unless marked encrypted.
"""


def row_dict(row: Base) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, dt.datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
        out[column.key] = value
    return out


@dataclass(frozen=True, slots=True)
class ExportResult:
    counts: dict[str, int]
    files: list[str]


def _document(subject: Subject, fp: Footprint, org_name: str, chunks: list[chroma.Chunk],
              recording_names: dict[int, str]) -> dict[str, Any]:
    calls = []
    for call in fp.calls:
        entry = row_dict(call)
        entry["turns"] = [row_dict(t) for t in fp.turns if t.call_id == call.id]
        entry["events"] = [row_dict(e) for e in fp.events if e.call_id == call.id]
        entry["recordings"] = [{**row_dict(r), "file": recording_names.get(r.id)} for r in fp.recordings
                               if r.call_id == call.id]
        calls.append(entry)
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "organization": {"id": subject.organization_id, "name": org_name},
        "subject": {"phone_numbers": list(subject.phones), "contact_ids": list(subject.contact_ids)},
        "calls": calls,
        "appointments": [row_dict(a) for a in fp.appointments],
        "messages": [row_dict(m) for m in fp.messages],
        "contacts": [row_dict(c) for c in fp.contacts],
        "webhook_payloads": [{"event": d.event, "status": d.status, "created_at": row_dict(d)["created_at"],
                              "payload": d.payload} for d in fp.deliveries],
        "knowledge_passages": [{"id": c.id, "document": c.document, "text": c.text} for c in chunks],
    }


def export_subject(db: Database, paths: DataDir, organization_id: int, out: IO[bytes], *, phone: str | None = None,
                   contact_id: int | None = None, actor: str = "system") -> ExportResult:
    """Write the subject's zip to `out` and audit the export (who, whose, how much; never the full number)."""
    with db.session() as s:
        subject = resolve(s, organization_id, phone=phone, contact_id=contact_id)
        fp = collect(s, subject)
        org = s.get(Organization, organization_id)
        org_name = org.name if org is not None else ""
    chunks = chroma.find_chunks(paths.chroma, organization_id, subject.phones)
    recording_names: dict[int, str] = {}
    files: list[str] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rec in fp.recordings:
            source = inside(rec.path, paths.recordings)
            if source is None or not source.is_file():
                continue
            name = f"recordings/{rec.call_id}-{rec.id}{Path(rec.path).suffix or '.wav'}"
            zf.write(source, name)
            recording_names[rec.id] = name
            files.append(name)
        document = _document(subject, fp, org_name, chunks, recording_names)
        zf.writestr("subject.json", json.dumps(document, indent=2, ensure_ascii=False, default=str))
        zf.writestr("README.txt", README)
    counts = {**fp.counts(), "recording_files": len(files), "knowledge_passages": len(chunks)}
    with db.session() as s:
        AuditLog(s).append("gdpr.export", actor=actor, target=subject.label, organization_id=organization_id,
                           detail=counts)
    return ExportResult(counts, ["subject.json", "README.txt", *files])
