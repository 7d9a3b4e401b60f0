"""Entity parsers for flow slots: dates and times (German and English, relative or absolute), phone numbers,
e-mail addresses, names and yes/no. Each returns None when the text holds no such entity.

Relative dates and clock times use our own rules (dateparser misreads "nächsten Dienstag um 10"); absolute
dates ("3rd of December", "3. Dezember") go to dateparser.
"""

from __future__ import annotations

import datetime as dt
import re

import phonenumbers

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "zero": 0, "oh": 0,
    "eins": 1, "ein": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8,
    "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "null": 0, "dreizehn": 13, "vierzehn": 14,
    "fünfzehn": 15, "sechzehn": 16, "siebzehn": 17, "achtzehn": 18, "zwanzig": 20,
}
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4, "samstag": 5, "sonntag": 6,
}
_NUM = r"(\d{1,2}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
_PM = r"(p\.?\s?m\.?|pm|in the afternoon|in the evening|nachmittags|abends)"
_AM = r"(a\.?\s?m\.?|am|in the morning|morgens|vormittags)"


def _num(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


def _norm(text: str) -> str:
    return " " + re.sub(r"[,!?;]", " ", text.lower()).replace("’", "'") + " "


def parse_time(text: str) -> dt.time | None:
    """A clock time: "3 pm", "15:30", "at 10", "um 10 Uhr", "halb drei" is not supported."""
    t = _norm(text)
    if re.search(r"\b(noon|midday|mittag)\b", t):
        return dt.time(12, 0)
    m = re.search(rf"\b(\d{{1,2}})[:.](\d{{2}})\s*(uhr|{_PM}|{_AM})?", t)
    if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
        return _clock(int(m.group(1)), int(m.group(2)), m.group(3) or "")
    m = re.search(rf"\b{_NUM}\s*(?:o'clock\s*)?({_PM}|{_AM}|uhr|o'clock)", t)
    if m:
        return _clock(_num(m.group(1)), 0, m.group(2))
    m = re.search(rf"\b(?:at|um|gegen|around)\s+{_NUM}\b(?!\s*(?:\.|th|st|nd|rd)\b)", t)
    if m:
        return _clock(_num(m.group(1)), 0, "")
    return None


def _clock(hour: int, minute: int, suffix: str) -> dt.time | None:
    suffix = suffix.strip()
    if re.fullmatch(_PM, suffix) and hour < 12:
        hour += 12
    elif re.fullmatch(_AM, suffix) and hour == 12:
        hour = 0
    elif not suffix and 1 <= hour <= 7:
        hour += 12  # "at 3" on a business line means the afternoon
    if not (0 <= hour < 24):
        return None
    return dt.time(hour, minute)


def parse_date(text: str, *, today: dt.date | None = None) -> dt.date | None:
    """A calendar day: today/tomorrow/heute/morgen/übermorgen, (next) weekday, or an absolute date."""
    today = today or dt.date.today()
    t = _norm(text)
    if re.search(r"\b(day after tomorrow|übermorgen)\b", t):
        return today + dt.timedelta(days=2)
    if re.search(r"\b(tomorrow|morgen)\b", t) and not re.search(r"\bguten morgen\b", t):
        return today + dt.timedelta(days=1)
    if re.search(r"\b(today|heute)\b", t):
        return today
    for word, weekday in _WEEKDAYS.items():
        if re.search(rf"\b{word}s?\b", t):
            ahead = (weekday - today.weekday()) % 7 or 7
            if re.search(r"\b(next week|nächste woche)\b", t) and ahead < 7:
                ahead += 7 if (weekday - today.weekday()) % 7 and weekday < today.weekday() else 0
            return today + dt.timedelta(days=ahead)
    return _absolute_date(text, today)


def _absolute_date(text: str, today: dt.date) -> dt.date | None:
    months = (r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|januar|februar|märz|mai|juni|juli|oktober"
              r"|dezember")
    if not re.search(rf"\b\d{{1,2}}\.\s?\d{{1,2}}\.|\b({months})", text.lower()):
        return None
    from dateparser.search import search_dates  # slow import; only for absolute dates

    base = dt.datetime.combine(today, dt.time(0, 0))
    date_part = re.split(r"\b(?:at|um|gegen)\b", text)[0]
    found = search_dates(
        date_part, languages=["en", "de"], settings={"PREFER_DATES_FROM": "future", "RELATIVE_BASE": base}
    )
    if not found:
        return None
    day = found[0][1].date()
    if day < today:
        day = day.replace(year=day.year + 1)
    return day if (day - today).days < 400 else None


def parse_phone(text: str, *, region: str = "DE") -> str | None:
    """A phone number in E.164 (digits may be spoken: "zero one seven six ...")."""
    words = re.findall(r"[\w+]+", text.lower())
    spoken = "".join(str(_NUMBER_WORDS[w]) if w in _NUMBER_WORDS and _NUMBER_WORDS[w] < 10 else w for w in words
                     if w in _NUMBER_WORDS or re.fullmatch(r"\+?\d+", w))
    for candidate in (text, spoken):
        for match in phonenumbers.PhoneNumberMatcher(candidate, region):
            if phonenumbers.is_possible_number(match.number):
                return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def parse_email(text: str) -> str | None:
    """An e-mail address, also spoken ("anna at example dot com")."""
    m = _EMAIL.search(text)
    if m:
        return m.group(0).lower().rstrip(".")
    spoken = re.sub(r"\s+(at|ät)\s+", "@", text.lower())
    spoken = re.sub(r"\s+(dot|punkt)\s+", ".", spoken)
    m = _EMAIL.search(spoken.replace(" ", "") if "@" in spoken else "")
    return m.group(0).rstrip(".") if m else None


_NAME_PATTERNS = [
    (r"(?:my name is|my name's|name is|call me|mein name ist|ich heiße|ich heisse)\s+(.+)", False),
    (r"(?:this is|i am|i'm|it's|it is|hier ist|hier spricht|ich bin)\s+(.+)", True),
]
_NOT_NAMES = {"yes", "no", "hello", "hi", "ja", "nein", "hallo", "okay", "ok", "sure", "um", "uh", "the", "a"}


def parse_name(text: str, *, free_form: bool = True) -> str | None:
    """A person's name from "my name is Anna Schmidt", or (free_form) a short answer like "Anna Schmidt"."""
    cleaned = re.sub(r"[^\w\s'-]", " ", text).strip()
    for pattern, needs_capital in _NAME_PATTERNS:
        m = re.search(pattern, cleaned, re.IGNORECASE)
        if m and (not needs_capital or m.group(1)[:1].isupper()):
            words = m.group(1).split()
            if needs_capital:  # "this is Anna Schmidt calling" -> the capitalised run only
                words = words[: next((i for i, w in enumerate(words) if not w[:1].isupper()), len(words))]
            return _title(" ".join(words))
    if free_form:
        words = [w for w in cleaned.split() if w.lower() not in _NOT_NAMES]
        if 1 <= len(words) <= 3 and all(w.isalpha() or "-" in w or "'" in w for w in words):
            return _title(" ".join(words))
    return None


def _title(raw: str) -> str | None:
    words: list[str] = []
    for w in raw.split():
        if w.lower() in ("and", "und", "please", "bitte", "calling", "speaking", "here", "hier"):
            break
        if w.lower() not in _NOT_NAMES:
            words.append(w)
    words = words[:3]
    return " ".join(w[:1].upper() + w[1:] for w in words) or None


_YES = r"\b(yes|yeah|yep|yup|sure|correct|right|exactly|please do|go ahead|sounds good|that's right|okay|ok|" \
    r"ja|jawohl|genau|richtig|gerne|passt|stimmt|perfect|perfekt|great|fine|book it)\b"
_NO = r"\b(no|nope|nah|not|wrong|don't|do not|nein|nicht|falsch|lieber nicht|cancel)\b"


def parse_yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when unclear (a "no" wins over a polite "okay, no")."""
    t = _norm(text)
    if re.search(_NO, t):
        return False
    if re.search(_YES, t):
        return True
    return None
