"""Background jobs of a running box: the webhook dispatcher and the daily retention run.

Started with the API (the webhooks router's `setup` registers them on the app's startup/shutdown hooks), so
`vocaliq serve` runs them once per process; handlers reach them as `app.state.jobs`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from appliance.config import Settings
from appliance.gdpr.retention import RetentionJob
from appliance.store.db import Database
from appliance.webhooks import DispatcherConfig, WebhookDispatcher


@dataclass(frozen=True, slots=True)
class BackgroundJobs:
    dispatcher: WebhookDispatcher
    retention: RetentionJob


@contextlib.asynccontextmanager
async def background_jobs(db: Database, settings: Settings, *,
                          dispatcher_config: DispatcherConfig | None = None) -> AsyncIterator[BackgroundJobs]:
    """Run the dispatcher and the retention job for the life of the block; in-flight rows survive a stop."""
    dispatcher = WebhookDispatcher(db, settings.paths.read_secret, config=dispatcher_config)
    retention = RetentionJob(db, settings.paths)
    dispatcher.start()
    retention.start()
    try:
        yield BackgroundJobs(dispatcher, retention)
    finally:
        await retention.stop()
        await dispatcher.stop()
