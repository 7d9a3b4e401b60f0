"""Retention: delete calls older than the organization's `retention_days` setting (default 365; 0 keeps all).

A call goes with its turns, events, recording rows (database cascade) and recording files; appointments and
messages it produced stay (their `call_id` becomes NULL). Webhook deliveries older than the retention period
go too, and delivered ones after `DELIVERED_KEEP_DAYS` everywhere, since their payloads copy call content.
Each organization's run is audited. `RetentionJob` runs it in the background once a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from appliance.config import DataDir
from appliance.gdpr.compact import compact
from appliance.gdpr.subject import inside
from appliance.store.db import Database
from appliance.store.models import Call, Organization, Recording, Setting, WebhookDelivery, utcnow
from appliance.store.repositories import AuditLog

log = logging.getLogger(__name__)
RETENTION_KEY = "retention_days"
DEFAULT_RETENTION_DAYS = 365  # what the API shows for an organization that never set it
DELIVERED_KEEP_DAYS = 7
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class OrgRetention:
    organization_id: int
    retention_days: int | None
    cutoff: str | None
    calls: int
    recording_files: int
    deliveries: int

    def to_dict(self) -> dict[str, object]:
        return {"organization_id": self.organization_id, "retention_days": self.retention_days,
                "cutoff": self.cutoff, "calls": self.calls, "recording_files": self.recording_files,
                "deliveries": self.deliveries}


def retention_days(session: Session, organization_id: int) -> int | None:
    """The organization's setting; DEFAULT_RETENTION_DAYS when unset; None (keep) when set to 0."""
    row = session.get(Setting, (organization_id, RETENTION_KEY))
    if row is None:
        return DEFAULT_RETENTION_DAYS
    if row.value in (None, "", 0, "0"):
        return None
    try:
        days = int(row.value)
    except (TypeError, ValueError):
        log.warning("ignoring a retention_days setting that is not a number",
                    extra={"organization_id": organization_id})
        return None
    return days if days > 0 else None


def _run_org(db: Database, paths: DataDir, org_id: int, now: dt.datetime, *, dry_run: bool,
             actor: str) -> OrgRetention:
    with db.session() as s:
        days = retention_days(s, org_id)
        delivered_cutoff = now - dt.timedelta(days=DELIVERED_KEEP_DAYS)
        old_delivered = list(s.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.organization_id == org_id, WebhookDelivery.status == "delivered",
            WebhookDelivery.created_at < delivered_cutoff)))
        if days is None:
            if old_delivered and not dry_run:
                s.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(old_delivered)))
            return OrgRetention(org_id, None, None, 0, 0, len(old_delivered))
        cutoff = now - dt.timedelta(days=days)
        call_ids = list(s.scalars(select(Call.id).where(Call.organization_id == org_id, Call.started_at < cutoff)))
        paths_ = [p for p in (inside(r, paths.recordings) for r in s.scalars(
            select(Recording.path).where(Recording.organization_id == org_id, Recording.call_id.in_(call_ids))))
            if p is not None]
        deliveries = set(old_delivered) | set(s.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.organization_id == org_id, WebhookDelivery.created_at < cutoff,
            WebhookDelivery.status.in_(("delivered", "failed")))))
        result = OrgRetention(org_id, days, cutoff.isoformat(timespec="seconds"), len(call_ids), len(paths_),
                              len(deliveries))
        if dry_run:
            return result
        if deliveries:
            s.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(deliveries)))
        if call_ids:
            s.execute(delete(Call).where(Call.id.in_(call_ids)))  # turns, events, recordings: ON DELETE CASCADE
        if call_ids or deliveries:
            AuditLog(s).append("retention.run", actor=actor, target=f"organization:{org_id}",
                               organization_id=org_id, detail=result.to_dict())
    for path in paths_:
        path.unlink(missing_ok=True)
    return result


def run_retention(db: Database, paths: DataDir, *, organization_id: int | None = None, now: dt.datetime | None = None,
                  dry_run: bool = False, actor: str = "system:retention") -> list[OrgRetention]:
    """Apply every organization's retention (or one's); `dry_run` only counts."""
    moment = now or utcnow()
    with db.session() as s:
        query = select(Organization.id).order_by(Organization.id)
        if organization_id is not None:
            query = query.where(Organization.id == organization_id)
        orgs = list(s.scalars(query))
    results = [_run_org(db, paths, org, moment, dry_run=dry_run, actor=actor) for org in orgs]
    if not dry_run and any(r.calls or r.deliveries for r in results):
        compact(db, ("calls", "turns", "call_events", "recordings", "webhook_deliveries"))
    return results


class RetentionJob:
    """Runs `run_retention` shortly after start and then every `interval_s`, in a worker thread."""

    def __init__(self, db: Database, paths: DataDir, *, interval_s: float = DAY_S, first_run_s: float = 60.0) -> None:
        self.db, self.paths = db, paths
        self.interval_s, self.first_run_s = interval_s, first_run_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        await asyncio.sleep(self.first_run_s)
        while True:
            try:
                results = await asyncio.to_thread(run_retention, self.db, self.paths)
                deleted = sum(r.calls for r in results)
                if deleted:
                    log.info("retention deleted calls", extra={"calls": deleted})
            except Exception:  # retried at the next interval
                log.exception("retention run failed")
            await asyncio.sleep(self.interval_s)
