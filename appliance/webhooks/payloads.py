"""The `data` of each event, built from the stored row it reports (so the payload matches what the API shows)."""

from __future__ import annotations

from typing import Any

from appliance.store.models import Appointment, Call, Message, Turn
from appliance.webhooks.events import iso


def call_started(call: Call) -> dict[str, Any]:
    return {"call_id": call.id, "agent_id": call.agent_id, "direction": call.direction, "transport": call.transport,
            "caller": call.caller, "callee": call.callee, "started_at": iso(call.started_at)}


def call_ended(call: Call) -> dict[str, Any]:
    return {**call_started(call), "ended_at": iso(call.ended_at), "end_reason": call.end_reason,
            "duration_s": call.duration_s, "summary": call.summary, "sentiment": call.sentiment}


def turn_completed(turn: Turn) -> dict[str, Any]:
    return {"call_id": turn.call_id, "index": turn.index, "user_text": turn.user_text,
            "agent_text": turn.agent_text, "played_text": turn.played_text, "interrupted": turn.interrupted,
            "intent": turn.intent, "entities": turn.entities, "latency": turn.latency}


def message_taken(message: Message) -> dict[str, Any]:
    return {"message_id": message.id, "call_id": message.call_id, "agent_id": message.agent_id,
            "caller_name": message.caller_name, "phone": message.phone, "text": message.text}


def appointment_booked(appointment: Appointment) -> dict[str, Any]:
    return {"appointment_id": appointment.id, "call_id": appointment.call_id, "agent_id": appointment.agent_id,
            "name": appointment.name, "phone": appointment.phone, "email": appointment.email,
            "starts_at": iso(appointment.starts_at), "ends_at": iso(appointment.ends_at), "notes": appointment.notes}
