"""The outbox: one `webhook_deliveries` row per subscribed webhook, added in the caller's own transaction.

Because the row commits (or rolls back) with the change it reports, a crash can neither lose an event whose
change was stored nor announce one that was not. The dispatcher sends the rows later.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.store.models import Webhook, WebhookDelivery, utcnow
from appliance.webhooks.events import envelope


def subscribes(webhook: Webhook, event: str) -> bool:
    """An empty event list means every event."""
    return not webhook.events or event in webhook.events or "*" in webhook.events


def emit(session: Session, organization_id: int | None, event: str, data: dict[str, Any]) -> int:
    """Queue `event` for every enabled webhook of the organization that subscribes to it; returns how many."""
    if organization_id is None:
        return 0
    hooks = [h for h in session.scalars(select(Webhook).where(Webhook.organization_id == organization_id,
                                                              Webhook.enabled.is_(True)))
             if subscribes(h, event)]
    if not hooks:
        return 0
    payload = envelope(event, organization_id, data)
    now = utcnow()
    session.add_all(WebhookDelivery(organization_id=organization_id, webhook_id=h.id, event=event, payload=payload,
                                    status="pending", attempts=0, next_attempt_at=now) for h in hooks)
    return len(hooks)
