"""Agent configuration: what one virtual receptionist says, how it listens, and which flows and tools it has.

Agents live as DB rows (editable through the API); `AgentConfig.from_row()` turns a row (ORM object or dict)
into this frozen config, filling defaults for anything missing. `default_reception_agent()` is the row
`vocaliq init` creates: booking and message flows that work on the small CPU model (the flows carry the
tasks; the LLM only phrases small talk and answers from knowledge).
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEFAULT_BUSINESS_HOURS: dict[str, list[list[str]]] = {
    "mon": [["09:00", "17:00"]],
    "tue": [["09:00", "17:00"]],
    "wed": [["09:00", "17:00"]],
    "thu": [["09:00", "17:00"]],
    "fri": [["09:00", "15:00"]],
    "sat": [],
    "sun": [],
}


@dataclass(frozen=True, slots=True)
class Endpointing:
    """Turn detection per agent. Silence shorter than `min_silence_ms` is a pause, not the end of a turn."""

    min_silence_ms: float = 600.0
    min_speech_ms: float = 200.0
    max_utterance_ms: float = 15_000.0
    barge_in_min_ms: float = 150.0
    vad_threshold: float = 0.5


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One agent, as the conversation engine uses it (see module docstring)."""

    name: str = "Reception"
    id: int | None = None
    organization_id: int | None = None
    organization_name: str = "our office"
    language: str = "en"
    greeting: str = "Hello, you have reached {org}. How can I help you?"
    system_prompt: str = ""
    voice: str = ""
    llm_chain: tuple[str, ...] = ()
    endpointing: Endpointing = field(default_factory=Endpointing)
    tools: tuple[str, ...] = ("book_appointment", "lookup_caller", "take_message", "transfer", "end_call",
                              "search_knowledge")
    flows: dict[str, Any] = field(default_factory=dict)
    transfer_targets: dict[str, str] = field(default_factory=dict)
    business_hours: dict[str, list[list[str]]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_BUSINESS_HOURS))
    timezone: str = "Europe/Berlin"
    appointment_minutes: int = 30
    knowledge_enabled: bool = True
    recording_enabled: bool = True
    max_call_s: float = 600.0
    no_input_timeout_s: float = 12.0
    no_input_prompts: int = 2
    max_misses: int = 3
    fallback_phrases: tuple[str, ...] = (
        "Sorry, I didn't catch that. Could you say it again?",
        "I'm sorry, I still didn't understand.",
    )
    goodbye: str = "Thank you for calling. Goodbye!"
    max_reply_tokens: int = 80

    def greeting_text(self) -> str:
        return self.greeting.replace("{org}", self.organization_name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> AgentConfig:
        """Build from a plain dict (unknown keys ignored; JSON strings for nested values accepted)."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known or value is None:
                continue
            if key in ("flows", "transfer_targets", "business_hours", "endpointing") and isinstance(value, str):
                value = json.loads(value) if value else {}
            if key == "endpointing" and isinstance(value, dict):
                ep_known = {f.name for f in fields(Endpointing)}
                value = Endpointing(**{k: float(v) for k, v in value.items() if k in ep_known})
            if key in ("tools", "fallback_phrases", "llm_chain") and isinstance(value, list | tuple):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_row(cls, row: Any) -> AgentConfig:
        """From an `agents` DB row (ORM object or dict). A JSON `config`/`settings` column is merged in."""
        source = row if isinstance(row, dict) else vars(row)
        data = {k: v for k, v in source.items() if not k.startswith("_")}
        for extra_key in ("config", "settings", "extra"):
            extra = data.pop(extra_key, None)
            if isinstance(extra, str) and extra:
                extra = json.loads(extra)
            if isinstance(extra, dict):
                data = {**extra, **{k: v for k, v in data.items() if v not in (None, "", {}, [])}}
        return cls.from_mapping(data)


RECEPTION_PROMPT = (
    "You are the friendly receptionist of {org}. Answer in one or two short sentences. "
    "If you do not know something, offer to take a message. Never invent appointments or prices."
)


_FLOW_TEXT = {
    "en": {
        "menu": "Press or say 1 to book an appointment, 2 to leave a message, 3 to speak to someone.",
        "name": "Sure. May I have your name, please?",
        "date": "Which day would you like to come in?",
        "time": "At what time?",
        "confirm_booking": "So that is an appointment for {name} on {date_text} at {time_text}. Shall I book it?",
        "msg_name": "Of course. What is your name?",
        "msg_phone": "What number can we call you back on?",
        "msg_text": "What is your message?",
        "confirm_message": "I have a message from {name}: {message}. Shall I pass it on?",
        "greeting": "Hello, you have reached {org}. I can book an appointment or take a message. How can I help?",
        "goodbye": "Thank you for calling. Goodbye!",
        "fallback": ("Sorry, I didn't catch that. Could you say it again?", "I'm sorry, I still didn't understand."),
    },
    "de": {
        "menu": "Drücken oder sagen Sie 1 für einen Termin, 2 für eine Nachricht, 3 für einen Mitarbeiter.",
        "name": "Gerne. Wie ist Ihr Name, bitte?",
        "date": "An welchem Tag möchten Sie kommen?",
        "time": "Um wie viel Uhr?",
        "confirm_booking": "Also ein Termin für {name} am {date_text} um {time_text}. Soll ich ihn eintragen?",
        "msg_name": "Gerne. Wie ist Ihr Name?",
        "msg_phone": "Unter welcher Nummer können wir Sie zurückrufen?",
        "msg_text": "Wie lautet Ihre Nachricht?",
        "confirm_message": "Ich habe eine Nachricht von {name}: {message}. Soll ich sie weitergeben?",
        "greeting": "Guten Tag, Sie sind verbunden mit {org}. Ich kann einen Termin eintragen oder eine Nachricht "
        "aufnehmen. Wie kann ich helfen?",
        "goodbye": "Vielen Dank für Ihren Anruf. Auf Wiederhören!",
        "fallback": ("Entschuldigung, das habe ich nicht verstanden. Können Sie das wiederholen?",
                     "Entschuldigung, ich habe es wieder nicht verstanden."),
    },
}


def default_flows(language: str = "en") -> dict[str, Any]:
    """Booking and message forms plus the spoken/DTMF main menu of the Reception agent."""
    t = _FLOW_TEXT.get(language, _FLOW_TEXT["en"])
    return {
        "menu": {
            "trigger": {"dtmf": "0"},
            "steps": [
                {
                    "type": "menu",
                    "prompt": t["menu"],
                    "options": [
                        {"digit": "1", "keywords": ["book", "appointment", "termin"], "goto": "booking"},
                        {"digit": "2", "keywords": ["message", "nachricht"], "goto": "message"},
                        {"digit": "3", "keywords": ["someone", "person", "human", "operator", "mitarbeiter"],
                         "action": "transfer"},
                    ],
                }
            ],
        },
        "booking": {
            "trigger": {"intents": ["book_appointment"], "dtmf": "1"},
            "steps": [
                {"type": "slot", "slot": "name", "kind": "name", "prompt": t["name"]},
                {"type": "slot", "slot": "date", "kind": "date", "prompt": t["date"]},
                {"type": "slot", "slot": "time", "kind": "time", "prompt": t["time"]},
                {"type": "confirm", "prompt": t["confirm_booking"]},
                {"type": "action", "action": "book_appointment"},
            ],
        },
        "message": {
            "trigger": {"intents": ["take_message"], "dtmf": "2"},
            "steps": [
                {"type": "slot", "slot": "name", "kind": "name", "prompt": t["msg_name"]},
                {"type": "slot", "slot": "phone", "kind": "phone", "prompt": t["msg_phone"],
                 "optional_if_caller_id": True},
                {"type": "slot", "slot": "message", "kind": "text", "prompt": t["msg_text"]},
                {"type": "confirm", "prompt": t["confirm_message"]},
                {"type": "action", "action": "take_message"},
            ],
        },
    }


def default_reception_agent(language: str = "en") -> dict[str, Any]:
    """The `agents` row `vocaliq init` creates (plain JSON-able dict; column names as in AgentConfig).
    `language` "de" gives German prompts (a German voice must then be installed for calls)."""
    t = _FLOW_TEXT.get(language, _FLOW_TEXT["en"])
    prompt = RECEPTION_PROMPT + (" Antworte immer auf Deutsch." if language == "de" else "")
    cfg = AgentConfig(
        name="Reception",
        language=language,
        organization_name="unserem Büro" if language == "de" else "our office",
        greeting=str(t["greeting"]),
        goodbye=str(t["goodbye"]),
        fallback_phrases=tuple(t["fallback"]),
        system_prompt=prompt,
        flows=default_flows(language),
        transfer_targets={"default": ""},
    )
    data = cfg.to_dict()
    data.pop("id")
    data.pop("organization_id")
    data["tools"] = list(cfg.tools)
    data["fallback_phrases"] = list(cfg.fallback_phrases)
    data["llm_chain"] = list(cfg.llm_chain)
    return data
