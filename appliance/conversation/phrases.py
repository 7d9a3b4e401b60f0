"""What the engine itself says (outside the agent's own prompts), in English and German.

`phrase(language, key, **values)`; unknown languages fall back to English. Dates and times are spoken the
way each language says them.
"""

from __future__ import annotations

import datetime as dt

_EN: dict[str, str] = {
    "cancelled": "Alright, I've cancelled that. Is there anything else I can do for you?",
    "done": "Done.",
    "unavailable": "That is not available.",
    "failed": "Sorry, that did not work.",
    "not_an_option": "Sorry, {digit} is not an option.",
    "no_choice": "Sorry, I didn't get your choice.",
    "not_caught": "Sorry, I didn't catch that.",
    "hint_date": "Which day would suit you?",
    "hint_time": "What time would suit you?",
    "hint_phone": "Please tell me the number digit by digit.",
    "hint_email": "Please spell the e-mail address.",
    "yes_or_no": "Please answer yes or no.",
    "correct_it": "Alright, let's correct that.",
    "give_up": "I'm sorry, I'm having trouble with that. Let me connect you with a colleague.",
    "tool_not_here": "Sorry, I can't do that on this line.",
    "cannot_book": "I'm sorry, I can't book appointments right now. I can take a message.",
    "need_day_time": "I need a day and a time for the appointment.",
    "no_free_slots": "I'm sorry, there are no free appointments in the next weeks.",
    "slot_taken_offer": "I'm sorry, {asked} is not available. The next free appointment is {offer}.",
    "booked": "Done. Your appointment is booked for {when}. Is there anything else I can do for you?",
    "slot_just_taken": "I'm sorry, that slot was just taken. Please try another time.",
    "cannot_take_message": "I'm sorry, I can't take messages right now.",
    "message_taken": "Thank you, I've passed your message on. Is there anything else I can do for you?",
    "hello_contact": "Hello {name}.",
    "nobody_available": "I'm sorry, nobody is available to take your call right now. I can take a message instead.",
    "connecting": "One moment, I'll connect you.",
    "miss_limit": "I'm having trouble understanding you. Let me take a message for you instead.",
    "repeat": "Sorry, could you repeat that?",
    "internal_error": "I'm sorry, something went wrong on my side.",
    "capabilities": "I can book an appointment, take a message or tell you our opening hours.",
    "llm_down": "I'm sorry, I can't answer that right now. I can take a message for you.",
    "max_duration": "I'm sorry, we have reached the maximum call time.",
    "no_input_end": "I can't hear anything, so I'll end the call now.",
    "still_there": "Are you still there? How can I help you?",
    "transfer_failed": "I'm sorry, I couldn't connect you. I can take a message instead.",
    "at": "at",
}
_DE: dict[str, str] = {
    "cancelled": "In Ordnung, ich habe das abgebrochen. Kann ich sonst noch etwas für Sie tun?",
    "done": "Erledigt.",
    "unavailable": "Das ist leider nicht verfügbar.",
    "failed": "Das hat leider nicht geklappt.",
    "not_an_option": "Die {digit} ist leider keine Auswahl.",
    "no_choice": "Ich habe Ihre Auswahl leider nicht verstanden.",
    "not_caught": "Entschuldigung, das habe ich nicht verstanden.",
    "hint_date": "An welchem Tag passt es Ihnen?",
    "hint_time": "Um wie viel Uhr passt es Ihnen?",
    "hint_phone": "Bitte nennen Sie mir die Nummer Ziffer für Ziffer.",
    "hint_email": "Bitte buchstabieren Sie die E-Mail-Adresse.",
    "yes_or_no": "Bitte antworten Sie mit Ja oder Nein.",
    "correct_it": "Gut, dann korrigieren wir das.",
    "give_up": "Das klappt leider nicht. Ich verbinde Sie mit einem Kollegen.",
    "tool_not_here": "Das kann ich auf dieser Leitung leider nicht.",
    "cannot_book": "Ich kann gerade leider keine Termine buchen. Ich kann Ihnen aber eine Nachricht aufnehmen.",
    "need_day_time": "Ich brauche einen Tag und eine Uhrzeit für den Termin.",
    "no_free_slots": "In den nächsten Wochen ist leider kein Termin frei.",
    "slot_taken_offer": "{asked} ist leider nicht frei. Der nächste freie Termin ist {offer}.",
    "booked": "Erledigt. Ihr Termin ist am {when} eingetragen. Kann ich sonst noch etwas für Sie tun?",
    "slot_just_taken": "Dieser Termin wurde gerade vergeben. Bitte wählen Sie eine andere Zeit.",
    "cannot_take_message": "Ich kann gerade leider keine Nachricht aufnehmen.",
    "message_taken": "Danke, ich habe Ihre Nachricht weitergegeben. Kann ich sonst noch etwas für Sie tun?",
    "hello_contact": "Hallo {name}.",
    "nobody_available": "Gerade ist leider niemand erreichbar. Ich kann Ihnen aber eine Nachricht aufnehmen.",
    "connecting": "Einen Moment, ich verbinde Sie.",
    "miss_limit": "Ich verstehe Sie leider schlecht. Ich nehme Ihnen lieber eine Nachricht auf.",
    "repeat": "Entschuldigung, können Sie das wiederholen?",
    "internal_error": "Entschuldigung, bei mir ist etwas schiefgegangen.",
    "capabilities": "Ich kann Termine buchen, Nachrichten aufnehmen oder Ihnen unsere Öffnungszeiten nennen.",
    "llm_down": "Das kann ich gerade leider nicht beantworten. Ich kann Ihnen eine Nachricht aufnehmen.",
    "max_duration": "Wir haben leider die maximale Gesprächsdauer erreicht.",
    "no_input_end": "Ich höre leider nichts, deshalb beende ich das Gespräch jetzt.",
    "still_there": "Sind Sie noch da? Wie kann ich Ihnen helfen?",
    "transfer_failed": "Ich konnte Sie leider nicht verbinden. Ich kann Ihnen eine Nachricht aufnehmen.",
    "at": "um",
}
_TABLES = {"en": _EN, "de": _DE}
_DE_DAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
_DE_MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
              "November", "Dezember"]


def _table(language: str) -> dict[str, str]:
    return _TABLES.get(language.split("-")[0].lower(), _EN)


def phrase(language: str, key: str, **values: object) -> str:
    return _table(language)[key].format(**values)


def date_text(language: str, day: dt.date) -> str:
    if _table(language) is _DE:
        return f"{_DE_DAYS[day.weekday()]}, {day.day}. {_DE_MONTHS[day.month - 1]}"
    return f"{day.strftime('%A')}, {day.strftime('%B')} {day.day}"


def time_text(language: str, clock: dt.time) -> str:
    if _table(language) is _DE:
        return f"{clock.hour} Uhr" + (f" {clock.minute}" if clock.minute else "")
    return dt.datetime.combine(dt.date(2000, 1, 1), clock).strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")


def when_text(language: str, start: dt.datetime) -> str:
    return f"{date_text(language, start.date())} {phrase(language, 'at')} {time_text(language, start.time())}"
