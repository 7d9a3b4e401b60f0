"""Trunks (SIP peers) and routes (dialled number → agent) of one organization.

A trunk password is write-only: it goes to a 0600 file in the secrets dir (`trunk-<id>-password`), the row
keeps only that file's name (what `store.routing.sip_trunks` reads), and no response ever carries it.
The SIP stack reads trunks and routes when `vocaliq serve` starts; routes are read per call.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from appliance.api.resources import Invalid
from appliance.config import Settings
from appliance.errors import Conflict
from appliance.store.models import Agent, Route, Trunk
from appliance.store.repositories import TenantRepo

TRUNK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
HOST = r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,253}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:]+\]$"
DID_PATTERN = r"^(\*|[A-Za-z0-9+#._-]{1,62}\*?)$"


def _networks(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    out = []
    for cidr in value:
        try:
            out.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{cidr!r} is not an IP address or network (e.g. 192.0.2.10/32)") from None
    return out


class TrunkChanges(BaseModel):
    """A trunk's fields, all optional (PATCH). `password`: a new one; "" removes it; absent keeps it."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, pattern=TRUNK_NAME)
    kind: Literal["register", "ip"] | None = None
    host: str | None = Field(None, pattern=HOST)
    port: int | None = Field(None, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] | None = None
    username: str | None = Field(None, max_length=100)
    password: SecretStr | None = Field(None, max_length=200, json_schema_extra={"writeOnly": True})
    realm: str | None = Field(None, max_length=255)
    allowed_cidrs: list[str] | None = Field(None, max_length=50)
    srtp: Literal["off", "optional", "mandatory"] | None = None
    outbound_caller_id: str | None = Field(None, pattern=r"^\+?[0-9]{0,20}$")
    enabled: bool | None = None

    _cidrs = field_validator("allowed_cidrs")(_networks)


class TrunkCreate(TrunkChanges):
    name: str = Field(pattern=TRUNK_NAME)
    kind: Literal["register", "ip"] = "register"


class TrunkOut(BaseModel):
    id: int
    name: str
    kind: str
    host: str
    port: int
    transport: str
    username: str
    realm: str
    allowed_cidrs: list[str]
    srtp: str
    outbound_caller_id: str
    enabled: bool
    password_set: bool = Field(description="a password is stored (it is never shown)")


def trunk_out(row: Trunk) -> TrunkOut:
    return TrunkOut(id=row.id, name=row.name, kind=row.kind, host=row.host, port=row.port, transport=row.transport,
                    username=row.username, realm=row.realm, allowed_cidrs=list(row.allowed_cidrs or []),
                    srtp=row.srtp, outbound_caller_id=row.outbound_caller_id, enabled=row.enabled,
                    password_set=bool(row.password_secret))


def _check_trunk(row: Trunk) -> None:
    if row.kind == "register" and not (row.host and row.username):
        raise Invalid("a 'register' trunk needs 'host' (the registrar) and 'username'")
    if row.kind == "ip" and not row.allowed_cidrs:
        raise Invalid("an 'ip' trunk needs 'allowed_cidrs' (the addresses its calls come from)")
    if row.srtp == "mandatory" and row.transport != "tls":
        raise Invalid("srtp 'mandatory' needs transport 'tls' (SRTP keys travel in the signalling)")


def _name_taken(session: Session, name: str, other_than: int | None) -> bool:
    # Box-wide, not per organization: the SIP stack keys accounts and trust by trunk name.
    stmt = select(func.count()).select_from(Trunk).where(Trunk.name == name)
    if other_than is not None:
        stmt = stmt.where(Trunk.id != other_than)
    return bool(session.scalar(stmt))


def _secret_name(trunk_id: int) -> str:
    return f"trunk-{trunk_id}-password"


def _set_password(settings: Settings, row: Trunk, password: SecretStr) -> None:
    secret = password.get_secret_value()
    if secret:
        row.password_secret = _secret_name(row.id)
        settings.paths.write_secret(row.password_secret, secret)
    else:
        remove_password(settings, row)


def remove_password(settings: Settings, row: Trunk) -> None:
    if row.password_secret:
        settings.paths.secret(row.password_secret).unlink(missing_ok=True)
    row.password_secret = ""


def _apply(row: Trunk, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if key != "password" and value is not None:
            setattr(row, key, value)


def list_trunks(session: Session, org_id: int) -> list[Trunk]:
    return list(TenantRepo(session, Trunk, org_id).find(order_by=Trunk.id))


def get_trunk(session: Session, org_id: int, trunk_id: int) -> Trunk:
    return TenantRepo(session, Trunk, org_id).get(trunk_id)


def create_trunk(session: Session, settings: Settings, org_id: int, body: TrunkCreate) -> Trunk:
    if _name_taken(session, body.name, None):
        raise Conflict(f"a trunk named {body.name!r} exists on this box")
    row = Trunk(organization_id=org_id, name=body.name, kind=body.kind, host="", port=5060, transport="udp",
                username="", password_secret="", realm="", allowed_cidrs=[], srtp="off", outbound_caller_id="",
                enabled=True)
    _apply(row, body.model_dump(exclude_unset=True))
    _check_trunk(row)
    session.add(row)
    session.flush()  # the id names the secret file
    if body.password is not None:
        _set_password(settings, row, body.password)
    return row


def update_trunk(session: Session, settings: Settings, org_id: int, trunk_id: int,
                 changes: TrunkChanges) -> tuple[Trunk, list[str]]:
    row = get_trunk(session, org_id, trunk_id)
    fields = changes.model_dump(exclude_unset=True)
    if fields.get("name") and _name_taken(session, fields["name"], trunk_id):
        raise Conflict(f"a trunk named {fields['name']!r} exists on this box")
    _apply(row, fields)
    _check_trunk(row)
    if changes.password is not None:
        _set_password(settings, row, changes.password)
    return row, sorted(k for k, v in fields.items() if v is not None)


def delete_trunk(session: Session, settings: Settings, org_id: int, trunk_id: int) -> str:
    """Delete a trunk, its password file and the routes bound to it."""
    row = get_trunk(session, org_id, trunk_id)
    name = row.name
    remove_password(settings, row)
    session.delete(row)
    session.flush()
    return name


# --- routes ----------------------------------------------------------------------------------------------

class RouteChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    did_pattern: str | None = Field(None, pattern=DID_PATTERN,
                                    description="'*' any number, 'PREFIX*' a prefix, else the exact number")
    agent_id: int | None = None
    trunk_id: int | None = None
    priority: int | None = Field(None, ge=0, le=100_000, description="lower wins among equally specific routes")


class RouteCreate(RouteChanges):
    did_pattern: str = Field("*", pattern=DID_PATTERN)
    agent_id: int
    priority: int = Field(100, ge=0, le=100_000)


class RouteOut(BaseModel):
    id: int
    did_pattern: str
    agent_id: int
    trunk_id: int | None
    priority: int


def route_out(row: Route) -> RouteOut:
    return RouteOut(id=row.id, did_pattern=row.did_pattern, agent_id=row.agent_id, trunk_id=row.trunk_id,
                    priority=row.priority)


def _check_route(session: Session, org_id: int, row: Route) -> None:
    TenantRepo(session, Agent, org_id).get(row.agent_id)  # another org's agent: NotFound
    if row.trunk_id is not None:
        TenantRepo(session, Trunk, org_id).get(row.trunk_id)
    same = select(Route.organization_id).where(Route.did_pattern == row.did_pattern)
    if row.id is not None:
        same = same.where(Route.id != row.id)
    owners = set(session.scalars(same))
    # Routing is box-wide (the dialled number picks the route), so a number belongs to one organization.
    if row.did_pattern != "*" and owners - {org_id}:
        raise Conflict(f"{row.did_pattern!r} is routed by another organization on this box")
    if org_id in owners and session.scalar(select(func.count()).select_from(Route).where(
            Route.organization_id == org_id, Route.did_pattern == row.did_pattern,
            Route.trunk_id.is_(None) if row.trunk_id is None else Route.trunk_id == row.trunk_id,
            Route.id != (row.id or 0))):
        raise Conflict(f"a route for {row.did_pattern!r} exists: change that one")


def list_routes(session: Session, org_id: int) -> list[Route]:
    return list(TenantRepo(session, Route, org_id).find(order_by=Route.id))


def get_route(session: Session, org_id: int, route_id: int) -> Route:
    return TenantRepo(session, Route, org_id).get(route_id)


def create_route(session: Session, org_id: int, body: RouteCreate) -> Route:
    row = Route(organization_id=org_id, did_pattern=body.did_pattern, agent_id=body.agent_id,
                trunk_id=body.trunk_id, priority=body.priority)
    _check_route(session, org_id, row)
    session.add(row)
    session.flush()
    return row


def update_route(session: Session, org_id: int, route_id: int, changes: RouteChanges) -> tuple[Route, list[str]]:
    row = get_route(session, org_id, route_id)
    fields = changes.model_dump(exclude_unset=True)
    for key, value in fields.items():
        if value is not None or key == "trunk_id":
            setattr(row, key, value)
    _check_route(session, org_id, row)
    return row, sorted(fields)


def delete_route(session: Session, org_id: int, route_id: int) -> None:
    TenantRepo(session, Route, org_id).delete(route_id)
