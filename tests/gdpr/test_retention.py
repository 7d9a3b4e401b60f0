"""Retention: calls older than the organization's retention_days go with their turns, events, recordings and
webhook payloads; newer calls, other organizations and the back-office rows they produced stay."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from appliance.gdpr import DEFAULT_RETENTION_DAYS, RETENTION_KEY, run_retention
from appliance.store.models import (
    AuditEntry,
    Call,
    CallEventRow,
    Message,
    Organization,
    Recording,
    Setting,
    Turn,
    WebhookDelivery,
    utcnow,
)
from tests.gdpr.conftest import Box
from tests.gdpr.seed import seed_caller


def age_call(box: Box, call_id: str, days: int) -> None:
    with box.db.session() as s:
        s.execute(update(Call).where(Call.id == call_id).values(started_at=utcnow() - dt.timedelta(days=days)))
        s.execute(update(WebhookDelivery).values(created_at=utcnow() - dt.timedelta(days=days)))


async def test_calls_older_than_retention_days_are_deleted_with_everything_hanging_off_them(box: Box) -> None:
    old = await seed_caller(box, call_id="old", phone="+4930111111", name="Alte Anna", phrase="vom letzten Jahr")
    with box.db.session() as s:
        s.execute(update(WebhookDelivery).values(status="delivered"))
    age_call(box, "old", 40)
    new = await seed_caller(box, call_id="new", phone="+4930222222", name="Neue Nina", phrase="von heute")
    with box.db.session() as s:
        s.add(Setting(organization_id=box.org, key=RETENTION_KEY, value=30))
        other = Organization(name="Other Org On The Default")
        s.add(other)
        s.flush()
        s.add(Call(id="other-old", organization_id=other.id, caller="+4930333333",
                   started_at=utcnow() - dt.timedelta(days=300)))

    (preview, other_preview) = run_retention(box.db, box.settings.paths, dry_run=True)
    assert (preview.calls, preview.recording_files, other_preview.calls) == (1, 1, 0)
    assert old.recording.exists()

    (result, other_result) = run_retention(box.db, box.settings.paths, actor="cron")
    assert (result.retention_days, result.calls, result.recording_files) == (30, 1, 1) and result.deliveries >= 3
    assert other_result.retention_days == DEFAULT_RETENTION_DAYS == 365 and other_result.calls == 0
    assert not old.recording.exists() and new.recording.exists()
    with box.db.session() as s:
        assert sorted(s.scalars(select(Call.id))) == ["new", "other-old"]
        for model in (Turn, CallEventRow, Recording):
            assert set(s.scalars(select(model.call_id))) == {"new"}, model
        messages = {m.caller_name: m.call_id for m in s.scalars(select(Message))}
        assert sorted(messages) == ["Alte Anna", "Neue Nina"]  # the message itself is the firm's record
        assert messages["Alte Anna"] is None
        assert all("old" not in str(d.payload) for d in s.scalars(select(WebhookDelivery)))
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention.run")).one()
        assert entry.actor == "cron" and entry.detail["calls"] == 1
    again = run_retention(box.db, box.settings.paths)
    assert again[0].calls == 0


def test_retention_days_0_keeps_every_call(box: Box) -> None:
    with box.db.session() as s:
        s.add(Call(id="ancient", organization_id=box.org, started_at=utcnow() - dt.timedelta(days=4000)))
        s.add(Setting(organization_id=box.org, key=RETENTION_KEY, value=0))
    (result,) = run_retention(box.db, box.settings.paths)
    assert result.retention_days is None and result.calls == 0
    with box.db.session() as s:
        assert s.get(Call, "ancient") is not None
