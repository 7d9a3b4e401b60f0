"""An in-memory back office (appointments, messages, contacts) with the same no-double-booking rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from appliance.scheduling import Slot


class MemoryBackoffice:
    def __init__(self) -> None:
        self.appointments: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.contacts: dict[str, dict[str, Any]] = {}

    async def busy_slots(self, start: dt.datetime, end: dt.datetime) -> list[Slot]:
        return [Slot(a["start"], a["end"]) for a in self.appointments if a["start"] < end and a["end"] > start]

    async def create_appointment(self, *, start: dt.datetime, end: dt.datetime, name: str, phone: str, note: str,
                                 call_id: str) -> str | None:
        if any(Slot(start, end).overlaps(b) for b in await self.busy_slots(start, end)):
            return None
        self.appointments.append({"start": start, "end": end, "name": name, "phone": phone, "call_id": call_id})
        return str(len(self.appointments))

    async def create_message(self, *, name: str, phone: str, text: str, call_id: str) -> str:
        self.messages.append({"name": name, "phone": phone, "text": text, "call_id": call_id})
        return str(len(self.messages))

    async def find_contact(self, phone: str) -> dict[str, Any] | None:
        return self.contacts.get(phone)
