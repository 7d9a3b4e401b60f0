"""Messages the agent took for staff (the take_message tool): list with filters, read, mark handled, delete.

A message is created by a call (appliance/conversation/backoffice.py), never through the API; staff move it from
`new` to `read` or `done`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.api.resources import UtcDatetime, db_utc
from appliance.store.models import Message
from appliance.store.repositories import TenantRepo

Status = Literal["new", "read", "done"]


class MessageFilter(BaseModel):
    status: Status | None = None
    agent_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class MessageChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status = Field(description="new, read or done")


class MessageOut(BaseModel):
    id: int
    agent_id: int | None
    call_id: str | None
    caller_name: str
    phone: str
    text: str
    status: str
    created_at: UtcDatetime


def message_out(row: Message) -> MessageOut:
    return MessageOut(id=row.id, agent_id=row.agent_id, call_id=row.call_id, caller_name=row.caller_name,
                      phone=row.phone, text=row.text, status=row.status, created_at=row.created_at)


def list_messages(session: Session, org_id: int, flt: MessageFilter, *, limit: int = 50,
                  offset: int = 0) -> list[Message]:
    """Newest first."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    criteria: list[Any] = []
    if flt.status is not None:
        criteria.append(Message.status == flt.status)
    if flt.agent_id is not None:
        criteria.append(Message.agent_id == flt.agent_id)
    if flt.since is not None:
        criteria.append(Message.created_at >= db_utc(flt.since, is_sqlite=sqlite))
    if flt.until is not None:
        criteria.append(Message.created_at < db_utc(flt.until, is_sqlite=sqlite))
    stmt = (select(Message).where(Message.organization_id == org_id, *criteria)
            .order_by(Message.created_at.desc(), Message.id.desc()).offset(offset).limit(limit))
    return list(session.scalars(stmt))


def get_message(session: Session, org_id: int, message_id: int) -> Message:
    return TenantRepo(session, Message, org_id).get(message_id)


def set_status(session: Session, org_id: int, message_id: int, changes: MessageChanges) -> Message:
    row = get_message(session, org_id, message_id)
    row.status = changes.status
    return row


def delete_message(session: Session, org_id: int, message_id: int) -> None:
    TenantRepo(session, Message, org_id).delete(message_id)
