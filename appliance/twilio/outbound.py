"""Outbound calls through Twilio: ask Twilio to dial, and to fetch our voice webhook once the callee answers.

The webhook and status URLs carry `org` and `agent`: Twilio signs the whole URL with the organization's auth
token, so they cannot be forged, and the answered call reaches the agent that placed it. The running
`vocaliq serve` (whichever box `public_url` points at) takes the media stream from there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode

from appliance.config import Settings
from appliance.errors import ConfigError, NotFound
from appliance.twilio.rest import TwilioRest
from appliance.twilio.settings import TwilioAccount, load_account, normalise_number


@dataclass(frozen=True, slots=True)
class PlacedTwilioCall:
    call_sid: str
    to: str
    from_: str
    agent_id: int


def webhook_urls(account: TwilioAccount, agent_id: int) -> tuple[str, str]:
    """(voice URL, status callback URL) for a call we place for `agent_id`."""
    if not account.public_url:
        raise ConfigError("Twilio cannot reach this box: set public_url in the organization's Twilio settings")
    query = urlencode({"org": account.organization_id, "agent": agent_id})
    return f"{account.public_url}/twilio/voice?{query}", f"{account.public_url}/twilio/status?{query}"


async def place_call(account: TwilioAccount, *, to: str, agent_id: int, from_: str = "",
                     rest: TwilioRest | None = None) -> PlacedTwilioCall:
    """Dial `to` from `from_` (default: the agent's Twilio number); returns once Twilio queued the call."""
    sender = normalise_number(from_) if from_ else account.number_of(agent_id)
    if not sender:
        raise ConfigError(f"agent {agent_id} has no Twilio number to call from; map one in the Twilio settings or "
                       "give a from number")
    voice, status = webhook_urls(account, agent_id)
    sid = await (rest or TwilioRest(account)).create_call(to=normalise_number(to), from_=sender, url=voice,
                                                          status_callback=status)
    return PlacedTwilioCall(sid, normalise_number(to), sender, agent_id)


async def place_for_agent(settings: Settings, *, to: str, agent_name: str, from_: str = "") -> PlacedTwilioCall:
    """`vocaliq call-out --via twilio`: the named agent's organization places the call through its account."""
    from appliance.conversation.backoffice import load_agent
    from appliance.store.db import open_database

    def lookup() -> tuple[int, TwilioAccount | None]:
        db = open_database(settings)
        try:
            agent, org = load_agent(db, agent_name)
            if agent.id is None or org is None:
                raise NotFound(f"agent {agent_name!r} is not stored in the database")
            with db.session() as s:
                return agent.id, load_account(s, settings.paths, org)
        finally:
            db.close()

    agent_id, account = await asyncio.to_thread(lookup)
    if account is None:
        raise NotFound(f"the organization of agent {agent_name!r} has no Twilio settings (PUT /api/v1/twilio/settings)")
    return await place_call(account, to=to, agent_id=agent_id, from_=from_)
