"""The outbox on the real store, delivered over real HTTP on 127.0.0.1: events from a call, retries after the
receiver fails then recovers, giving up after N attempts, and a restart that loses nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

from appliance.agents import AgentConfig
from appliance.conversation import CallServices
from appliance.conversation.backoffice import DbBackoffice, load_agent
from appliance.conversation.filemode import converse_text
from appliance.conversation.recorder import flush
from appliance.events import EventBus
from appliance.store.models import Message, Webhook, WebhookDelivery, utcnow
from appliance.webhooks import DispatcherConfig, RetryPolicy, WebhookDispatcher, emit
from appliance.webhooks.registry import create_webhook
from tests.conversation.conftest import TODAY, _lines
from tests.fakes.models import TextModels
from tests.webhooks.conftest import Box
from tests.webhooks.receiver import receiver

FAST = DispatcherConfig(policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05),
                        poll_interval_s=0.02, timeout_s=5.0, lease_s=30.0)


def subscribe(box: Box, url: str, events: tuple[str, ...] = ()) -> str:
    with box.db.session() as s:
        _, secret = create_webhook(s, box.settings.paths, box.org, url=url, events=events)
    return secret


def dispatcher(box: Box, config: DispatcherConfig = FAST) -> WebhookDispatcher:
    return WebhookDispatcher(box.db, box.settings.paths.read_secret, config=config)


def deliveries(box: Box) -> list[WebhookDelivery]:
    with box.db.session() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def run_call(box: Box, lines: list[str], call_id: str, caller: str = "+4930123456") -> AgentConfig:
    agent, org = load_agent(box.db, "Reception")
    services = CallServices(models=TextModels(), bus=EventBus(), db=box.db, organization_id=org)
    await converse_text(_lines(lines, keep_open=False), services=services, agent=agent, call_id=call_id,
                        on_text=lambda _: None, caller=caller, today=TODAY)
    flush()
    return agent


async def test_a_booking_call_reaches_the_receiver_as_signed_events_in_order(box: Box) -> None:
    with receiver() as rx:
        rx.secret = subscribe(box, rx.url)
        await run_call(box, ["Book an appointment tomorrow at 3 pm", "Anna", "yes", "bye"], "hook-1")
        assert {d.status for d in deliveries(box)} == {"pending"}  # written with the rows, sent later
        async with dispatcher(box):
            await until(lambda: "call.ended" in rx.events(), "call.ended delivered")
        events = rx.events()
        assert events[0] == "call.started" and events[-1] == "call.ended"
        assert "appointment.booked" in events and events.count("turn.completed") >= 3
        assert rx.refused == []
        started = rx.received[0]
        assert started["data"]["caller"] == "+4930123456" and started["data"]["call_id"] == "hook-1"
        booked = next(r for r in rx.received if r["event"] == "appointment.booked")
        assert booked["data"]["name"] == "Anna" and booked["data"]["starts_at"].startswith("2026-11-26T15:00")
        ended = next(r for r in rx.received if r["event"] == "call.ended")
        assert ended["data"]["end_reason"] and "book_appointment" in ended["data"]["summary"]
    assert {d.status for d in deliveries(box)} == {"delivered"}


async def test_a_message_taken_is_announced_and_only_to_webhooks_subscribed_to_it(box: Box) -> None:
    with receiver() as messages_only, receiver() as calls_only:
        messages_only.secret = subscribe(box, messages_only.url, ("message.taken",))
        calls_only.secret = subscribe(box, calls_only.url, ("call.started",))
        office = DbBackoffice(box.db, box.org, agent_id=1)
        await office.create_message(name="Peter Miller", phone="+4930999", text="call me back", call_id="none")
        async with dispatcher(box):
            await until(lambda: messages_only.events() == ["message.taken"], "message delivered")
        assert calls_only.hits == 0
        assert messages_only.received[0]["data"]["text"] == "call me back"


def test_an_event_whose_change_rolls_back_leaves_no_outbox_row(box: Box) -> None:
    subscribe(box, "http://127.0.0.1:9/never")

    class Refused(Exception):
        pass

    with pytest.raises(Refused), box.db.session() as s:
        s.add(Message(organization_id=box.org, text="rolled back"))
        assert emit(s, box.org, "message.taken", {"text": "rolled back"}) == 1
        raise Refused
    assert deliveries(box) == []


async def test_the_receiver_fails_twice_then_recovers_and_gets_the_event_once(box: Box) -> None:
    with receiver(fail_next=2) as rx:
        rx.secret = subscribe(box, rx.url)
        with box.db.session() as s:
            emit(s, box.org, "message.taken", {"text": "retry me"})
        async with dispatcher(box):
            await until(lambda: rx.received != [], "delivered after retries")
        assert rx.hits == 3 and len(rx.received) == 1
    (row,) = deliveries(box)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, "")


async def test_a_receiver_that_never_recovers_is_given_up_after_max_attempts(box: Box) -> None:
    with receiver(fail_next=1000) as rx:
        rx.secret = subscribe(box, rx.url)
        with box.db.session() as s:
            emit(s, box.org, "call.started", {"call_id": "x"})
        async with dispatcher(box):
            await until(lambda: deliveries(box)[0].status == "failed", "given up")
        assert rx.hits == FAST.policy.max_attempts
    (row,) = deliveries(box)
    assert row.attempts == 3 and row.last_error.startswith("HTTP 503")


async def test_a_restarted_dispatcher_delivers_what_the_last_one_left_pending_or_in_flight(box: Box) -> None:
    with receiver() as gone:
        secret = subscribe(box, gone.url)
    # the receiver is down: the first dispatcher's attempts fail and the rows wait for their retry
    with box.db.session() as s:
        for n in range(3):
            emit(s, box.org, "message.taken", {"n": n})
    slow = DispatcherConfig(policy=RetryPolicy(max_attempts=5, base_delay_s=0.05), poll_interval_s=0.02)
    async with dispatcher(box, slow):
        await until(lambda: all(d.attempts == 1 for d in deliveries(box)), "first attempts failed")
    with box.db.session() as s:  # a box that died mid-request: row left "sending" with a lease that ran out
        row = s.get(WebhookDelivery, deliveries(box)[0].id)
        assert row is not None
        row.status, row.next_attempt_at = "sending", utcnow() - dt.timedelta(seconds=1)
    with receiver(secret) as rx2:
        with box.db.session() as s:  # the receiver is back (on a new port)
            s.scalars(select(Webhook)).one().url = rx2.url
        async with dispatcher(box):
            await until(lambda: len(rx2.received) == 3, "all three delivered after the restart")
        assert sorted(r["data"]["n"] for r in rx2.received) == [0, 1, 2]
    assert {d.status for d in deliveries(box)} == {"delivered"}


async def test_two_dispatchers_on_one_database_never_send_a_row_twice(box: Box) -> None:
    with receiver() as rx:
        rx.secret = subscribe(box, rx.url)
        with box.db.session() as s:
            for n in range(30):
                emit(s, box.org, "message.taken", {"n": n})
        a, b = dispatcher(box), dispatcher(box)
        sent = 0
        for _ in range(10):
            sent += sum(await asyncio.gather(a.run_once(), b.run_once()))
        await a.stop()
        await b.stop()
        assert sent == 30
        assert sorted(r["data"]["n"] for r in rx.received) == list(range(30))
