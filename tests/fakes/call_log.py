"""In-memory CallLog: the rows a recorder would write, kept in dicts."""

from __future__ import annotations

from typing import Any


class MemoryCallLog:
    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.turns: dict[tuple[str, int], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []

    def start_call(self, *, call_id: str, organization_id: int | None, **fields: Any) -> None:
        self.calls[call_id] = {"organization_id": organization_id, **fields}

    def save_turn(self, *, call_id: str, organization_id: int | None, turn: dict[str, Any]) -> None:
        self.turns[(call_id, turn["index"])] = turn

    def add_events(self, *, call_id: str, organization_id: int | None, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)

    def end_call(self, *, call_id: str, organization_id: int | None, **fields: Any) -> None:
        self.calls[call_id].update(fields)
