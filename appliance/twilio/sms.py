"""SMS to staff after an agent took a message, for agents configured for it.

The hook is a bus subscriber: the conversation engine already publishes `ToolCalled(take_message)` with the
new message's id, so nothing in the engine knows about SMS. Which agents text whom is the organization's
Twilio setting `message_sms` (agent id → staff numbers); the sender is `sms_from` or the agent's own Twilio
number. It works for every call of the box (SIP or Twilio) and never delays one: sending runs in a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from appliance.config import DataDir
from appliance.events import CallEvent, EventBus, ToolCalled
from appliance.logs import mask_number
from appliance.store.db import Database
from appliance.store.models import Agent, Message
from appliance.twilio.rest import TwilioError, TwilioRest
from appliance.twilio.settings import TwilioAccount, load_account

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Plan:
    account: TwilioAccount
    sender: str
    recipients: tuple[str, ...]
    body: str


def message_text(agent_name: str, caller_name: str, phone: str, text: str) -> str:
    who = caller_name or "a caller"
    return f"{agent_name}: message from {who}" + (f" ({phone})" if phone else "") + f": {text}"


class MessageSms:
    """Bus subscriber that texts staff after take_message (see module docstring)."""

    def __init__(self, db: Database, paths: DataDir,
                 rest: Callable[[TwilioAccount], TwilioRest] = TwilioRest) -> None:
        self.db = db
        self.paths = paths
        self.rest = rest
        self.sent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, bus: EventBus) -> Callable[[], None]:
        return bus.subscribe(self.on_event)

    def on_event(self, event: CallEvent) -> None:
        if not (isinstance(event, ToolCalled) and event.tool == "take_message" and event.ok):
            return
        message_id = str(event.result.get("message_id", ""))
        if not message_id.isdigit():
            return
        task = asyncio.get_running_loop().create_task(self.notify(int(message_id), call_id=event.call_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notify(self, message_id: int, *, call_id: str = "") -> None:
        try:
            plan = await asyncio.to_thread(self._plan, message_id)
            if plan is None:
                return
            rest = self.rest(plan.account)
            for number in plan.recipients:
                try:
                    await rest.send_sms(to=number, from_=plan.sender, body=plan.body)
                    self.sent += 1
                    log.info("message SMS sent to %s", mask_number(number), extra={"call_id": call_id})
                except TwilioError as exc:
                    log.warning("message SMS to %s failed: %s", mask_number(number), exc, extra={"call_id": call_id})
        except Exception:  # a failed notification must never surface in the call
            log.exception("message SMS failed", extra={"call_id": call_id})

    def _plan(self, message_id: int) -> _Plan | None:
        with self.db.session() as s:
            message = s.get(Message, message_id)
            if message is None or message.agent_id is None:
                return None
            account = load_account(s, self.paths, message.organization_id)
            recipients = account.message_sms.get(message.agent_id, ()) if account is not None else ()
            if account is None or not recipients:
                return None
            sender = account.sms_from or account.number_of(message.agent_id)
            if not sender:
                log.warning("agent %s texts staff but has no Twilio number and no sms_from is set",
                            message.agent_id)
                return None
            agent = s.get(Agent, message.agent_id)
            body = message_text(agent.name if agent is not None else "VocalIQ", message.caller_name, message.phone,
                                message.text)
            return _Plan(account, sender, recipients, body)

    async def drain(self) -> None:
        """Wait for the SMS in flight (shutdown, tests)."""
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks))
