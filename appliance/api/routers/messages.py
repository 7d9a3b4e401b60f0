"""Messages the agent took for staff in the caller's organization: list (newest first, filters, offset pages),
read, mark read/done, delete. Audit entries name the message by id only (callers' names and numbers are personal
data)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.resources import messages as svc

router = APIRouter(prefix="/messages", tags=["crm"])
Reader = Annotated[Principal, Depends(require("content:read"))]
Writer = Annotated[Principal, Depends(require("content:write"))]
Db = Annotated[Session, Depends(get_session, scope="function")]


@router.get("")
def list_messages(principal: Reader, session: Db, status: svc.Status | None = None, agent_id: int | None = None,
                  since: Annotated[dt.datetime | None, Query(description="taken at or after (naive = UTC)")] = None,
                  until: Annotated[dt.datetime | None, Query(description="taken before")] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[svc.MessageOut]:
    flt = svc.MessageFilter(status=status, agent_id=agent_id, since=since, until=until)
    return [svc.message_out(r) for r in svc.list_messages(session, principal.org_id, flt, limit=limit,
                                                          offset=offset)]


@router.get("/{message_id}", responses={404: {}})
def get_message(message_id: int, principal: Reader, session: Db) -> svc.MessageOut:
    return svc.message_out(svc.get_message(session, principal.org_id, message_id))


@router.patch("/{message_id}", responses={404: {}})
def update_message(message_id: int, body: svc.MessageChanges, principal: Writer, session: Db) -> svc.MessageOut:
    row = svc.set_status(session, principal.org_id, message_id, body)
    audit(session, principal, "message.update", f"message:{message_id}", {"status": body.status})
    return svc.message_out(row)


@router.delete("/{message_id}", status_code=204, responses={404: {}})
def delete_message(message_id: int, principal: Writer, session: Db) -> None:
    svc.delete_message(session, principal.org_id, message_id)
    audit(session, principal, "message.delete", f"message:{message_id}")
