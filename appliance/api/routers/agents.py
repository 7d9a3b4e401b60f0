"""Agents of the caller's organization: list, read, create (blank or from the reception template), change,
delete. Every change is validated as the conversation engine would read it, and audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.resources import agents as svc
from appliance.store.models import Organization

router = APIRouter(prefix="/agents", tags=["agents"])
Reader = Annotated[Principal, Depends(require("agents:read"))]
Writer = Annotated[Principal, Depends(require("agents:write"))]
Db = Annotated[Session, Depends(get_session, scope="function")]


def _org_name(session: Session, org_id: int) -> str:
    org = session.get(Organization, org_id)
    return org.name if org is not None else ""


@router.get("")
def list_agents(principal: Reader, session: Db) -> list[svc.AgentOut]:
    name = _org_name(session, principal.org_id)
    return [svc.agent_out(row, name) for row in svc.list_agents(session, principal.org_id)]


@router.post("", status_code=201, responses={409: {}})
def create_agent(body: svc.AgentCreate, principal: Writer, session: Db) -> svc.AgentOut:
    row = svc.create_agent(session, principal.org_id, body)
    audit(session, principal, "agent.create", f"agent:{row.id}", {"name": row.name, "template": body.template})
    return svc.agent_out(row, _org_name(session, principal.org_id))


@router.get("/{agent_id}", responses={404: {}})
def get_agent(agent_id: int, principal: Reader, session: Db) -> svc.AgentOut:
    return svc.agent_out(svc.get_agent(session, principal.org_id, agent_id), _org_name(session, principal.org_id))


@router.patch("/{agent_id}", responses={404: {}, 409: {}})
def update_agent(agent_id: int, body: svc.AgentChanges, principal: Writer, session: Db) -> svc.AgentOut:
    row, changed = svc.update_agent(session, principal.org_id, agent_id, body)
    audit(session, principal, "agent.update", f"agent:{agent_id}", {"fields": changed})
    return svc.agent_out(row, _org_name(session, principal.org_id))


@router.delete("/{agent_id}", status_code=204, responses={404: {}, 409: {}})
def delete_agent(agent_id: int, principal: Writer, session: Db) -> None:
    name = svc.delete_agent(session, principal.org_id, agent_id)
    audit(session, principal, "agent.delete", f"agent:{agent_id}", {"name": name})
