"""Local calendar: availability from business hours and existing appointments, and an ICS feed."""

from appliance.scheduling.availability import Slot, business_hours_text, find_slot, is_open
from appliance.scheduling.ics import CalendarEntry, ics_feed

__all__ = ["CalendarEntry", "Slot", "business_hours_text", "find_slot", "ics_feed", "is_open"]
