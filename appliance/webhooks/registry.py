"""Webhook subscriptions: create (secret generated and returned once), update, rotate, delete, redeliver.

The HMAC key lives in a 0600 file under the secrets dir (`Webhook.secret_name`), never in the database.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from appliance.config import DataDir
from appliance.errors import VocalIQError
from appliance.store.models import Webhook, WebhookDelivery, utcnow
from appliance.store.repositories import TenantRepo
from appliance.webhooks.events import EVENTS


class InvalidWebhook(VocalIQError):
    """A webhook URL or event list we cannot accept."""

    exit_code = 2


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhook(f"webhook url must be http(s)://host/...: {url!r}")
    if parts.username or parts.password:
        raise InvalidWebhook("webhook url must not carry credentials; the signature authenticates us")
    return url


def check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise InvalidWebhook(f"unknown webhook events {unknown}; known: {', '.join(EVENTS)}")
    return chosen


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def create_webhook(session: Session, paths: DataDir, organization_id: int, *, url: str,
                   events: Iterable[str] = (), enabled: bool = True) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (the only time the secret is returned)."""
    secret = new_secret()
    name = f"webhook-{uuid.uuid4().hex}.key"
    hook = TenantRepo(session, Webhook, organization_id).add(url=check_url(url), events=check_events(events),
                                                             enabled=enabled, secret_name=name)
    paths.write_secret(name, secret)
    return hook, secret


def rotate_secret(session: Session, paths: DataDir, organization_id: int, webhook_id: int) -> str:
    hook = TenantRepo(session, Webhook, organization_id).get(webhook_id)
    secret = new_secret()
    paths.write_secret(hook.secret_name or f"webhook-{uuid.uuid4().hex}.key", secret)
    return secret


def delete_webhook(session: Session, paths: DataDir, organization_id: int, webhook_id: int) -> None:
    """Delete the webhook, its outbox rows (FK cascade) and its secret file."""
    repo = TenantRepo(session, Webhook, organization_id)
    hook = repo.get(webhook_id)
    name = hook.secret_name
    session.query(WebhookDelivery).filter(WebhookDelivery.webhook_id == hook.id).delete()
    repo.delete(webhook_id)
    if name:
        paths.secret(name).unlink(missing_ok=True)


def redeliver(session: Session, organization_id: int, delivery_id: int) -> WebhookDelivery:
    """Queue a delivered or failed row again (fresh attempt count)."""
    row = TenantRepo(session, WebhookDelivery, organization_id).get(delivery_id)
    row.status, row.attempts, row.next_attempt_at, row.last_error = "pending", 0, utcnow(), ""
    session.flush()
    return row
