"""RBAC over every route of the app: each route's permission is read from its dependencies, and every role (plus
an API key scoped to one permission) is sent to every route. A caller without the permission gets 403; a caller
with it gets past the check (whatever the handler then says about the dummy ids and empty bodies used here).

A route with no permission and no login must be listed in PUBLIC with the reason, so a new route cannot be
left open by forgetting `require(...)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from appliance.api import deps, rbac
from tests.api.conftest import Api
from tests.api.test_tenant_walker import api_routes

V1 = "/api/v1"
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
MISSING_ID = "987654"  # no object has it: a caller who passes the check gets a 404 or 422, never a change

# Routes anyone may call, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", f"{V1}/health"): "liveness probe",
    ("GET", f"{V1}/ready"): "readiness probe (counts only)",
    ("GET", f"{V1}/metrics"): "own gate: allowed networks or the superadmin (test_metrics_*)",
    ("POST", f"{V1}/auth/login"): "the way in",
    ("POST", f"{V1}/auth/refresh"): "the refresh token is the credential",
    ("POST", "/twilio/voice"): "Twilio's webhook, signature-checked",
    ("POST", "/twilio/status"): "Twilio's webhook, signature-checked",
    ("GET", f"{V1}/calendar/agents/{{agent_id}}/feed.ics"): "the feed token in the URL is the credential",
}
AUTHENTICATED = "any signed-in caller"
SUPERADMIN = "superadmin"


def requirement(dependant: Dependant) -> str | None:
    """The route's permission, SUPERADMIN, AUTHENTICATED (a login, no permission) or None (public)."""
    found: set[str] = set()

    def walk(d: Dependant) -> None:
        for sub in d.dependencies:
            if (permission := getattr(sub.call, "permission", None)) is not None:
                found.add(permission)
            elif sub.call is deps.superadmin:
                found.add(SUPERADMIN)
            elif sub.call is deps.current_principal:
                found.add(AUTHENTICATED)
            walk(sub)

    walk(dependant)
    specific = found - {AUTHENTICATED}
    assert len(specific) <= 1, f"more than one permission: {found}"
    return next(iter(specific), AUTHENTICATED if found else None)


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    permissions: frozenset[str]
    superadmin: bool = False


def operations(api: Api) -> Iterator[tuple[str, str, APIRoute]]:
    for path, route in api_routes(api.app):
        for method in sorted(route.methods or ()):
            yield method, path, route


async def callers(api: Api) -> list[Caller]:
    out = [Caller("owner (superadmin)", api.org1.headers, rbac.permissions("owner"), superadmin=True)]
    for role in ("admin", "editor", "viewer", "auditor"):
        out.append(Caller(role, await api.user(api.org1, role), rbac.permissions(role)))
    key = await api.client.post(f"{V1}/api-keys", headers=api.org1.headers,
                                json={"name": "one scope", "scopes": ["calls:read"]})
    assert key.status_code == 201, key.text
    out.append(Caller("owner's key scoped to calls:read", {"X-API-Key": key.json()["secret"]},
                      frozenset({"calls:read"})))
    return out


async def test_every_route_names_its_permission_and_every_role_gets_exactly_its_own(api: Api) -> None:
    failures: list[str] = []
    guarded: dict[tuple[str, str], str] = {}
    for method, path, route in operations(api):
        needed = requirement(route.dependant)
        if needed is None:
            if (method, path) not in PUBLIC:
                failures.append(f"{method} {path} needs no login: add require(...) or list it in PUBLIC with why")
            continue
        assert (method, path) not in PUBLIC, f"{method} {path} is in PUBLIC but needs {needed}"
        guarded[(method, path)] = needed
    assert not failures, "\n".join(failures)
    assert set(guarded.values()) - {AUTHENTICATED, SUPERADMIN} == rbac.ALL_PERMISSIONS, \
        "a permission in rbac.py that no route uses (or the other way round)"

    refused = passed = 0
    for caller in await callers(api):
        for (method, path), needed in guarded.items():
            if needed == SUPERADMIN:
                allowed = caller.superadmin
            else:
                allowed = needed == AUTHENTICATED or needed in caller.permissions
            url = PATH_PARAM.sub(MISSING_ID, path)
            body: Any = {} if method in ("POST", "PUT", "PATCH") else None
            r = await api.client.request(method, url, headers=caller.headers, json=body)
            permission_refused = r.status_code == 403 and (
                "permission" in r.json().get("detail", "") or "superadmin" in r.json().get("detail", ""))
            refused += permission_refused
            passed += allowed and not permission_refused
            if r.status_code == 401:
                failures.append(f"{caller.name}: {method} {path} -> 401 {r.text[:120]}")
            elif allowed and permission_refused:
                failures.append(f"{caller.name}: {method} {path} refused although it holds {needed}")
            elif not allowed and r.status_code != 403:
                failures.append(f"{caller.name}: {method} {path} -> {r.status_code} without {needed}: {r.text[:120]}")
            elif r.status_code >= 500 and r.status_code != 503:
                failures.append(f"{caller.name}: {method} {path} -> {r.status_code}: {r.text[:120]}")
    assert not failures, "\n".join(failures)
    assert refused > 150 and passed > 150, (refused, passed)  # the walk did walk


async def test_the_docs_role_table_matches_rbac() -> None:
    """docs/api.md's promise, checked against the table the API enforces."""
    p = rbac.permissions
    assert p("owner") == p("admin")
    assert p("viewer") < p("editor") < p("admin")
    assert p("auditor") == {"calls:read", "audit:read", "system:read"}
    assert not ({"users:manage", "keys:manage", "org:manage", "gdpr:manage", "calls:control"} & p("editor"))
    assert all(x.endswith(":read") for x in p("viewer"))
