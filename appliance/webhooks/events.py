"""The webhook events and the JSON envelope every delivery carries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

CALL_STARTED: Final = "call.started"
CALL_ENDED: Final = "call.ended"
TURN_COMPLETED: Final = "turn.completed"
MESSAGE_TAKEN: Final = "message.taken"
APPOINTMENT_BOOKED: Final = "appointment.booked"
WEBHOOK_TEST: Final = "webhook.test"  # sent only by "test delivery", never subscribed to

EVENTS: Final = (CALL_STARTED, CALL_ENDED, TURN_COMPLETED, MESSAGE_TAKEN, APPOINTMENT_BOOKED)


def envelope(event: str, organization_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """`{id, event, created_at, organization_id, data}`; `id` is the same for every webhook that gets it, so a
    receiver can drop a repeat (deliveries are at least once)."""
    return {
        "id": str(uuid.uuid4()),
        "event": event,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "organization_id": organization_id,
        "data": data,
    }


def iso(value: dt.datetime | None) -> str | None:
    """A stored timestamp (naive means UTC, as SQLite returns them) in ISO 8601 with its offset."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
