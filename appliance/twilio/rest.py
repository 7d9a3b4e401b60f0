"""Twilio's REST API through the twilio library: outbound calls, SMS, replacing a live call's TwiML.

The API's base URL is the organization's `api_base_url` (https://api.twilio.com unless set, e.g. to a regional
edge or a test double); the library's blocking HTTP client runs in a worker thread. Its request logging is
kept at WARNING: it would log numbers and message bodies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from appliance.errors import VocalIQError
from appliance.twilio.settings import TwilioAccount

log = logging.getLogger(__name__)
_HTTP_LOG = logging.getLogger("appliance.twilio.http")
_HTTP_LOG.setLevel(logging.WARNING)
T = TypeVar("T")

# call progress Twilio reports to our status callback
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioError(VocalIQError):
    """Twilio refused a request or could not be reached; `status` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TwilioRest:
    """REST calls for one organization's account (see module docstring)."""

    def __init__(self, account: TwilioAccount, *, timeout_s: float = 10.0) -> None:
        self.account = account
        self.timeout_s = timeout_s

    def _client(self) -> Client:
        http = TwilioHttpClient(timeout=self.timeout_s, logger=_HTTP_LOG)
        client = Client(self.account.account_sid, self.account.auth_token, http_client=http)
        client.api.base_url = self.account.api_base_url
        return client

    async def _run(self, what: str, fn: Callable[[Client], T]) -> T:
        def call() -> T:
            return fn(self._client())

        try:
            return await asyncio.to_thread(call)
        except TwilioRestException as exc:
            raise TwilioError(f"Twilio refused to {what}: {exc.msg} (HTTP {exc.status}"
                              + (f", code {exc.code})" if exc.code else ")"), exc.status, exc.code) from None
        except (TwilioException, OSError) as exc:
            raise TwilioError(f"cannot reach Twilio to {what}: {exc}") from None
        except Exception as exc:  # requests' ConnectionError/Timeout and friends
            if type(exc).__module__.startswith(("requests", "urllib3")):
                raise TwilioError(f"cannot reach Twilio to {what}: {type(exc).__name__}") from None
            raise

    async def create_call(self, *, to: str, from_: str, url: str, status_callback: str,
                          timeout_s: int = 30) -> str:
        """Dial `to` from our number; Twilio fetches `url` (our voice webhook) once answered. Returns the CallSid."""
        def create(client: Client) -> Any:
            return client.calls.create(to=to, from_=from_, url=url, method="POST", status_callback=status_callback,
                                       status_callback_method="POST", status_callback_event=STATUS_EVENTS,
                                       timeout=timeout_s)

        call = await self._run("place a call", create)
        return str(call.sid)

    async def send_sms(self, *, to: str, from_: str, body: str) -> str:
        """Send a text message; returns the message SID."""
        message = await self._run("send an SMS", lambda c: c.messages.create(to=to, from_=from_, body=body[:1600]))
        return str(message.sid)

    async def update_call(self, call_sid: str, *, twiml: str | None = None, status: str | None = None) -> None:
        """Replace a live call's TwiML (a transfer) or end it (`status="completed"`)."""
        def update(client: Client) -> Any:
            kwargs: dict[str, Any] = {}
            if twiml is not None:
                kwargs["twiml"] = twiml
            if status is not None:
                kwargs["status"] = status
            return client.calls(call_sid).update(**kwargs)

        await self._run("update a call", update)
