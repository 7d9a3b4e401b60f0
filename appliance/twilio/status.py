"""Twilio status callbacks → the call row.

A Twilio call's row is the session's own (its id is the CallSid, written by the conversation recorder); a
callback adds what only Twilio knows: the CallSid as `external_id`, when it was answered, and an event per
status. It never overrides how the session said the call ended. A call that failed before any media (busy,
no answer, failed, cancelled) has no session: the callback writes its row (and `call.ended` webhook), so the
attempt is not lost.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from appliance.store.models import Call, CallEventRow
from appliance.telephony import HangupReason
from appliance.webhooks import events as hook_events
from appliance.webhooks import payloads as hook_payloads
from appliance.webhooks.outbox import emit

TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
NEVER_CONNECTED = {"busy": HangupReason.REJECTED, "failed": HangupReason.ERROR,
                   "no-answer": HangupReason.NO_ANSWER, "canceled": HangupReason.CANCELLED}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def apply_status(session: Session, org_id: int, form: Mapping[str, str], *, agent_id: int | None = None) -> str:
    """Record one status callback; returns what happened: "updated", "created" or "unknown" (no such call)."""
    sid = form.get("CallSid", "")
    status = form.get("CallStatus", "")
    row = session.scalars(select(Call).where(Call.organization_id == org_id,
                                             or_(Call.id == sid, Call.external_id == sid))).first()
    duration = form.get("CallDuration", "")
    if row is None:
        reason = NEVER_CONNECTED.get(status)
        if reason is None:  # the session writes it when the stream starts (or it was never ours)
            return "unknown"
        outbound = form.get("Direction", "").startswith("outbound")
        row = Call(id=sid, organization_id=org_id, agent_id=agent_id, external_id=sid, transport="twilio",
                   direction="outbound" if outbound else "inbound", caller=form.get("From", "")[:64],
                   callee=form.get("To", "")[:64], status="ended", end_reason=str(reason), ended_at=_now())
        session.add(row)
        session.flush()
        emit(session, org_id, hook_events.CALL_ENDED, hook_payloads.call_ended(row))  # like any finished call
        result = "created"
    else:
        row.external_id = sid
        if status == "in-progress" and row.answered_at is None:
            row.answered_at = _now()
        if status in TERMINAL and row.status != "ended":  # the session has not finished it (yet)
            row.status = "ended"
            row.end_reason = row.end_reason or str(NEVER_CONNECTED.get(status, HangupReason.CALLER_HANGUP))
            row.ended_at = _now()
            if duration.isdigit():
                row.duration_s = float(duration)
        result = "updated"
    payload: dict[str, str | int] = {"status": status, "source": "twilio"}
    if duration.isdigit():
        payload["duration_s"] = int(duration)
    session.add(CallEventRow(organization_id=org_id, call_id=row.id, type="TwilioStatus", ts=time.monotonic(),
                             payload=payload))
    return result
