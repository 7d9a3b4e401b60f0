"""The box's background jobs: started together, the dispatcher sends what the outbox holds; stopping is clean."""

from __future__ import annotations

import asyncio

from appliance.jobs import background_jobs
from appliance.webhooks import DispatcherConfig, emit
from appliance.webhooks.registry import create_webhook
from tests.webhooks.conftest import Box
from tests.webhooks.receiver import receiver


async def test_background_jobs_deliver_the_outbox_and_stop_cleanly(box: Box) -> None:
    with receiver() as rx:
        with box.db.session() as s:
            _, rx.secret = create_webhook(s, box.settings.paths, box.org, url=rx.url)
            emit(s, box.org, "call.started", {"call_id": "bg-1"})
        async with background_jobs(box.db, box.settings, dispatcher_config=DispatcherConfig(poll_interval_s=0.05)):
            for _ in range(200):
                if rx.received:
                    break
                await asyncio.sleep(0.02)
        assert [r["data"]["call_id"] for r in rx.received] == ["bg-1"]
