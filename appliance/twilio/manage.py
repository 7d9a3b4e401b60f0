"""The organization's side of Twilio in the API (/api/v1/twilio, JWT or API key like every /api/v1 route):
settings (the auth token is write-only) and outbound calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require, settings_of
from appliance.config import Settings
from appliance.errors import Conflict, NotFound
from appliance.store.models import Agent, Setting
from appliance.twilio import settings as store
from appliance.twilio.outbound import place_call
from appliance.twilio.rest import TwilioError

router = APIRouter(tags=["twilio"])
E164 = r"^\+[1-9][0-9]{6,14}$"
Db = Annotated[Session, Depends(get_session, scope="function")]
Config = Annotated[Settings, Depends(settings_of)]


def _e164(number: str) -> str:
    import re

    value = store.normalise_number(number)
    if not re.fullmatch(E164, value):
        raise ValueError(f"{number!r} is not an E.164 number such as +4930123456")
    return value


class TwilioSettingsIn(BaseModel):
    """The organization's Twilio account. `auth_token`: required the first time; absent keeps the stored one."""

    model_config = ConfigDict(extra="forbid")
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr | None = Field(None, min_length=16, max_length=128, json_schema_extra={"writeOnly": True})
    numbers: dict[str, int] = Field(default_factory=dict, max_length=500,
                                    description="Twilio number (E.164) -> id of the agent that answers it")
    public_url: str = Field("", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$",
                            description="base URL Twilio reaches this box at, e.g. https://vocaliq.example.com")
    api_base_url: str = Field(store.DEFAULT_API_BASE, pattern=r"^https?://[^\s?#]+$")
    message_sms: dict[int, list[str]] = Field(default_factory=dict, max_length=500,
                                              description="agent id -> staff numbers texted after take_message")
    sms_from: str = ""

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, value: dict[str, int]) -> dict[str, int]:
        return {_e164(k): v for k, v in value.items()}

    @field_validator("message_sms")
    @classmethod
    def _staff(cls, value: dict[int, list[str]]) -> dict[int, list[str]]:
        return {k: [_e164(n) for n in v[:10]] for k, v in value.items()}

    @field_validator("sms_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _e164(value) if value else ""


class TwilioSettingsOut(BaseModel):
    account_sid: str
    auth_token_set: bool = Field(description="an auth token is stored (it is never shown)")
    numbers: dict[str, int]
    public_url: str
    api_base_url: str
    message_sms: dict[int, list[str]]
    sms_from: str
    voice_url: str = Field(description="set this as the numbers' voice webhook (POST) at Twilio")
    status_url: str = Field(description="set this as the numbers' status callback (POST) at Twilio")


class TwilioCallIn(BaseModel):
    to: str = Field(pattern=E164)
    agent_id: int
    from_number: str = Field("", pattern=r"^(\+[1-9][0-9]{6,14})?$")


class TwilioCallOut(BaseModel):
    call_sid: str
    to: str
    from_number: str
    agent_id: int


def _out(values: dict[str, Any], token_set: bool) -> TwilioSettingsOut:
    base = str(values.get("public_url") or "")
    return TwilioSettingsOut(
        account_sid=values["account_sid"], auth_token_set=token_set, numbers=values.get("numbers") or {},
        public_url=base, api_base_url=values.get("api_base_url") or store.DEFAULT_API_BASE,
        message_sms={int(k): v for k, v in (values.get("message_sms") or {}).items()},
        sms_from=values.get("sms_from") or "",
        voice_url=f"{base or '<public_url>'}/twilio/voice", status_url=f"{base or '<public_url>'}/twilio/status")


def _check_agents(s: Session, org_id: int, ids: set[int]) -> None:
    found = set(s.scalars(select(Agent.id).where(Agent.organization_id == org_id, Agent.id.in_(ids))).all())
    if ids - found:
        raise NotFound(f"no agent {min(ids - found)} in this organization")


def _check_numbers_free(s: Session, org_id: int, numbers: set[str]) -> None:
    for row in s.scalars(select(Setting).where(Setting.key == store.SETTING_KEY, Setting.organization_id != org_id)):
        taken = numbers & {store.normalise_number(n) for n in (row.value or {}).get("numbers") or {}}
        if taken:
            raise Conflict(f"number {min(taken)} belongs to another organization")


@router.get("/settings", responses={404: {}})
def get_settings(p: Annotated[Principal, Depends(require("telephony:read"))], s: Db,
                 settings: Config) -> TwilioSettingsOut:
    values = store.stored_values(s, p.org_id)
    if values is None:
        raise NotFound("this organization has no Twilio settings")
    return _out(values, settings.paths.read_secret(store.token_secret_name(p.org_id)) is not None)


@router.put("/settings", responses={400: {}, 404: {}, 409: {}})
def put_settings(body: TwilioSettingsIn, p: Annotated[Principal, Depends(require("telephony:write"))], s: Db,
                 settings: Config) -> TwilioSettingsOut:
    token = body.auth_token.get_secret_value() if body.auth_token is not None else None
    has_token = settings.paths.read_secret(store.token_secret_name(p.org_id)) is not None
    if not token and not has_token:
        raise HTTPException(422, "auth_token is required the first time")
    _check_agents(s, p.org_id, set(body.numbers.values()) | set(body.message_sms))
    _check_numbers_free(s, p.org_id, set(body.numbers))
    values = body.model_dump(exclude={"auth_token"})
    values["message_sms"] = {str(k): v for k, v in values["message_sms"].items()}  # JSON object keys
    store.save_account(s, settings.paths, p.org_id, values, token)
    audit(s, p, "twilio.settings", f"organization:{p.org_id}",
          {"numbers": len(body.numbers), "auth_token": "replaced" if token else "kept"})
    return _out(values, True)


@router.delete("/settings", status_code=204, responses={404: {}})
def delete_settings(p: Annotated[Principal, Depends(require("telephony:write"))], s: Db, settings: Config) -> Response:
    if not store.delete_account(s, settings.paths, p.org_id):
        raise NotFound("this organization has no Twilio settings")
    audit(s, p, "twilio.settings.delete", f"organization:{p.org_id}")
    return Response(status_code=204)


@router.post("/calls", status_code=201, responses={400: {}, 404: {}, 502: {}})
async def place(body: TwilioCallIn, p: Annotated[Principal, Depends(require("calls:control"))],
                s: Db, settings: Config) -> TwilioCallOut:
    """Have Twilio dial `to`; once answered, Twilio fetches our voice webhook and the agent takes the call."""
    account = store.load_account(s, settings.paths, p.org_id)
    if account is None:
        raise NotFound("this organization has no Twilio settings")
    _check_agents(s, p.org_id, {body.agent_id})
    s.commit()  # no transaction held open during the REST call
    try:
        placed = await place_call(account, to=body.to, agent_id=body.agent_id, from_=body.from_number)
    except TwilioError as exc:
        raise HTTPException(502, str(exc)) from None
    audit(s, p, "call.outbound", f"call:{placed.call_sid}", {"agent_id": body.agent_id, "via": "twilio"})
    return TwilioCallOut(call_sid=placed.call_sid, to=placed.to, from_number=placed.from_, agent_id=placed.agent_id)
