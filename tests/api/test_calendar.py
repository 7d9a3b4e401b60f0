"""Appointments and availability over the API, on the agent's local wall-clock and business hours."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sqlalchemy import select

from appliance.store.models import WebhookDelivery
from tests.api.conftest import Api

CAL = "/api/v1/calendar"
HOURS = {"mon": [["09:00", "11:00"]]}


def next_monday() -> dt.date:
    today = dt.date.today() + dt.timedelta(days=7)
    return today + dt.timedelta(days=(7 - today.weekday()) % 7)


async def make_agent(api: Api) -> int:
    r = await api.client.post("/api/v1/agents", headers=api.org1.headers, json={
        "name": "Dentist", "timezone": "Europe/Berlin", "business_hours": HOURS, "appointment_minutes": 30})
    assert r.status_code == 201, r.text
    agent_id: int = r.json()["id"]
    return agent_id


async def free_times(api: Api, agent_id: int, day: dt.date) -> list[str]:
    r = await api.client.get(f"{CAL}/agents/{agent_id}/availability", headers=api.org1.headers,
                             params={"from": day.isoformat(), "days": 1})
    assert r.status_code == 200, r.text
    return [s["starts_at"][11:16] for s in r.json()["slots"]]


async def test_booking_takes_the_slot_out_of_availability_and_a_clash_is_refused(api: Api) -> None:
    agent_id, monday = await make_agent(api), next_monday()
    assert await free_times(api, agent_id, monday) == ["09:00", "09:30", "10:00", "10:30"]
    hooked = await api.client.post("/api/v1/webhooks", headers=api.org1.headers,
                                   json={"url": "http://127.0.0.1:9/hook", "events": ["appointment.booked"]})
    assert hooked.status_code == 201, hooked.text
    utc_0930 = dt.datetime.combine(monday, dt.time(9, 30), zoneinfo.ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)
    booked = await api.client.post(f"{CAL}/appointments", headers=api.org1.headers, json={
        "agent_id": agent_id, "starts_at": utc_0930.isoformat(), "name": "Jane Roe", "phone": "+4930555"})
    assert booked.status_code == 201, booked.text
    appt = booked.json()
    assert appt["starts_at"] == f"{monday}T09:30:00" and appt["ends_at"] == f"{monday}T10:00:00"
    assert appt["timezone"] == "Europe/Berlin" and appt["status"] == "booked"
    assert await free_times(api, agent_id, monday) == ["09:00", "10:00", "10:30"]
    clash = await api.client.post(f"{CAL}/appointments", headers=api.org1.headers,
                                  json={"agent_id": agent_id, "starts_at": f"{monday}T09:45:00"})
    assert clash.status_code == 409 and f"appointment {appt['id']}" in clash.json()["detail"]
    outside = await api.client.post(f"{CAL}/appointments", headers=api.org1.headers, json={
        "agent_id": agent_id, "starts_at": f"{monday}T10:45:00", "within_hours": True})
    assert outside.status_code == 400 and "business hours" in outside.json()["detail"]
    with api.db.session() as s:
        events = [d.event for d in s.scalars(select(WebhookDelivery))]
    assert events == ["appointment.booked"]


async def test_moving_cancelling_and_deleting_an_appointment(api: Api) -> None:
    agent_id, monday = await make_agent(api), next_monday()
    appt = (await api.client.post(f"{CAL}/appointments", headers=api.org1.headers, json={
        "agent_id": agent_id, "starts_at": f"{monday}T09:00:00", "ends_at": f"{monday}T10:00:00"})).json()
    moved = await api.client.patch(f"{CAL}/appointments/{appt['id']}", headers=api.org1.headers,
                                   json={"starts_at": f"{monday}T09:30:00", "notes": "moved by phone"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["starts_at"], moved.json()["ends_at"]) == (f"{monday}T09:30:00", f"{monday}T10:30:00")
    assert await free_times(api, agent_id, monday) == ["09:00", "10:30"]
    cancelled = await api.client.patch(f"{CAL}/appointments/{appt['id']}", headers=api.org1.headers,
                                       json={"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled"
    assert await free_times(api, agent_id, monday) == ["09:00", "09:30", "10:00", "10:30"]
    listed = await api.client.get(f"{CAL}/appointments", headers=api.org1.headers,
                                  params={"agent_id": agent_id, "status": "cancelled"})
    assert [a["id"] for a in listed.json()] == [appt["id"]]
    same_start = await api.client.post(f"{CAL}/appointments", headers=api.org1.headers,
                                       json={"agent_id": agent_id, "starts_at": f"{monday}T09:30:00"})
    assert same_start.status_code == 409 and "delete or move it" in same_start.json()["detail"]
    assert (await api.client.delete(f"{CAL}/appointments/{appt['id']}", headers=api.org1.headers)
            ).status_code == 204
    again = await api.client.post(f"{CAL}/appointments", headers=api.org1.headers,
                                  json={"agent_id": agent_id, "starts_at": f"{monday}T09:30:00"})
    assert again.status_code == 201
    backwards = await api.client.patch(f"{CAL}/appointments/{again.json()['id']}", headers=api.org1.headers,
                                       json={"ends_at": f"{monday}T09:00:00"})
    assert backwards.status_code == 400


async def test_appointments_and_availability_stay_inside_the_organization(api: Api) -> None:
    agent_id, monday = await make_agent(api), next_monday()
    appt = (await api.client.post(f"{CAL}/appointments", headers=api.org1.headers, json={
        "agent_id": agent_id, "starts_at": f"{monday}T09:00:00", "name": "Private Patient"})).json()
    other = api.org2.headers
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.client.request(method, f"{CAL}/appointments/{appt['id']}", headers=other,
                                     json={"notes": "x"} if method == "PATCH" else None)
        assert r.status_code == 404, method
    assert (await api.client.get(f"{CAL}/appointments", headers=other)).json() == []
    assert (await api.client.get(f"{CAL}/agents/{agent_id}/availability", headers=other)).status_code == 404
    assert (await api.client.post(f"{CAL}/appointments", headers=other,
                                  json={"agent_id": agent_id, "starts_at": f"{monday}T10:00:00"})).status_code == 404
    viewer = await api.user(api.org1, "viewer")
    assert (await api.client.get(f"{CAL}/appointments", headers=viewer)).status_code == 200
    assert (await api.client.delete(f"{CAL}/appointments/{appt['id']}", headers=viewer)).status_code == 403


async def test_the_ics_feed_puts_an_appointment_at_the_agents_local_time(api: Api) -> None:
    agent_id, monday = await make_agent(api), next_monday()
    assert (await api.client.post(f"{CAL}/appointments", headers=api.org1.headers, json={
        "agent_id": agent_id, "starts_at": f"{monday}T09:30:00", "name": "Jane Roe"})).status_code == 201
    token = (await api.client.post(f"{CAL}/agents/{agent_id}/feed-token", headers=api.org1.headers)).json()["token"]
    feed = (await api.client.get(f"{CAL}/agents/{agent_id}/feed.ics", params={"token": token})).text
    start = dt.datetime.combine(monday, dt.time(9, 30), zoneinfo.ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)
    assert f"DTSTART:{start:%Y%m%dT%H%M%SZ}" in feed  # 09:30 in Berlin, not 09:30 UTC
    assert f"DTEND:{start + dt.timedelta(minutes=30):%Y%m%dT%H%M%SZ}" in feed
