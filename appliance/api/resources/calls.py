"""Call history of one organization: filtered, keyset-paginated lists, and a call's full detail.

Lists are ordered newest first by (started_at, id) and paged with an opaque cursor, so a page stays correct
while new calls arrive and costs the same at page 1 and page 500 (the (organization_id, started_at) index).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from appliance.api.resources import Invalid, UtcDatetime, db_utc
from appliance.conversation.backoffice import LATENCY_KEYS
from appliance.errors import Conflict, NotFound
from appliance.store.models import Call, CallEventRow, Recording, Turn
from appliance.store.repositories import TenantRepo


class CallSummary(BaseModel):
    id: str
    agent_id: int | None
    trunk_id: int | None
    direction: str
    transport: str
    caller: str
    callee: str
    status: str
    started_at: UtcDatetime
    answered_at: UtcDatetime | None
    ended_at: UtcDatetime | None
    end_reason: str
    duration_s: float
    sentiment: float | None
    summary: str


class CallPage(BaseModel):
    items: list[CallSummary]
    next_cursor: str | None


class TurnOut(BaseModel):
    index: int
    user_text: str
    agent_text: str
    played_text: str
    interrupted: bool
    intent: str
    entities: dict[str, Any]
    sentiment: float | None
    latency: dict[str, float | None]
    created_at: UtcDatetime


class StageLatency(BaseModel):
    """One stage over the call's turns (ms): endpoint wait, STT, LLM first token, TTS first audio, v2v, ..."""

    stage: str
    turns: int
    mean_ms: float
    p50_ms: float
    max_ms: float


class EventOut(BaseModel):
    type: str
    at_ms: float  # since the call's first event
    data: dict[str, Any]


class RecordingOut(BaseModel):
    id: int
    format: str
    channels: int
    sample_rate: int
    duration_s: float
    encrypted: bool
    download: str  # path of the download route (HTTP Range supported)


class CallDetail(CallSummary):
    turns: list[TurnOut]
    latency: list[StageLatency]
    events: list[EventOut]
    recordings: list[RecordingOut]


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What a list asks for; every field optional. `caller`: the exact number, a prefix ending in '*', an ending
    after a '*' or a part between two ('*4711*')."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    direction: Literal["inbound", "outbound"] | None = None
    status: Literal["active", "ended"] | None = None
    outcome: str | None = None  # the call's end_reason (caller_hangup, transferred, no_input, ...)
    agent_id: int | None = None
    caller: str | None = None


SUMMARY_FIELDS = tuple(CallSummary.model_fields)
_SUMMARY_COLUMNS = tuple(getattr(Call, name) for name in SUMMARY_FIELDS)


def _fields(call: Call) -> dict[str, Any]:
    return {name: getattr(call, name) for name in SUMMARY_FIELDS}


def summary(call: Call) -> CallSummary:
    return CallSummary(**_fields(call))


def _cursor(call: Any) -> str:
    raw = json.dumps([call.started_at.isoformat(), call.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[dt.datetime, str]:
    try:
        started, call_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return dt.datetime.fromisoformat(started), str(call_id)
    except (ValueError, TypeError, binascii.Error):
        raise Invalid("the cursor is not one this API gave out") from None


def list_calls(session: Session, org_id: int, flt: CallFilter, *, limit: int = 50,
               cursor: str | None = None) -> CallPage:
    sqlite = session.get_bind().dialect.name == "sqlite"
    criteria: list[Any] = []
    if flt.since is not None:
        criteria.append(Call.started_at >= db_utc(flt.since, is_sqlite=sqlite))
    if flt.until is not None:
        criteria.append(Call.started_at < db_utc(flt.until, is_sqlite=sqlite))
    for column, value in ((Call.direction, flt.direction), (Call.status, flt.status),
                          (Call.end_reason, flt.outcome), (Call.agent_id, flt.agent_id)):
        if value is not None:
            criteria.append(column == value)
    if flt.caller:
        part, lead, trail = flt.caller.strip("*"), flt.caller.startswith("*"), flt.caller.endswith("*")
        criteria.append(Call.caller.contains(part, autoescape=True) if lead and trail
                        else Call.caller.endswith(part, autoescape=True) if lead
                        else Call.caller.startswith(part, autoescape=True) if trail
                        else Call.caller == flt.caller)
    if cursor:
        started, call_id = _after(cursor)
        started = db_utc(started, is_sqlite=sqlite)
        criteria.append(or_(Call.started_at < started, and_(Call.started_at == started, Call.id < call_id)))
    # Plain rows, not ORM objects: a page is read-only and this halves its cost.
    rows = session.execute(select(*_SUMMARY_COLUMNS).where(Call.organization_id == org_id, *criteria)
                           .order_by(Call.started_at.desc(), Call.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return CallPage(items=[CallSummary(**row._mapping) for row in rows],
                    next_cursor=_cursor(rows[-1]) if more else None)


def latency_breakdown(turns: list[Turn]) -> list[StageLatency]:
    out = []
    for stage in LATENCY_KEYS:
        values = [float(v) for t in turns if isinstance(v := (t.latency or {}).get(stage), int | float)]
        if values:
            out.append(StageLatency(stage=stage.removesuffix("_ms"), turns=len(values),
                                    mean_ms=round(statistics.fmean(values), 1),
                                    p50_ms=round(statistics.median(values), 1), max_ms=round(max(values), 1)))
    return out


def detail(session: Session, org_id: int, call_id: str) -> CallDetail:
    call = TenantRepo(session, Call, org_id).get(call_id)
    # The call is this organization's (checked just above) and its child rows carry the same organization.
    # They are selected by call_id alone: with an organization_id term SQLite picks that index and scans
    # every event of the tenant (33 ms at 10 000 calls instead of 0.05 ms).
    turns = list(session.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.index)))
    events = list(session.scalars(select(CallEventRow).where(CallEventRow.call_id == call.id)
                                  .order_by(CallEventRow.ts, CallEventRow.id)))
    recordings = session.scalars(select(Recording).where(Recording.call_id == call.id).order_by(Recording.id))
    start = events[0].ts if events else 0.0
    return CallDetail(
        **_fields(call),
        turns=[TurnOut(index=t.index, user_text=t.user_text, agent_text=t.agent_text, played_text=t.played_text,
                       interrupted=t.interrupted, intent=t.intent, entities=t.entities or {}, sentiment=t.sentiment,
                       latency=t.latency or {}, created_at=t.created_at) for t in turns],
        latency=latency_breakdown(turns),
        events=[EventOut(type=e.type, at_ms=round((e.ts - start) * 1000, 1), data=e.payload or {})
                for e in events],
        recordings=[RecordingOut(id=r.id, format=r.format, channels=r.channels, sample_rate=r.sample_rate,
                                 duration_s=r.duration_s, encrypted=r.encrypted,
                                 download=f"/api/v1/calls/{call_id}/recording?recording_id={r.id}")
                    for r in recordings])


@dataclass(frozen=True, slots=True)
class RecordingFile:
    path: Path
    filename: str
    media_type: str


def recording_file(session: Session, org_id: int, call_id: str, recordings_dir: Path,
                   recording_id: int | None = None) -> RecordingFile:
    """The call's recording on disk (its first, or `recording_id`). Only files inside the recordings dir."""
    call = TenantRepo(session, Call, org_id).get(call_id)
    stmt = select(Recording).where(Recording.call_id == call.id)  # as in detail(): the call is this org's
    if recording_id is not None:
        stmt = stmt.where(Recording.id == recording_id)
    row = session.scalars(stmt.order_by(Recording.id).limit(1)).first()
    if row is None:
        raise NotFound(f"call {call_id} has no recording")
    if row.encrypted:
        raise Conflict("this recording is encrypted at rest and cannot be served")
    path = Path(row.path).resolve()
    if not path.is_relative_to(recordings_dir.resolve()) or not path.is_file():
        raise NotFound(f"the recording file of call {call_id} is gone")
    return RecordingFile(path, f"{call_id}.{row.format or 'wav'}", "audio/wav" if row.format == "wav" else
                         "application/octet-stream")
