"""ICS (iCalendar) feed of appointments, for subscribing from any calendar app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    uid: str
    start: dt.datetime
    end: dt.datetime
    summary: str
    description: str = ""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def ics_feed(entries: Iterable[CalendarEntry], *, name: str = "VocalIQ appointments", tz: str = "") -> str:
    """RFC 5545 text with one VEVENT per entry (local times, TZID when `tz` is given)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    tzid = f";TZID={tz}" if tz else ""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//VocalIQ//Appliance//EN", f"X-WR-CALNAME:{_escape(name)}"]
    for e in entries:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{e.uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART{tzid}:{e.start.strftime('%Y%m%dT%H%M%S')}",
            f"DTEND{tzid}:{e.end.strftime('%Y%m%dT%H%M%S')}",
            f"SUMMARY:{_escape(e.summary)}",
        ]
        if e.description:
            lines.append(f"DESCRIPTION:{_escape(e.description)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
