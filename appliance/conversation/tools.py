"""Tools an agent can use: from a flow's final action or, when the LLM declares tool calling, from the LLM.

The back office (appointments, messages, contacts) is injected as a `Backoffice`; the DB-backed one is in
`backoffice.py`. Call-control tools (transfer, end_call) only return a `control` instruction: the session
performs them after the agent has finished speaking.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from appliance.agents import AgentConfig
from appliance.conversation.phrases import phrase, when_text
from appliance.scheduling import Slot, find_slot
from models.llm.base import ToolSpec


class Backoffice(Protocol):
    """Where tools read and write the office's data, scoped to one organization."""

    async def busy_slots(self, start: dt.datetime, end: dt.datetime) -> list[Slot]: ...

    async def create_appointment(self, *, start: dt.datetime, end: dt.datetime, name: str, phone: str,
                                 note: str, call_id: str) -> str | None:
        """Returns the new id, or None when the slot was taken meanwhile (no double booking)."""
        ...

    async def create_message(self, *, name: str, phone: str, text: str, call_id: str) -> str: ...

    async def find_contact(self, phone: str) -> dict[str, Any] | None: ...


class KnowledgeSearch(Protocol):
    async def search(self, query: str, *, k: int = 3) -> list[dict[str, Any]]: ...


TOOL_SPECS: dict[str, ToolSpec] = {
    "book_appointment": ToolSpec("book_appointment", "Book an appointment for the caller.", {
        "type": "object",
        "properties": {"name": {"type": "string"}, "date": {"type": "string", "description": "YYYY-MM-DD"},
                       "time": {"type": "string", "description": "HH:MM"}, "phone": {"type": "string"}},
        "required": ["name", "date", "time"]}),
    "lookup_caller": ToolSpec("lookup_caller", "Look up the caller in the contacts by phone number.", {
        "type": "object", "properties": {"phone": {"type": "string"}}}),
    "take_message": ToolSpec("take_message", "Take a message for the office.", {
        "type": "object",
        "properties": {"name": {"type": "string"}, "phone": {"type": "string"}, "message": {"type": "string"}},
        "required": ["message"]}),
    "transfer": ToolSpec("transfer", "Transfer the caller to a person.", {
        "type": "object", "properties": {"target": {"type": "string"}}}),
    "end_call": ToolSpec("end_call", "End the call after saying goodbye."),
    "search_knowledge": ToolSpec("search_knowledge", "Search the office's documents.", {
        "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
}


class CallTools:
    """The tools of one call, bound to its agent, caller and back office."""

    def __init__(self, agent: AgentConfig, *, backoffice: Backoffice | None, knowledge: KnowledgeSearch | None,
                 call_id: str, caller: str = "", now: dt.datetime | None = None) -> None:
        self.agent = agent
        self.backoffice = backoffice
        self.knowledge = knowledge
        self.call_id = call_id
        self.caller = caller
        self._now = now

    def _say(self, key: str, **values: object) -> str:
        return phrase(self.agent.language, key, **values)

    def specs(self) -> list[ToolSpec]:
        return [TOOL_SPECS[n] for n in self.agent.tools if n in TOOL_SPECS]

    async def run(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run a tool; the result has `ok`, a sentence to `say`, and tool-specific fields."""
        handler = getattr(self, f"_{name}", None)
        if handler is None or (name not in self.agent.tools and name not in ("transfer", "end_call")):
            return {"ok": False, "say": self._say("tool_not_here")}
        result: dict[str, Any] = await handler(args)
        return result

    async def _book_appointment(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.backoffice is None:
            return {"ok": False, "say": self._say("cannot_book")}
        try:
            day = dt.date.fromisoformat(str(args["date"]))
            clock = dt.time.fromisoformat(str(args["time"]))
        except (KeyError, ValueError):
            return {"ok": False, "say": self._say("need_day_time")}
        requested = dt.datetime.combine(day, clock)
        length = dt.timedelta(minutes=self.agent.appointment_minutes)
        now = self._now or dt.datetime.now()
        for _attempt in range(3):  # a concurrent call may take the slot between check and insert
            busy = await self.backoffice.busy_slots(requested - length, requested + dt.timedelta(days=22))
            slot = find_slot(requested, hours=self.agent.business_hours, busy=busy,
                             minutes=self.agent.appointment_minutes, not_before=now)
            if slot is None:
                return {"ok": False, "say": self._say("no_free_slots")}
            if slot.start != requested:
                lang = self.agent.language
                return {"ok": False, "say": self._say("slot_taken_offer", asked=when_text(lang, requested),
                                                      offer=when_text(lang, slot.start)),
                        "offer": {"date": slot.start.date().isoformat(), "time": slot.start.strftime("%H:%M")}}
            appointment_id = await self.backoffice.create_appointment(
                start=slot.start, end=slot.end, name=str(args.get("name", "")),
                phone=str(args.get("phone") or self.caller), note=str(args.get("note", "")), call_id=self.call_id)
            if appointment_id is not None:
                return {"ok": True, "appointment_id": appointment_id, "start": slot.start.isoformat(),
                        "say": self._say("booked", when=when_text(self.agent.language, slot.start))}
        return {"ok": False, "say": self._say("slot_just_taken")}

    async def _take_message(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.backoffice is None:
            return {"ok": False, "say": self._say("cannot_take_message")}
        message_id = await self.backoffice.create_message(
            name=str(args.get("name", "")), phone=str(args.get("phone") or self.caller),
            text=str(args.get("message", "")), call_id=self.call_id)
        return {"ok": True, "message_id": message_id,
                "say": self._say("message_taken")}

    async def _lookup_caller(self, args: dict[str, Any]) -> dict[str, Any]:
        phone = str(args.get("phone") or self.caller)
        contact = await self.backoffice.find_contact(phone) if self.backoffice and phone else None
        if contact is None:
            return {"ok": False, "say": ""}
        return {"ok": True, "contact": contact, "say": self._say("hello_contact", name=contact.get("name", ""))}

    async def _search_knowledge(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.knowledge is None or not self.agent.knowledge_enabled:
            return {"ok": False, "hits": [], "say": ""}
        hits = await self.knowledge.search(str(args.get("query", "")), k=3)
        return {"ok": bool(hits), "hits": hits, "say": hits[0]["text"] if hits else ""}

    async def _transfer(self, args: dict[str, Any]) -> dict[str, Any]:
        targets = self.agent.transfer_targets
        target = str(args.get("target") or "")
        target = targets.get(target, target) or targets.get("default", "")
        if not target:
            return {"ok": False, "say": self._say("nobody_available"), "fallback_flow": "message"}
        return {"ok": True, "control": "transfer", "target": target, "say": self._say("connecting")}

    async def _end_call(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "control": "end_call", "say": self.agent.goodbye}
