"""The API's core flows once more on PostgreSQL (127.0.0.1:5432, database `test`, a schema of their own).

The same test functions as on SQLite, run against an app whose database is PostgreSQL; skipped with the reason
when that server is absent.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.api import test_agents, test_auth, test_calls, test_contacts, test_rbac_and_limits, test_trunks_routes
from tests.api.conftest import Api, running_api, settings_for

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

FLOWS: list[Callable[[Api], Awaitable[None]]] = [
    test_auth.test_refresh_rotates_and_reusing_a_used_token_revokes_the_whole_family,
    test_auth.test_api_keys_work_in_both_headers_until_revoked_and_never_across_orgs,
    test_auth.test_forged_expired_and_alg_none_tokens_are_refused_and_audited,
    test_rbac_and_limits.test_org_admin_edits_own_settings_only,
    test_agents.test_names_are_unique_per_organization_only,
    test_trunks_routes.test_a_route_sends_its_number_to_the_agent_and_stays_inside_the_organization,
    test_contacts.test_search_update_delete_and_isolation,
    test_calls.test_lists_filter_and_page_newest_first_within_the_organization,
]


@pytest.fixture
async def pg_api(tmp_path: Path) -> AsyncIterator[Api]:
    try:
        admin = create_engine(PG)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any connection failure means: no server here
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 not reachable: {type(exc).__name__}")
    schema = f"api_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    try:
        async with running_api(settings_for(tmp_path, f"{PG}?options=-csearch_path%3D{schema}")) as api:
            yield api
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.__name__.removeprefix("test_")[:60])
async def test_flow_on_postgresql(pg_api: Api, flow: Callable[[Api], Awaitable[None]]) -> None:
    await flow(pg_api)
