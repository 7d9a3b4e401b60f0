"""Per-turn understanding without a big model: intent by keyword rules, entities by the slot parsers,
sentiment by a small lexicon (German and English). Stored on the turn row and used to trigger flows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from appliance.conversation import entities

_INTENTS: list[tuple[str, str]] = [
    ("transfer", r"\b(speak|talk) (to|with) (a |an |the |someone|somebody|person|human|operator|agent|staff)|"
                 r"\b(real person|human|operator|mitarbeiter|verbinden|durchstellen)\b"),
    ("take_message", r"\b(leave|take|pass on) (a |an )?(message|note)|\bmessage\b|\b(call me back|callback|"
                     r"rückruf|zurückrufen|nachricht)\b"),
    ("book_appointment", r"\b(book|schedule|make|arrange|get|need|want) (an |a )?(appointment|slot|visit)|"
                         r"\bappointment\b|\btermin\b|\b(book|reserve|vereinbaren|buchen)\b"),
    ("cancel_appointment", r"\b(cancel|absagen|stornieren)\b.*\b(appointment|termin)\b"),
    ("opening_hours", r"\b(opening hours|open|opened|close|closed|business hours|hours)\b|"
                      r"\b(öffnungszeiten|geöffnet|offen|geschlossen)\b"),
    ("goodbye", r"\b(bye|goodbye|good bye|that's all|that is all|nothing else|no thanks|tschüss|tschüs|"
                r"auf wiederhören|auf wiedersehen|das war's|das wars)\b"),
    ("greeting", r"^\W*(hi|hello|hey|good (morning|afternoon|evening)|hallo|guten tag|guten morgen|servus)\b"),
]
_POSITIVE = {
    "thanks", "thank", "great", "good", "perfect", "wonderful", "excellent", "nice", "happy", "love", "helpful",
    "danke", "super", "toll", "prima", "perfekt", "gut", "schön", "freundlich", "glad", "awesome", "fine",
}
_NEGATIVE = {
    "bad", "terrible", "awful", "angry", "annoyed", "upset", "problem", "wrong", "broken", "complaint", "hate",
    "useless", "worst", "frustrated", "schlecht", "ärgerlich", "sauer", "beschwerde", "kaputt",
    "unzufrieden", "furchtbar", "schrecklich", "never", "ridiculous",
}


@dataclass(frozen=True, slots=True)
class NluResult:
    intent: str
    entities: dict[str, Any] = field(default_factory=dict)
    sentiment: float = 0.0  # -1 (negative) .. 1 (positive)


def understand(text: str, *, today: dt.date | None = None, region: str = "DE") -> NluResult:
    """Intent, entities and sentiment of one caller utterance."""
    lowered = text.lower().strip()
    if not lowered:
        return NluResult("empty")
    intent = "unknown"
    for name, pattern in _INTENTS:
        if re.search(pattern, lowered):
            intent = name
            break
    if intent == "unknown":
        yes_no = entities.parse_yes_no(lowered)
        if yes_no is not None and len(lowered.split()) <= 4:
            intent = "affirm" if yes_no else "deny"
        elif lowered.endswith("?") or re.match(r"(what|when|where|who|how|why|do you|can you|is there|are you|"
                                               r"was|wann|wo|wer|wie|warum|haben sie|gibt es)\b", lowered):
            intent = "question"
    found: dict[str, Any] = {}
    day: Any = entities.parse_date(text, today=today)
    if day:
        found["date"] = day.isoformat()
    clock = entities.parse_time(text)
    if clock:
        found["time"] = clock.strftime("%H:%M")
    for key, value in (("phone", entities.parse_phone(text, region=region)), ("email", entities.parse_email(text)),
                       ("name", entities.parse_name(text, free_form=False))):
        if value:
            found[key] = value
    return NluResult(intent, found, sentiment(lowered))


def sentiment(text: str) -> float:
    words = re.findall(r"\w+", text.lower())
    pos = sum(w in _POSITIVE for w in words)
    neg = sum(w in _NEGATIVE for w in words)
    if pos + neg == 0:
        return 0.0
    return round((pos - neg) / (pos + neg), 2)
