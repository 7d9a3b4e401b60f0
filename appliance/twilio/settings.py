"""Per-organization Twilio settings: account SID, numbers → agents, staff numbers for message SMS, URLs.

They are the organization's `settings` row `twilio` (JSON). The auth token is not in it: it is a 0600 file in
the data dir's secrets (`twilio-org-<id>-auth-token`), read when a webhook is checked or the REST API called,
never returned by the API and never logged. An organization without both has no Twilio (its endpoints 404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.config import DataDir
from appliance.store.models import Setting

SETTING_KEY = "twilio"
DEFAULT_API_BASE = "https://api.twilio.com"
_NOT_DIALLABLE = re.compile(r"[\s().-]")


def token_secret_name(org_id: int) -> str:
    return f"twilio-org-{org_id}-auth-token"


def normalise_number(number: str) -> str:
    """'+1 (555) 010-0000' -> '+15550100000': numbers compare the way Twilio sends them (E.164)."""
    return _NOT_DIALLABLE.sub("", number.strip())


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """One organization's Twilio configuration with its auth token (keep it out of logs: repr hides it)."""

    organization_id: int
    account_sid: str
    auth_token: str = field(repr=False)
    numbers: dict[str, int] = field(default_factory=dict)  # E.164 number -> agent id
    public_url: str = ""  # https base URL Twilio reaches this box at; "" = as each request came in
    api_base_url: str = DEFAULT_API_BASE
    message_sms: dict[int, tuple[str, ...]] = field(default_factory=dict)  # agent id -> staff numbers
    sms_from: str = ""  # sender of message SMS; "" = the agent's own Twilio number

    def agent_for(self, number: str) -> int | None:
        return self.numbers.get(normalise_number(number))

    def number_of(self, agent_id: int | None) -> str:
        """The first Twilio number that rings `agent_id` (the caller ID of its outbound calls and SMS)."""
        return next((n for n, a in self.numbers.items() if a == agent_id), "")


def stored_values(session: Session, org_id: int) -> dict[str, Any] | None:
    row = session.get(Setting, (org_id, SETTING_KEY))
    return dict(row.value) if row is not None and isinstance(row.value, dict) else None


def _account(org_id: int, values: dict[str, Any], token: str) -> TwilioAccount:
    return TwilioAccount(
        organization_id=org_id, account_sid=str(values.get("account_sid", "")), auth_token=token,
        numbers={normalise_number(k): int(v) for k, v in (values.get("numbers") or {}).items()},
        public_url=str(values.get("public_url") or "").rstrip("/"),
        api_base_url=str(values.get("api_base_url") or DEFAULT_API_BASE).rstrip("/"),
        message_sms={int(k): tuple(normalise_number(n) for n in v)
                     for k, v in (values.get("message_sms") or {}).items()},
        sms_from=normalise_number(str(values.get("sms_from") or "")))


def load_account(session: Session, paths: DataDir, org_id: int) -> TwilioAccount | None:
    """The organization's Twilio account, or None when it has no settings or no auth token."""
    values = stored_values(session, org_id)
    if not values or not values.get("account_sid"):
        return None
    token = paths.read_secret(token_secret_name(org_id))
    return _account(org_id, values, token) if token else None


def find_account(session: Session, paths: DataDir, *, account_sid: str, numbers: list[str],
                 org_id: int | None = None) -> TwilioAccount | None:
    """The account a webhook is for: the organization named in its URL (`org_id`, from calls we placed), else
    the one of `account_sid` that owns one of `numbers` (the dialled number first). None when no one does."""
    if org_id is not None:
        account = load_account(session, paths, org_id)
        return account if account is not None and account.account_sid == account_sid else None
    wanted = [normalise_number(n) for n in numbers if n]
    rows = session.scalars(select(Setting).where(Setting.key == SETTING_KEY)).all()
    owners = [r.organization_id for r in rows if isinstance(r.value, dict) and r.value.get("account_sid") == account_sid
              and any(normalise_number(k) in wanted for k in (r.value.get("numbers") or {}))]
    for number in wanted:  # the dialled number decides when two organizations share an account
        for org in owners:
            account = load_account(session, paths, org)
            if account is not None and number in account.numbers:
                return account
    return None


def save_account(session: Session, paths: DataDir, org_id: int, values: dict[str, Any],
                 auth_token: str | None) -> None:
    """Store the settings row; a given `auth_token` replaces the secret file ("" removes it)."""
    row = session.get(Setting, (org_id, SETTING_KEY))
    if row is None:
        session.add(Setting(organization_id=org_id, key=SETTING_KEY, value=values))
    else:
        row.value = values
    if auth_token:
        paths.write_secret(token_secret_name(org_id), auth_token)
    elif auth_token == "":
        paths.secret(token_secret_name(org_id)).unlink(missing_ok=True)
    session.flush()


def delete_account(session: Session, paths: DataDir, org_id: int) -> bool:
    row = session.get(Setting, (org_id, SETTING_KEY))
    paths.secret(token_secret_name(org_id)).unlink(missing_ok=True)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True
