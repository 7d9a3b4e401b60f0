"""Agents: everything the conversation engine reads from an agent row, validated before it is stored.

A row keeps the queryable columns (name, language, greeting, ...) and the rest of `AgentConfig` in its JSON
`config` column (see `store.bootstrap.agent_row_fields`). Reads return the effective configuration, defaults
filled in, exactly as a call would use it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from appliance.agents import AgentConfig, default_reception_agent
from appliance.api.resources import UtcDatetime
from appliance.conversation.tools import TOOL_SPECS
from appliance.errors import Conflict
from appliance.store.bootstrap import AGENT_COLUMNS, agent_row_fields
from appliance.store.models import Agent, Route
from appliance.store.repositories import TenantRepo

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SLOT_KINDS = ("name", "date", "time", "phone", "email", "text")
FLOW_ACTIONS = ("book_appointment", "take_message", "transfer", "end_call")


class EndpointingSettings(BaseModel):
    """Turn detection: silence shorter than `min_silence_ms` is a pause, not the end of the caller's turn."""

    model_config = ConfigDict(extra="forbid")
    min_silence_ms: float = Field(600.0, ge=100, le=5000)
    min_speech_ms: float = Field(200.0, ge=0, le=5000)
    max_utterance_ms: float = Field(15_000.0, ge=1000, le=120_000)
    barge_in_min_ms: float = Field(150.0, ge=0, le=5000)
    vad_threshold: float = Field(0.5, gt=0, lt=1)


class MenuOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digit: str = Field("", pattern=r"^[0-9*#]?$")
    keywords: list[str] = Field(default_factory=list, max_length=20)
    goto: str = ""
    action: Literal["", "book_appointment", "take_message", "transfer", "end_call"] = ""

    @model_validator(mode="after")
    def _one_target(self) -> MenuOption:
        if bool(self.goto) == bool(self.action):
            raise ValueError("a menu option needs exactly one of 'goto' (a flow) or 'action'")
        if not self.digit and not self.keywords:
            raise ValueError("a menu option needs a 'digit' or 'keywords'")
        return self


class FlowStep(BaseModel):
    """One step of a flow; which fields it needs depends on its `type` (see conversation/flows.py)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["menu", "slot", "confirm", "say", "action"]
    prompt: str = Field("", max_length=2000)
    slot: str = Field("", max_length=50)
    kind: str = ""
    text: str = Field("", max_length=2000)
    action: str = ""
    options: list[MenuOption] = Field(default_factory=list, max_length=12)

    @model_validator(mode="after")
    def _complete(self) -> FlowStep:
        problem = {
            "menu": "" if self.options and self.prompt else "a menu step needs 'prompt' and 'options'",
            "slot": "" if self.slot and self.prompt and self.kind in SLOT_KINDS else
            f"a slot step needs 'slot', 'prompt' and a 'kind' of {', '.join(SLOT_KINDS)}",
            "confirm": "" if self.prompt else "a confirm step needs a 'prompt'",
            "say": "" if self.text else "a say step needs 'text'",
            "action": "" if self.action in FLOW_ACTIONS else f"an action step needs an 'action' of "
            f"{', '.join(FLOW_ACTIONS)}",
        }[self.type]
        if problem:
            raise ValueError(problem)
        return self


class FlowTrigger(BaseModel):
    model_config = ConfigDict(extra="allow")
    intents: list[str] = Field(default_factory=list, max_length=20)
    dtmf: str = Field("", pattern=r"^[0-9*#]?$")


class Flow(BaseModel):
    model_config = ConfigDict(extra="allow")
    trigger: FlowTrigger = Field(default_factory=FlowTrigger)
    steps: list[FlowStep] = Field(min_length=1, max_length=30)


class AgentChanges(BaseModel):
    """The fields of an agent; every one optional (a PATCH body changes only what it names)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    organization_name: str | None = Field(None, max_length=200)
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    greeting: str | None = Field(None, max_length=2000)
    system_prompt: str | None = Field(None, max_length=20_000)
    voice: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    llm_chain: list[str] | None = Field(None, max_length=10)
    endpointing: EndpointingSettings | None = None
    tools: list[str] | None = Field(None, max_length=len(TOOL_SPECS))
    flows: dict[str, Flow] | None = None
    transfer_targets: dict[str, str] | None = None
    business_hours: dict[Day, list[tuple[str, str]]] | None = None
    appointment_minutes: int | None = Field(None, ge=5, le=480)
    knowledge_enabled: bool | None = None
    recording_enabled: bool | None = None
    max_call_s: float | None = Field(None, ge=10, le=7200)
    no_input_timeout_s: float | None = Field(None, ge=2, le=120)
    no_input_prompts: int | None = Field(None, ge=0, le=10)
    max_misses: int | None = Field(None, ge=1, le=10)
    fallback_phrases: list[str] | None = Field(None, min_length=1, max_length=10)
    goodbye: str | None = Field(None, max_length=500)
    max_reply_tokens: int | None = Field(None, ge=10, le=1000)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(TOOL_SPECS))
        if unknown:
            raise ValueError(f"unknown tools {unknown}; known: {sorted(TOOL_SPECS)}")
        return value

    @field_validator("business_hours")
    @classmethod
    def _opening_hours(cls, value: dict[str, list[tuple[str, str]]] | None) -> dict[str, list[tuple[str, str]]] | None:
        for day, spans in (value or {}).items():
            for opens, closes in spans:
                try:
                    start, end = dt.time.fromisoformat(opens), dt.time.fromisoformat(closes)
                except ValueError:
                    raise ValueError(f"{day}: times are HH:MM, got {opens!r}-{closes!r}") from None
                if start >= end:
                    raise ValueError(f"{day}: {opens} is not before {closes}")
        return value

    @model_validator(mode="after")
    def _menus_go_to_flows(self) -> AgentChanges:
        flows = self.flows or {}
        for name, flow in flows.items():
            for step in flow.steps:
                missing = [o.goto for o in step.options if o.goto and o.goto not in flows]
                if missing:
                    raise ValueError(f"flow {name!r}: a menu option goes to unknown flow {missing[0]!r}")
        return self


class AgentCreate(AgentChanges):
    name: str = Field(min_length=1, max_length=100)
    template: Literal["blank", "reception"] = Field(
        "blank", description="'reception': start from the booking/message/menu flows `vocaliq init` creates")


class AgentOut(BaseModel):
    id: int
    name: str
    organization_name: str
    language: str
    greeting: str
    system_prompt: str
    voice: str
    timezone: str
    llm_chain: list[str]
    endpointing: dict[str, float]
    tools: list[str]
    flows: dict[str, Any]
    transfer_targets: dict[str, str]
    business_hours: dict[str, list[list[str]]]
    appointment_minutes: int
    knowledge_enabled: bool
    recording_enabled: bool
    max_call_s: float
    no_input_timeout_s: float
    no_input_prompts: int
    max_misses: int
    fallback_phrases: list[str]
    goodbye: str
    max_reply_tokens: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


def _columns(row: Agent) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in Agent.__table__.columns}


def effective_config(row: Agent) -> AgentConfig:
    """The agent as a call would run it (stored values over defaults)."""
    return AgentConfig.from_row(_columns(row))


def _plain(config: AgentConfig) -> dict[str, Any]:
    """AgentConfig as JSON-able data without its ids (tuples become lists)."""
    data = config.to_dict()
    data.pop("id", None)
    data.pop("organization_id", None)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def agent_out(row: Agent, org_name: str) -> AgentOut:
    """The effective agent; without a stored `organization_name` calls say the organization's own name."""
    data = _plain(effective_config(row))
    data["organization_name"] = (row.config or {}).get("organization_name") or org_name
    data["business_hours"] = {day: [list(span) for span in spans] for day, spans in data["business_hours"].items()}
    return AgentOut(id=row.id, created_at=row.created_at, updated_at=row.updated_at, **data)


def _store(row: Agent, data: dict[str, Any], *, own_org_name: bool) -> None:
    """Write `data` into the columns and `config`. Without `own_org_name` the organization's name is used."""
    if not own_org_name:
        data = {k: v for k, v in data.items() if k != "organization_name"}
    AgentConfig.from_mapping(data)  # what the engine will build from it must load
    fields = agent_row_fields(data)
    for column in AGENT_COLUMNS:
        if column in fields:
            setattr(row, column, fields[column])
    config = fields["config"]
    assert isinstance(config, dict)
    row.config = config


def _name_taken(session: Session, org_id: int, name: str, other_than: int | None = None) -> bool:
    stmt = select(func.count()).select_from(Agent).where(Agent.organization_id == org_id, Agent.name == name)
    if other_than is not None:
        stmt = stmt.where(Agent.id != other_than)
    return bool(session.scalar(stmt))


def list_agents(session: Session, org_id: int) -> list[Agent]:
    return list(TenantRepo(session, Agent, org_id).find(order_by=Agent.id))


def get_agent(session: Session, org_id: int, agent_id: int) -> Agent:
    return TenantRepo(session, Agent, org_id).get(agent_id)


def create_agent(session: Session, org_id: int, body: AgentCreate) -> Agent:
    """A new agent from a template ('blank': engine defaults; 'reception': flows for booking and messages)."""
    if _name_taken(session, org_id, body.name):
        raise Conflict(f"an agent named {body.name!r} exists")
    language = body.language or "en"
    base = default_reception_agent(language) if body.template == "reception" else _plain(AgentConfig(language=language))
    data = {**base, **body.model_dump(mode="json", exclude_unset=True, exclude={"template"})}
    row = Agent(organization_id=org_id, name=body.name)
    _store(row, data, own_org_name="organization_name" in body.model_fields_set)
    session.add(row)
    session.flush()
    return row


def update_agent(session: Session, org_id: int, agent_id: int, changes: AgentChanges) -> tuple[Agent, list[str]]:
    """Apply the fields `changes` names; returns the row and the names of the fields that changed."""
    row = get_agent(session, org_id, agent_id)
    given = changes.model_dump(mode="json", exclude_unset=True)
    if given.get("name") is None:
        given.pop("name", None)
    elif _name_taken(session, org_id, given["name"], other_than=agent_id):
        raise Conflict(f"an agent named {given['name']!r} exists")
    given = {k: v for k, v in given.items() if v is not None}
    current = _plain(effective_config(row))
    own_org_name = "organization_name" in given or "organization_name" in (row.config or {})
    _store(row, {**current, **given}, own_org_name=own_org_name)
    row.updated_at = dt.datetime.now(dt.UTC)
    return row, sorted(k for k, v in given.items() if current.get(k) != v)


def delete_agent(session: Session, org_id: int, agent_id: int) -> str:
    """Delete an agent no route points to (calls keep their history; its appointments go with it)."""
    row = get_agent(session, org_id, agent_id)
    routes = session.scalar(select(func.count()).select_from(Route).where(Route.agent_id == agent_id))
    if routes:
        raise Conflict(f"{routes} route(s) send calls to agent {agent_id}: change or delete them first")
    name = row.name
    session.delete(row)
    session.flush()
    return name


def engine_config(session: Session, org_id: int, agent_id: int) -> AgentConfig:
    """The agent of this organization as a call runs it (with the organization's name unless it has its own)."""
    from appliance.store.models import Organization

    row = get_agent(session, org_id, agent_id)
    data = _columns(row)
    org = session.get(Organization, org_id)
    if org is not None and "organization_name" not in (row.config or {}):
        data["organization_name"] = org.name
    return AgentConfig.from_row(data)
