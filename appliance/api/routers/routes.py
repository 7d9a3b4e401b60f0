"""Routes of the caller's organization: which agent answers a dialled number (most specific pattern wins,
then the lowest priority). A number other than '*' belongs to one organization on a box."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.resources import telephony as svc

router = APIRouter(prefix="/routes", tags=["telephony"])
Reader = Annotated[Principal, Depends(require("telephony:read"))]
Writer = Annotated[Principal, Depends(require("telephony:write"))]
Db = Annotated[Session, Depends(get_session, scope="function")]


@router.get("")
def list_routes(principal: Reader, session: Db) -> list[svc.RouteOut]:
    return [svc.route_out(row) for row in svc.list_routes(session, principal.org_id)]


@router.post("", status_code=201, responses={404: {}, 409: {}})
def create_route(body: svc.RouteCreate, principal: Writer, session: Db) -> svc.RouteOut:
    row = svc.create_route(session, principal.org_id, body)
    audit(session, principal, "route.create", f"route:{row.id}",
          {"did_pattern": row.did_pattern, "agent_id": row.agent_id, "trunk_id": row.trunk_id})
    return svc.route_out(row)


@router.get("/{route_id}", responses={404: {}})
def get_route(route_id: int, principal: Reader, session: Db) -> svc.RouteOut:
    return svc.route_out(svc.get_route(session, principal.org_id, route_id))


@router.patch("/{route_id}", responses={404: {}, 409: {}})
def update_route(route_id: int, body: svc.RouteChanges, principal: Writer, session: Db) -> svc.RouteOut:
    row, changed = svc.update_route(session, principal.org_id, route_id, body)
    audit(session, principal, "route.update", f"route:{route_id}", {"fields": changed})
    return svc.route_out(row)


@router.delete("/{route_id}", status_code=204, responses={404: {}})
def delete_route(route_id: int, principal: Writer, session: Db) -> None:
    svc.delete_route(session, principal.org_id, route_id)
    audit(session, principal, "route.delete", f"route:{route_id}")
