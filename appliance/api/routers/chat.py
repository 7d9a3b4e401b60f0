"""Text chat with an agent over HTTP, through the same session logic as a phone call.

A conversation is a call on a text leg kept open between requests: `POST /chat` starts one (the reply is the
greeting), `POST /chat/{conversation_id}` sends the caller's next line and returns what the agent said to it,
`DELETE` hangs up. Idle conversations end after `IDLE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from appliance import events as ev
from appliance.api.deps import Principal, require
from appliance.api.services import knowledge_of, models_of

router = APIRouter(prefix="/chat", tags=["conversation"])
IDLE_SECONDS = 600.0
REPLY_TIMEOUT = 90.0
MAX_CONVERSATIONS = 50


class ChatStart(BaseModel):
    agent_id: int


class ChatLine(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ChatReply(BaseModel):
    conversation_id: str
    replies: list[str]
    ended: bool


@dataclass
class Conversation:
    id: str
    org_id: int
    lines: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    said: list[str] = field(default_factory=list)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[Any] | None = None
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def input(self) -> AsyncIterator[str]:
        while (line := await self.lines.get()) is not None:
            yield line

    def on_event(self, event: ev.CallEvent) -> None:
        if event.call_id != self.id:
            return
        if isinstance(event, ev.AgentSpeechFinished | ev.AgentSpeechInterrupted):
            self.answered.set()
        elif isinstance(event, ev.CallEnded):
            self.answered.set()
            self.ended.set()

    async def exchange(self, line: str | None) -> list[str]:
        """Send `line` (None: just wait for the greeting) and return what the agent said in reply."""
        async with self.lock:
            self.last_used = time.monotonic()
            self.said.clear()
            self.answered.clear()
            if line is not None:
                await self.lines.put(line)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answered.wait(), REPLY_TIMEOUT)
            await asyncio.sleep(0.2)  # a reply in several sentences arrives within a moment
            return list(self.said)


def _conversations(app: FastAPI) -> dict[str, Conversation]:
    chats: dict[str, Conversation] = app.state.chats
    return chats


def setup(app: FastAPI) -> None:
    app.state.chats = {}

    async def hang_up_all(app: FastAPI) -> None:
        for conv in list(_conversations(app).values()):
            await conv.lines.put(None)
            if conv.task is not None:
                conv.task.cancel()

    app.state.on_shutdown.append(hang_up_all)


def _agent_config(request: Request, org_id: int, agent_id: int) -> tuple[Any, Any]:
    """The organization's agent as a call runs it, and its back office (a DB read: call it in a thread)."""
    from appliance.api.resources.agents import engine_config
    from appliance.conversation.backoffice import DbBackoffice

    db = request.app.state.db
    with db.session() as s:
        agent = engine_config(s, org_id, agent_id)  # another organization's agent is a 404
    return agent, DbBackoffice(db, org_id, agent_id=agent_id, timezone=agent.timezone)


def _expire_idle(app: FastAPI) -> None:
    now = time.monotonic()
    for conv_id, conv in list(_conversations(app).items()):
        if conv.ended.is_set() or now - conv.last_used > IDLE_SECONDS:
            conv.lines.put_nowait(None)
            _conversations(app).pop(conv_id, None)


@router.post("", status_code=201)
async def start(body: ChatStart, request: Request,
                principal: Annotated[Principal, Depends(require("chat:use"))]) -> ChatReply:
    """Start a conversation with an agent of your organization; the reply is its greeting."""
    from appliance.conversation import CallServices
    from appliance.conversation.filemode import converse_text

    _expire_idle(request.app)
    if len(_conversations(request.app)) >= MAX_CONVERSATIONS:
        raise HTTPException(429, "too many open conversations", headers={"Retry-After": "60"})
    agent, backoffice = await asyncio.to_thread(_agent_config, request, principal.org_id, body.agent_id)
    models = await models_of(request)
    knowledge = await knowledge_of(request) if agent.knowledge_enabled else None
    bus = ev.EventBus()
    services = CallServices(models=models, bus=bus, db=request.app.state.db, knowledge=knowledge,
                            organization_id=principal.org_id)
    conv = Conversation(id=f"chat-{uuid.uuid4().hex[:16]}", org_id=principal.org_id)
    bus.subscribe(conv.on_event)
    conv.task = asyncio.create_task(converse_text(conv.input(), services=services, agent=agent, call_id=conv.id,
                                                  on_text=conv.said.append, backoffice=backoffice))
    conv.task.add_done_callback(lambda _: conv.ended.set())
    _conversations(request.app)[conv.id] = conv
    greeting = await conv.exchange(None)
    return ChatReply(conversation_id=conv.id, replies=greeting, ended=conv.ended.is_set())


def _find(request: Request, principal: Principal, conversation_id: str) -> Conversation:
    conv = _conversations(request.app).get(conversation_id)
    if conv is None or conv.org_id != principal.org_id:
        raise HTTPException(404, f"no open conversation {conversation_id}")
    return conv


@router.post("/{conversation_id}")
async def say(conversation_id: str, body: ChatLine, request: Request,
              principal: Annotated[Principal, Depends(require("chat:use"))]) -> ChatReply:
    """The caller's next line; the reply is everything the agent said to it."""
    conv = _find(request, principal, conversation_id)
    if conv.ended.is_set():
        raise HTTPException(409, "the conversation has ended")
    replies = await conv.exchange(body.text)
    return ChatReply(conversation_id=conv.id, replies=replies, ended=conv.ended.is_set())


@router.delete("/{conversation_id}", status_code=204)
async def hang_up(conversation_id: str, request: Request,
                  principal: Annotated[Principal, Depends(require("chat:use"))]) -> None:
    conv = _find(request, principal, conversation_id)
    await conv.lines.put(None)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        if conv.task is not None:
            await asyncio.wait_for(asyncio.shield(conv.task), 10)
    _conversations(request.app).pop(conversation_id, None)
