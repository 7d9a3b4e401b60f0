"""What the SIP side reads from storage: DID → agent routes, trunk rows, recording references."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path
from typing import Any

from sqlalchemy import select

from appliance.config import Settings
from appliance.store.db import Database
from appliance.store.models import Agent, Call, Recording, Route, Trunk


def did_matches(pattern: str, dialled: str) -> bool:
    """'*' matches any number, 'PREFIX*' a prefix, anything else the exact number."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return dialled.startswith(pattern[:-1])
    return dialled == pattern


def agent_for_number(db: Database, dialled: str) -> str | None:
    """The agent name routed to a dialled number: the most specific matching route (then lowest priority)."""
    with db.session() as s:
        rows = s.execute(select(Route, Agent.name).join(Agent, Agent.id == Route.agent_id)).all()
    matches = [(route, name) for route, name in rows if did_matches(route.did_pattern, dialled)]
    if not matches:
        return None
    matches.sort(key=lambda m: (m[0].did_pattern == "*", -len(m[0].did_pattern), m[0].priority))
    return str(matches[0][1])


def sip_trunks(db: Database, settings: Settings) -> list[dict[str, Any]]:
    """Enabled trunks as keyword arguments of `sip.trunks.Trunk`; passwords come from the secrets dir."""
    out: list[dict[str, Any]] = []
    with db.session() as s:
        for t in s.scalars(select(Trunk).where(Trunk.enabled.is_(True)).order_by(Trunk.id)):
            row: dict[str, Any] = {
                "name": t.name, "allowed_cidrs": tuple(t.allowed_cidrs or ()), "transport": t.transport,
                "srtp": t.srtp,
            }
            if t.kind == "register" and t.host:
                row.update(registrar=f"sip:{t.host}:{t.port}", username=t.username, realm=t.realm,
                           password=(settings.paths.read_secret(t.password_secret) or "") if t.password_secret else "")
            out.append(row)
    return out


def add_recording(db: Database, call_id: str, path: Path) -> None:
    """Reference a finished recording from its call (no row if the call was never stored)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""
    channels, rate, duration = 2, 16000, 0.0
    try:
        with wave.open(str(path), "rb") as w:
            channels, rate = w.getnchannels(), w.getframerate()
            duration = w.getnframes() / rate
    except (OSError, wave.Error, EOFError):
        pass
    with db.session() as s:
        call = s.get(Call, call_id)
        if call is None:
            return
        s.add(Recording(organization_id=call.organization_id, call_id=call_id, path=str(path), channels=channels,
                        sample_rate=rate, duration_s=duration, sha256=digest))
