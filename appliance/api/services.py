"""The models and knowledge base the API's audio, chat and knowledge routes use.

Inside `vocaliq serve` they are the running appliance's (one copy of each model in memory); a standalone API
loads them on first use, in a worker thread, once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request

_lock = asyncio.Lock()


async def models_of(request: Request) -> Any:
    box = request.app.state.appliance
    if box is not None and getattr(box.local, "services", None) is not None and box.local.services.models:
        return box.local.services.models
    state = request.app.state
    async with _lock:
        if getattr(state, "models", None) is None:
            from appliance.conversation.services import load_call_models

            state.models = await asyncio.to_thread(load_call_models, state.settings)
    return state.models


async def knowledge_of(request: Request) -> Any:
    state = request.app.state
    if getattr(state, "knowledge", None) is None:
        box = state.appliance
        shared = getattr(getattr(box, "local", None), "services", None)
        if shared is not None and shared.knowledge is not None:
            state.knowledge = shared.knowledge
        else:
            from appliance.conversation.services import open_knowledge

            embedder = getattr(await models_of(request), "embedder", None)
            state.knowledge = await asyncio.to_thread(open_knowledge, state.settings, embedder)
    return state.knowledge
