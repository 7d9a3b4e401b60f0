"""Entity parsers, NLU, sentence splitter and availability (pure logic, real libraries)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.agents import DEFAULT_BUSINESS_HOURS
from appliance.conversation.entities import parse_date, parse_email, parse_name, parse_phone, parse_time, parse_yes_no
from appliance.conversation.nlu import understand
from appliance.conversation.splitter import SentenceSplitter, split_sentences
from appliance.scheduling import CalendarEntry, Slot, find_slot, ics_feed

TODAY = dt.date(2026, 11, 25)  # Wednesday


@pytest.mark.parametrize(("text", "day", "clock"), [
    ("nächsten Dienstag um 10", dt.date(2026, 12, 1), dt.time(10, 0)),
    ("tomorrow at 3 pm", dt.date(2026, 11, 26), dt.time(15, 0)),
    ("Tomorrow at 3 p.m.", dt.date(2026, 11, 26), dt.time(15, 0)),
    ("morgen um 15 Uhr", dt.date(2026, 11, 26), dt.time(15, 0)),
    ("next Tuesday at ten a.m.", dt.date(2026, 12, 1), dt.time(10, 0)),
    ("am 3. Dezember um 14:30", dt.date(2026, 12, 3), dt.time(14, 30)),
    ("December 3rd at eleven", dt.date(2026, 12, 3), dt.time(11, 0)),
    ("übermorgen gegen 9", dt.date(2026, 11, 27), dt.time(9, 0)),
])
def test_german_and_english_dates_and_times_parse(text: str, day: dt.date, clock: dt.time) -> None:
    assert parse_date(text, today=TODAY) == day
    assert parse_time(text) == clock


def test_text_without_dates_has_none() -> None:
    assert parse_date("I would like to book an appointment", today=TODAY) is None
    assert parse_time("Guten Morgen, hier ist Anna") is None


def test_phone_email_name_yes_no() -> None:
    assert parse_phone("my number is 0176 1234 5678") == "+4917612345678"
    assert parse_phone("zero three zero one two three four five six seven") == "+493012345 67".replace(" ", "")
    assert parse_email("anna dot schmidt at example dot com") == "anna.schmidt@example.com"
    assert parse_name("My name is Anna Schmidt.") == "Anna Schmidt"
    assert parse_name("Ich heiße Jürgen Weiß") == "Jürgen Weiß"
    assert parse_name("This is terrible, nothing works") is None
    assert parse_yes_no("Yes, please.") is True and parse_yes_no("Nein, falsch") is False
    assert parse_yes_no("maybe") is None


def test_nlu_intents_entities_sentiment() -> None:
    booking = understand("I'd like to book an appointment tomorrow at 3 pm", today=TODAY)
    assert booking.intent == "book_appointment"
    assert booking.entities == {"date": "2026-11-26", "time": "15:00"}
    assert understand("Ich möchte eine Nachricht hinterlassen").intent == "take_message"
    assert understand("Wann haben Sie geöffnet?").intent == "opening_hours"
    assert understand("This is terrible, I am angry").sentiment < 0
    assert understand("Thanks, that was very helpful").sentiment > 0


def test_splitter_emits_sentences_as_soon_as_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Hello there. Dr. Smith is in at 3.5 hours") == ["Hello there."]
    assert splitter.push(" today! And") == ["Dr. Smith is in at 3.5 hours today!"]
    assert splitter.flush() == ["And"]
    assert split_sentences("One sentence here. Two sentences here?") == ["One sentence here.", "Two sentences here?"]


def test_availability_offers_next_free_slot_and_respects_hours() -> None:
    taken = [Slot(dt.datetime(2026, 11, 26, 15), dt.datetime(2026, 11, 26, 15, 30))]
    hours = DEFAULT_BUSINESS_HOURS
    assert find_slot(dt.datetime(2026, 11, 26, 10), hours=hours, busy=taken).start == dt.datetime(2026, 11, 26, 10)
    assert find_slot(dt.datetime(2026, 11, 26, 15), hours=hours, busy=taken).start == dt.datetime(2026, 11, 26, 15, 30)
    # Saturday is closed: the next slot is Monday at opening time
    assert find_slot(dt.datetime(2026, 11, 28, 10), hours=hours, busy=taken).start == dt.datetime(2026, 11, 30, 9)


def test_ics_feed_lists_appointments() -> None:
    text = ics_feed([CalendarEntry("a1@vocaliq", dt.datetime(2026, 11, 26, 15), dt.datetime(2026, 11, 26, 15, 30),
                                   "Anna Schmidt, call back")], tz="Europe/Berlin")
    assert "BEGIN:VEVENT" in text and "DTSTART;TZID=Europe/Berlin:20261126T150000" in text
    assert "SUMMARY:Anna Schmidt\\, call back" in text
