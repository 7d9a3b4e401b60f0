"""A tokenized iCalendar feed of an agent's appointments, for staff calendars (Outlook, Thunderbird, phones).

Calendar apps cannot log in, so the feed URL carries a secret token instead: `POST .../feed-token` makes one
(shown once, stored hashed, replacing the previous one), `DELETE` revokes it. The feed lists booked
appointments from 30 days back on.
"""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.resources.agents import effective_config
from appliance.api.security import digest
from appliance.store.models import Agent, Appointment, Setting
from appliance.store.repositories import TenantRepo

router = APIRouter(prefix="/calendar", tags=["calendar"])


class FeedToken(BaseModel):
    url: str
    token: str


def _key(agent_id: int) -> str:
    return f"ics_token:{agent_id}"


@router.post("/agents/{agent_id}/feed-token", status_code=201)
def create_feed_token(agent_id: int, request: Request,
                      principal: Annotated[Principal, Depends(require("content:write"))],
                      session: Annotated[Session, Depends(get_session, scope="function")]) -> FeedToken:
    TenantRepo(session, Agent, principal.org_id).get(agent_id)  # 404 for another org's agent
    token = secrets.token_urlsafe(24)
    row = session.get(Setting, (principal.org_id, _key(agent_id)))
    if row is None:
        session.add(Setting(organization_id=principal.org_id, key=_key(agent_id), value=digest(token)))
    else:
        row.value = digest(token)
    audit(session, principal, "calendar.feed_token", f"agent:{agent_id}")
    url = str(request.url_for("calendar_feed", agent_id=agent_id).include_query_params(token=token))
    return FeedToken(url=url, token=token)


@router.delete("/agents/{agent_id}/feed-token", status_code=204)
def revoke_feed_token(agent_id: int, principal: Annotated[Principal, Depends(require("content:write"))],
                      session: Annotated[Session, Depends(get_session, scope="function")]) -> None:
    TenantRepo(session, Agent, principal.org_id).get(agent_id)
    row = session.get(Setting, (principal.org_id, _key(agent_id)))
    if row is not None:
        session.delete(row)
    audit(session, principal, "calendar.feed_revoke", f"agent:{agent_id}")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _utc(ts: dt.datetime, tz: str = "UTC") -> str:
    """An appointment time (the agent's local wall-clock, as stored) as UTC for calendar apps."""
    local = ts.replace(tzinfo=None).replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return local.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@router.get("/agents/{agent_id}/feed.ics", name="calendar_feed", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}, 404: {}})
def calendar_feed(agent_id: int, session: Annotated[Session, Depends(get_session, scope="function")],
                  token: Annotated[str, Query(min_length=8, max_length=100)]) -> Response:
    """No login: the token is the credential. A wrong or revoked token is a 404 (nothing to learn)."""
    agent = session.get(Agent, agent_id)
    row = session.get(Setting, (agent.organization_id, _key(agent_id))) if agent is not None else None
    if agent is None or row is None or not secrets.compare_digest(str(row.value), digest(token)):
        raise HTTPException(404, "no such calendar feed")
    tz = effective_config(agent).timezone
    since = dt.datetime.now(zoneinfo.ZoneInfo(tz)) - dt.timedelta(days=30)
    appointments = session.scalars(select(Appointment).where(
        Appointment.organization_id == agent.organization_id, Appointment.agent_id == agent_id,
        Appointment.status == "booked", Appointment.starts_at >= since.replace(tzinfo=None)
    ).order_by(Appointment.starts_at)).all()
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//VocalIQ//appointments//EN", "CALSCALE:GREGORIAN",
             f"X-WR-CALNAME:{_escape(agent.name)}"]
    stamp = _utc(dt.datetime.now(dt.UTC))
    for a in appointments:
        lines += ["BEGIN:VEVENT", f"UID:appointment-{a.id}@vocaliq", f"DTSTAMP:{stamp}",
                  f"DTSTART:{_utc(a.starts_at, tz)}", f"DTEND:{_utc(a.ends_at, tz)}",
                  f"SUMMARY:{_escape(a.name or 'Appointment')}",
                  f"DESCRIPTION:{_escape('; '.join(x for x in (a.phone, a.email, a.notes) if x))}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return Response("\r\n".join(lines) + "\r\n", media_type="text/calendar; charset=utf-8")
