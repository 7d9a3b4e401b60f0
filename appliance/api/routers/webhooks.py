"""Webhooks: CRUD (the signing secret is shown once), secret rotation, deliveries, redelivery, test delivery.

`setup(app)` runs the box's background jobs (webhook dispatcher, retention) with the API's lifespan.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require, settings_of
from appliance.config import Settings
from appliance.store.models import Webhook, WebhookDelivery, utcnow
from appliance.store.repositories import TenantRepo
from appliance.webhooks import registry
from appliance.webhooks.dispatcher import post_signed_sync
from appliance.webhooks.events import WEBHOOK_TEST, envelope

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
EventName = Literal["call.started", "call.ended", "turn.completed", "message.taken", "appointment.booked"]
Reader = Annotated[Principal, Depends(require("webhooks:read"))]
Writer = Annotated[Principal, Depends(require("webhooks:write"))]
Db = Annotated[Session, Depends(get_session, scope="function")]


class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, examples=["https://crm.example/hooks/vocaliq"])
    events: list[EventName] = Field(default_factory=list, description="Empty: every event.")
    enabled: bool = True


class WebhookPatch(BaseModel):
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    events: list[EventName] | None = None
    enabled: bool | None = None


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    created_at: dt.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The HMAC-SHA256 signing key. Shown only now: store it.")


class Secret(BaseModel):
    secret: str


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str
    created_at: dt.datetime


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]


class TestResult(BaseModel):
    delivered: bool
    status_code: int | None
    error: str
    delivery_id: int


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(id=hook.id, url=hook.url, events=list(hook.events or []), enabled=hook.enabled,
                      created_at=hook.created_at)


def _delivery(row: WebhookDelivery) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("id", "webhook_id", "event", "status", "attempts", "next_attempt_at",
                                         "last_error", "created_at")}


@router.get("", response_model=list[WebhookOut])
def list_webhooks(p: Reader, s: Db) -> list[WebhookOut]:
    return [_out(h) for h in TenantRepo(s, Webhook, p.org_id).find(order_by=Webhook.id)]


@router.post("", response_model=WebhookCreated, status_code=201)
def create_webhook(body: WebhookIn, p: Writer, s: Db,
                   settings: Annotated[Settings, Depends(settings_of)]) -> WebhookCreated:
    hook, secret = registry.create_webhook(s, settings.paths, p.org_id, url=body.url, events=body.events,
                                           enabled=body.enabled)
    audit(s, p, "webhook.create", f"webhook:{hook.id}", {"url": hook.url, "events": hook.events})
    return WebhookCreated(**_out(hook).model_dump(), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: int, p: Reader, s: Db) -> WebhookOut:
    return _out(TenantRepo(s, Webhook, p.org_id).get(webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
def update_webhook(webhook_id: int, body: WebhookPatch, p: Writer, s: Db) -> WebhookOut:
    hook = TenantRepo(s, Webhook, p.org_id).get(webhook_id)
    if body.url is not None:
        hook.url = registry.check_url(body.url)
    if body.events is not None:
        hook.events = registry.check_events(body.events)
    if body.enabled is not None:
        hook.enabled = body.enabled
    s.flush()
    audit(s, p, "webhook.update", f"webhook:{hook.id}", body.model_dump(exclude_none=True))
    return _out(hook)


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: int, p: Writer, s: Db, settings: Annotated[Settings, Depends(settings_of)]) -> Response:
    registry.delete_webhook(s, settings.paths, p.org_id, webhook_id)
    audit(s, p, "webhook.delete", f"webhook:{webhook_id}")
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_model=Secret)
def rotate_secret(webhook_id: int, p: Writer, s: Db, settings: Annotated[Settings, Depends(settings_of)]) -> Secret:
    secret = registry.rotate_secret(s, settings.paths, p.org_id, webhook_id)
    audit(s, p, "webhook.rotate_secret", f"webhook:{webhook_id}")
    return Secret(secret=secret)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(webhook_id: int, p: Reader, s: Db,
                    status: Annotated[Literal["pending", "sending", "delivered", "failed"] | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    offset: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
    hook = TenantRepo(s, Webhook, p.org_id).get(webhook_id)
    criteria = [WebhookDelivery.webhook_id == hook.id]
    if status is not None:
        criteria.append(WebhookDelivery.status == status)
    rows = TenantRepo(s, WebhookDelivery, p.org_id).find(*criteria, order_by=WebhookDelivery.id.desc(),
                                                         limit=limit, offset=offset)
    return [_delivery(r) for r in rows]


def _own_delivery(s: Session, p: Principal, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    hook = TenantRepo(s, Webhook, p.org_id).get(webhook_id)
    row = TenantRepo(s, WebhookDelivery, p.org_id).get(delivery_id)
    if row.webhook_id != hook.id:
        from appliance.errors import NotFound

        raise NotFound(f"webhook_deliveries {delivery_id} not found")
    return row


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(webhook_id: int, delivery_id: int, p: Reader, s: Db) -> dict[str, Any]:
    row = _own_delivery(s, p, webhook_id, delivery_id)
    return {**_delivery(row), "payload": row.payload}


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
def redeliver(webhook_id: int, delivery_id: int, p: Writer, s: Db) -> dict[str, Any]:
    row = registry.redeliver(s, p.org_id, _own_delivery(s, p, webhook_id, delivery_id).id)
    audit(s, p, "webhook.redeliver", f"webhook_delivery:{row.id}")
    return _delivery(row)


@router.post("/{webhook_id}/test", response_model=TestResult)
def test_delivery(webhook_id: int, p: Writer, s: Db,
                  settings: Annotated[Settings, Depends(settings_of)]) -> TestResult:
    """Send a signed `webhook.test` event now and report the receiver's answer (not retried)."""
    hook = TenantRepo(s, Webhook, p.org_id).get(webhook_id)
    payload = envelope(WEBHOOK_TEST, p.org_id, {"webhook_id": hook.id, "message": "test delivery from VocalIQ"})
    row = TenantRepo(s, WebhookDelivery, p.org_id).add(webhook_id=hook.id, event=WEBHOOK_TEST, payload=payload,
                                                       status="sending", attempts=0, next_attempt_at=utcnow())
    s.commit()  # never hold the database's write lock while waiting for someone else's server
    secret = settings.paths.read_secret(hook.secret_name) if hook.secret_name else None
    if not secret:
        result_ok, code, error = False, None, "signing secret missing on this box"
    else:
        result = post_signed_sync(hook.url, secret, event=WEBHOOK_TEST, delivery_id=row.id, payload=payload,
                                  timeout_s=10.0)
        result_ok, code, error = result.ok, result.status_code, result.error
    row.status, row.attempts, row.last_error = ("delivered" if result_ok else "failed"), 1, error
    return TestResult(delivered=result_ok, status_code=code, error=error, delivery_id=row.id)


def setup(app: FastAPI) -> None:
    """Run the webhook dispatcher and the retention job while the API runs (`app.state.jobs`)."""
    from contextlib import AsyncExitStack

    from appliance.jobs import background_jobs

    stack = AsyncExitStack()

    async def start(app: FastAPI) -> None:
        app.state.jobs = await stack.enter_async_context(background_jobs(app.state.db, app.state.settings))

    async def stop(app: FastAPI) -> None:
        await stack.aclose()
        app.state.jobs = None

    app.state.jobs = None
    app.state.on_startup.append(start)
    app.state.on_shutdown.append(stop)
