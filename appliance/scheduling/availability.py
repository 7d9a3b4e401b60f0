"""When can an appointment start? Inside business hours, not overlapping an existing appointment.

Times are naive local wall-clock datetimes in the agent's timezone (what the caller said); the DB layer
stores them as they are, with the timezone on the agent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

Hours = dict[str, list[list[str]]]
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass(frozen=True, slots=True)
class Slot:
    start: dt.datetime
    end: dt.datetime

    def overlaps(self, other: Slot) -> bool:
        return self.start < other.end and other.start < self.end


def _windows(hours: Hours, day: dt.date) -> list[Slot]:
    out = []
    for opens, closes in hours.get(_DAYS[day.weekday()], []):
        start = dt.datetime.combine(day, dt.time.fromisoformat(opens))
        end = dt.datetime.combine(day, dt.time.fromisoformat(closes))
        out.append(Slot(start, end))
    return out


def is_open(hours: Hours, when: dt.datetime) -> bool:
    return any(w.start <= when < w.end for w in _windows(hours, when.date()))


def find_slot(
    requested: dt.datetime,
    *,
    hours: Hours,
    busy: Iterable[Slot],
    minutes: int = 30,
    not_before: dt.datetime | None = None,
    search_days: int = 21,
) -> Slot | None:
    """`requested` itself if it is free and within hours; otherwise the next free slot after it (or None)."""
    taken = list(busy)
    length = dt.timedelta(minutes=minutes)
    earliest = max(requested, not_before) if not_before else requested
    for offset in range(search_days + 1):
        day = earliest.date() + dt.timedelta(days=offset)
        for window in _windows(hours, day):
            start = window.start
            if start < earliest:  # align to the slot grid from opening time
                steps = -(-(earliest - window.start) // length)
                start = window.start + steps * length
            while start + length <= window.end:
                slot = Slot(start, start + length)
                if not any(slot.overlaps(b) for b in taken):
                    return slot
                start += length
    return None


_DE_DAY_NAMES = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]


def business_hours_text(hours: Hours, language: str = "en") -> str:
    """ "We are open Monday to Thursday from 9 AM to 5 PM, Friday from 9 AM to 3 PM." (or in German)"""
    german = language.startswith("de")
    names = _DE_DAY_NAMES if german else _DAY_NAMES
    groups: list[tuple[list[int], str]] = []
    for i, key in enumerate(_DAYS):
        spans = hours.get(key, [])
        if not spans:
            continue
        joiner = " und " if german else " and "
        text = joiner.join((f"von {_clock_de(a)} bis {_clock_de(b)}" if german else
                            f"from {_clock(a)} to {_clock(b)}") for a, b in spans)
        if groups and groups[-1][1] == text and groups[-1][0][-1] == i - 1:
            groups[-1][0].append(i)
        else:
            groups.append(([i], text))
    if not groups:
        return "Wir haben zurzeit geschlossen." if german else "We are currently closed."
    parts = []
    for days, text in groups:
        to = " bis " if german else " to "
        name = names[days[0]] if len(days) == 1 else f"{names[days[0]]}{to}{names[days[-1]]}"
        parts.append(f"{name} {text}")
    if german:
        return "Wir haben " + ", ".join(parts) + " geöffnet."
    return "We are open " + ", ".join(parts) + "."


def _clock(hhmm: str) -> str:
    t = dt.time.fromisoformat(hhmm)
    return dt.datetime.combine(dt.date.today(), t).strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")


def _clock_de(hhmm: str) -> str:
    t = dt.time.fromisoformat(hhmm)
    return f"{t.hour}" + (f":{t.minute:02d}" if t.minute else "") + " Uhr"
