"""Roles and what they may do. A route names a permission; a principal's role (or API key scopes) grant it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"
    AUDITOR = "auditor"


# Permissions are "<area>:<verb>". Areas: calls, agents, telephony (trunks, routes), content (knowledge,
# calendar, contacts), chat, users, keys, org, webhooks, gdpr, audit, system.
READ = {"calls:read", "agents:read", "telephony:read", "content:read", "webhooks:read"}
EDIT = READ | {"agents:write", "content:write", "chat:use", "audio:use"}
ADMIN = EDIT | {"calls:control", "telephony:write", "users:manage", "keys:manage", "org:manage",
                "webhooks:write", "gdpr:manage", "audit:read", "system:read"}
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset(ADMIN),
    Role.ADMIN: frozenset(ADMIN),
    Role.EDITOR: frozenset(EDIT),
    Role.VIEWER: frozenset(READ),
    Role.AUDITOR: frozenset({"calls:read", "audit:read", "system:read"}),
}
ALL_PERMISSIONS = frozenset().union(*PERMISSIONS.values())
RANK = {Role.OWNER: 4, Role.ADMIN: 3, Role.EDITOR: 2, Role.VIEWER: 1, Role.AUDITOR: 1}


def permissions(role: str) -> frozenset[str]:
    try:
        return PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def may_assign(actor_role: str, target_role: str) -> bool:
    """An admin may hand out roles up to admin; only an owner makes owners."""
    try:
        actor, target = Role(actor_role), Role(target_role)
    except ValueError:
        return False
    return actor is Role.OWNER or (actor is Role.ADMIN and target is not Role.OWNER)
