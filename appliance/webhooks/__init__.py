"""Webhooks: signed HTTP callbacks for call and back-office events, sent from a transactional outbox."""

from appliance.webhooks.dispatcher import DispatcherConfig, RetryPolicy, WebhookDispatcher
from appliance.webhooks.events import (
    APPOINTMENT_BOOKED,
    CALL_ENDED,
    CALL_STARTED,
    EVENTS,
    MESSAGE_TAKEN,
    TURN_COMPLETED,
)
from appliance.webhooks.outbox import emit
from appliance.webhooks.signing import InvalidSignature, sign_headers, verify

__all__ = ["APPOINTMENT_BOOKED", "CALL_ENDED", "CALL_STARTED", "EVENTS", "MESSAGE_TAKEN", "TURN_COMPLETED",
           "DispatcherConfig", "InvalidSignature", "RetryPolicy", "WebhookDispatcher", "emit", "sign_headers",
           "verify"]
