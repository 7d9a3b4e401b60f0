"""A stand-in for the running `Appliance` as the API sees it (`app.state.appliance`): SIP up, some calls in progress
owned by organizations, trunk registrations. Records every hang-up and transfer it is asked for, so a test can
assert that a refused request never reached the call."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


@dataclass
class LiveBox:
    calls: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # call id -> (org id, live call)
    registrations: dict[str, tuple[bool, int, str]] = field(default_factory=dict)  # trunk -> (registered, status, why)
    ua: Any = field(default_factory=object)  # not None: the API treats SIP as up
    local: Any = field(default_factory=lambda: SimpleNamespace(services=None))
    settings: Any = None
    hung_up: list[str] = field(default_factory=list)
    transferred: list[tuple[str, str]] = field(default_factory=list)

    def add_call(self, org_id: int, call_id: str, *, caller: str, callee: str, direction: str = "inbound") -> None:
        self.calls[call_id] = (org_id, {"call_id": call_id, "direction": direction, "caller": caller,
                                        "callee": callee, "answered": True})

    def org_of(self, call_id: str) -> int | None:
        found = self.calls.get(call_id)
        return found[0] if found is not None else None

    def live_calls(self) -> list[dict[str, Any]]:
        return [call for _, call in self.calls.values()]

    async def hangup(self, call_id: str) -> None:
        self.hung_up.append(call_id)

    async def transfer(self, call_id: str, target: str) -> dict[str, Any]:
        self.transferred.append((call_id, target))
        return {"target": target, "ok": True, "status": 202, "detail": "Accepted"}
