"""Call history and live calls of the caller's organization: list with filters and cursor pages, detail with
turns, latency breakdown and events, recording download (HTTP Range), and the calls in progress."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, get_session, require, settings_of
from appliance.api.resources import calls as svc
from appliance.api.resources.live_calls import LiveCall, live_calls
from appliance.config import Settings

router = APIRouter(prefix="/calls", tags=["calls"])
Reader = Annotated[Principal, Depends(require("calls:read"))]
Db = Annotated[Session, Depends(get_session, scope="function")]


@router.get("")
def list_calls(
    principal: Reader, session: Db,
    since: Annotated[dt.datetime | None, Query(description="started at or after (ISO 8601; naive = UTC)")] = None,
    until: Annotated[dt.datetime | None, Query(description="started before")] = None,
    direction: Literal["inbound", "outbound"] | None = None,
    status: Literal["active", "ended"] | None = None,
    outcome: Annotated[str | None, Query(max_length=32, description="end reason, e.g. caller_hangup")] = None,
    agent_id: int | None = None,
    caller: Annotated[str | None, Query(max_length=64, description="a number, PREFIX*, *ENDING or *PART*")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> svc.CallPage:
    """Newest first. Pass the page's `next_cursor` as `cursor` for the next one (null on the last page)."""
    flt = svc.CallFilter(since=since, until=until, direction=direction, status=status, outcome=outcome,
                         agent_id=agent_id, caller=caller)
    return svc.list_calls(session, principal.org_id, flt, limit=limit, cursor=cursor)


@router.get("/live")
def list_live_calls(request: Request, principal: Reader) -> list[LiveCall]:
    """Calls in progress on this box (empty when the API runs without `vocaliq serve`)."""
    return live_calls(request.app.state.appliance, principal.org_id)


@router.get("/{call_id}", responses={404: {}})
def get_call(call_id: str, principal: Reader, session: Db) -> svc.CallDetail:
    return svc.detail(session, principal.org_id, call_id)


@router.get("/{call_id}/recording", response_class=FileResponse, responses={
    200: {"content": {"audio/wav": {}}}, 206: {"description": "the requested byte range"}, 404: {}, 409: {}})
def download_recording(call_id: str, principal: Reader, session: Db,
                       settings: Annotated[Settings, Depends(settings_of)],
                       recording_id: int | None = None) -> FileResponse:
    """The call's stereo WAV (caller left, agent right). Supports `Range: bytes=...` for seeking players."""
    found = svc.recording_file(session, principal.org_id, call_id, settings.paths.recordings, recording_id)
    return FileResponse(found.path, media_type=found.media_type, filename=found.filename)
