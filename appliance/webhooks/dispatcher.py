"""The dispatcher: an asyncio task that sends due outbox rows and retries failures with backoff.

A row is claimed by moving it to `sending` with a lease (`next_attempt_at` pushed `lease_s` ahead) in one
conditional UPDATE, so two boxes on one PostgreSQL never send the same row at once, and a row whose sender
died mid-request is picked up again when the lease runs out: delivery is at least once, and a restart loses
nothing. After `max_attempts` failures a row is `failed` and stays for inspection and manual redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, update

from appliance import __version__
from appliance.metrics import WEBHOOK_DELIVERIES
from appliance.store.db import Database
from appliance.store.models import Webhook, WebhookDelivery, utcnow
from appliance.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, sign_headers

log = logging.getLogger(__name__)
ACTIVE = ("pending", "sending")
_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with equal jitter: attempt n waits between half and all of base·2^(n-1), capped."""

    max_attempts: int = 8
    base_delay_s: float = 5.0
    max_delay_s: float = 3600.0

    def delay_s(self, attempts: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(attempts - 1, 0))
        jitter: float = (rng or _RNG).uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


@dataclass(frozen=True, slots=True)
class Claimed:
    """One delivery this dispatcher holds the lease on."""

    id: int
    webhook_id: int
    event: str
    payload: dict[str, Any]
    attempts: int
    url: str
    secret_name: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str


@dataclass(slots=True)
class DispatcherConfig:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    poll_interval_s: float = 1.0
    batch_size: int = 20
    timeout_s: float = 10.0
    lease_s: float = 60.0


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def _request(secret: str, event: str, delivery_id: int | str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = body_of(payload)
    headers = {"Content-Type": "application/json", "User-Agent": f"VocalIQ-Webhooks/{__version__}",
               EVENT_HEADER: event, DELIVERY_HEADER: str(delivery_id), **sign_headers(secret, body)}
    return body, headers


def _outcome(response: httpx.Response) -> AttemptResult:
    if 200 <= response.status_code < 300:
        return AttemptResult(True, response.status_code, "")
    return AttemptResult(False, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")


async def post_signed(client: httpx.AsyncClient, url: str, secret: str, *, event: str, delivery_id: int | str,
                      payload: dict[str, Any], timeout_s: float) -> AttemptResult:
    """POST one signed delivery; any 2xx is success, anything else (or no answer) a failure to retry."""
    body, headers = _request(secret, event, delivery_id, payload)
    try:
        return _outcome(await client.post(url, content=body, headers=headers, timeout=timeout_s))
    except httpx.HTTPError as exc:
        return AttemptResult(False, None, f"{type(exc).__name__}: {exc}"[:500])


def post_signed_sync(url: str, secret: str, *, event: str, delivery_id: int | str, payload: dict[str, Any],
                     timeout_s: float) -> AttemptResult:
    """`post_signed` for a worker thread (the API's test delivery)."""
    body, headers = _request(secret, event, delivery_id, payload)
    try:
        with httpx.Client(follow_redirects=False) as client:
            return _outcome(client.post(url, content=body, headers=headers, timeout=timeout_s))
    except httpx.HTTPError as exc:
        return AttemptResult(False, None, f"{type(exc).__name__}: {exc}"[:500])


class WebhookDispatcher:
    """Sends the outbox. `async with WebhookDispatcher(db, read_secret):` runs it as a background task."""

    def __init__(self, db: Database, read_secret: Callable[[str], str | None], *,
                 config: DispatcherConfig | None = None, client: httpx.AsyncClient | None = None) -> None:
        self.db = db
        self.read_secret = read_secret
        self.config = config or DispatcherConfig()
        self._client = client
        self._own_client = client is None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> WebhookDispatcher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Stop after the current batch (rows in flight keep their lease and are retried by the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        """Look for due rows now instead of at the next poll (safe from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except Exception:  # the DB may be briefly unavailable; the next poll tries again
                log.exception("webhook dispatch round failed")
                busy = 0
            if busy >= self.config.batch_size:
                continue  # more may be due right away
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)

    async def run_once(self) -> int:
        """Claim the due rows and attempt each once; returns how many were attempted."""
        claimed = await asyncio.to_thread(self._claim)
        per_webhook: dict[int, list[Claimed]] = {}
        for c in claimed:
            per_webhook.setdefault(c.webhook_id, []).append(c)
        # one receiver gets its events in the order they happened (until a retry); receivers run in parallel
        await asyncio.gather(*(self._deliver_in_order(rows) for rows in per_webhook.values()))
        return len(claimed)

    async def _deliver_in_order(self, rows: list[Claimed]) -> None:
        for c in rows:
            await self._deliver(c)

    def _claim(self) -> list[Claimed]:
        now = utcnow()
        lease_until = now + dt.timedelta(seconds=self.config.lease_s)
        out: list[Claimed] = []
        with self.db.session() as s:
            due = s.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status.in_(ACTIVE),
                                                             WebhookDelivery.next_attempt_at <= now)
                            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                            .limit(self.config.batch_size)).all()
        for delivery_id in due:
            with self.db.session() as s:
                taken = s.execute(update(WebhookDelivery).where(
                    WebhookDelivery.id == delivery_id, WebhookDelivery.status.in_(ACTIVE),
                    WebhookDelivery.next_attempt_at <= now).values(status="sending", next_attempt_at=lease_until))
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another box got it first
                row = s.get(WebhookDelivery, delivery_id)
                hook = s.get(Webhook, row.webhook_id) if row is not None else None
                if row is None or hook is None:
                    continue
                out.append(Claimed(row.id, row.webhook_id, row.event, dict(row.payload), row.attempts, hook.url,
                                   hook.secret_name, hook.enabled))
        return out

    async def _deliver(self, claimed: Claimed) -> None:
        secret = self.read_secret(claimed.secret_name) if claimed.secret_name else None
        if not claimed.enabled:
            result = AttemptResult(False, None, "webhook disabled")
        elif not secret:
            result = AttemptResult(False, None, f"secret {claimed.secret_name!r} missing on this box")
        else:
            result = await post_signed(self.client, claimed.url, secret, event=claimed.event,
                                       delivery_id=claimed.id, payload=claimed.payload,
                                       timeout_s=self.config.timeout_s)
        await asyncio.to_thread(self._record, claimed, result)

    def _record(self, claimed: Claimed, result: AttemptResult) -> None:
        attempts = claimed.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": result.error}
        if result.ok:
            values["status"] = "delivered"
        elif attempts >= self.config.policy.max_attempts or not claimed.enabled:
            values["status"] = "failed"
        else:
            values["status"] = "pending"
            values["next_attempt_at"] = utcnow() + dt.timedelta(seconds=self.config.policy.delay_s(attempts))
        with self.db.session() as s:
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id == claimed.id).values(**values))
        WEBHOOK_DELIVERIES.labels("retry" if values["status"] == "pending" else values["status"]).inc()
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "webhook delivery", extra={"delivery_id": claimed.id, "webhook_event": claimed.event,
                                                  "status": values["status"], "attempts": attempts,
                                                  "http_status": result.status_code, "error": result.error})
