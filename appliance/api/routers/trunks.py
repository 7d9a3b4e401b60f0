"""SIP trunks of the caller's organization. Passwords are write-only (a 0600 secret file, never returned);
changes reach the SIP stack when `vocaliq serve` next starts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require, settings_of
from appliance.api.resources import telephony as svc
from appliance.config import Settings

router = APIRouter(prefix="/trunks", tags=["telephony"])
Reader = Annotated[Principal, Depends(require("telephony:read"))]
Writer = Annotated[Principal, Depends(require("telephony:write"))]
Db = Annotated[Session, Depends(get_session, scope="function")]
Config = Annotated[Settings, Depends(settings_of)]


@router.get("")
def list_trunks(principal: Reader, session: Db) -> list[svc.TrunkOut]:
    return [svc.trunk_out(row) for row in svc.list_trunks(session, principal.org_id)]


@router.post("", status_code=201, responses={400: {}, 409: {}})
def create_trunk(body: svc.TrunkCreate, principal: Writer, session: Db, settings: Config) -> svc.TrunkOut:
    row = svc.create_trunk(session, settings, principal.org_id, body)
    audit(session, principal, "trunk.create", f"trunk:{row.id}",
          {"name": row.name, "kind": row.kind, "password": "set" if row.password_secret else "none"})
    return svc.trunk_out(row)


@router.get("/{trunk_id}", responses={404: {}})
def get_trunk(trunk_id: int, principal: Reader, session: Db) -> svc.TrunkOut:
    return svc.trunk_out(svc.get_trunk(session, principal.org_id, trunk_id))


@router.patch("/{trunk_id}", responses={400: {}, 404: {}, 409: {}})
def update_trunk(trunk_id: int, body: svc.TrunkChanges, principal: Writer, session: Db,
                 settings: Config) -> svc.TrunkOut:
    row, changed = svc.update_trunk(session, settings, principal.org_id, trunk_id, body)
    audit(session, principal, "trunk.update", f"trunk:{trunk_id}", {"fields": changed})  # names, never values
    return svc.trunk_out(row)


@router.delete("/{trunk_id}", status_code=204, responses={404: {}})
def delete_trunk(trunk_id: int, principal: Writer, session: Db, settings: Config) -> None:
    name = svc.delete_trunk(session, settings, principal.org_id, trunk_id)
    audit(session, principal, "trunk.delete", f"trunk:{trunk_id}", {"name": name})
