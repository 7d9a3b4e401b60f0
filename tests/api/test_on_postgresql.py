"""The API's core flows once more on PostgreSQL (127.0.0.1:5432, database `test`, a schema of their own).

The same test functions as on SQLite — auth, refresh and lockout, both route walkers (RBAC and tenant
isolation), org settings, agents, routes, contacts, call lists — run against an app whose database is
PostgreSQL; skipped with the reason when that server is absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.api import (
    test_agents,
    test_auth,
    test_calls,
    test_contacts,
    test_rbac_and_limits,
    test_rbac_walker,
    test_tenant_walker,
    test_trunks_routes,
)
from tests.api.conftest import Api, running_api, settings_for
from tests.postgres import pg_schema_url

FLOWS: list[Callable[[Api], Awaitable[None]]] = [
    test_auth.test_refresh_rotates_and_reusing_a_used_token_revokes_the_whole_family,
    test_auth.test_api_keys_work_in_both_headers_until_revoked_and_never_across_orgs,
    test_auth.test_forged_expired_and_alg_none_tokens_are_refused_and_audited,
    test_auth.test_each_failure_after_a_lockout_doubles_it_and_a_success_resets_the_count,
    test_auth.test_unknown_and_expired_refresh_tokens_are_refused_and_audited,
    test_auth.test_a_new_password_ends_logins_and_a_deleted_users_keys_stop_working,
    test_rbac_walker.test_every_route_names_its_permission_and_every_role_gets_exactly_its_own,
    test_tenant_walker.test_org2_reaches_nothing_of_org1_by_path_query_or_reference,
    test_rbac_and_limits.test_org_admin_edits_own_settings_only,
    test_agents.test_names_are_unique_per_organization_only,
    test_trunks_routes.test_a_route_sends_its_number_to_the_agent_and_stays_inside_the_organization,
    test_contacts.test_search_update_delete_and_isolation,
    test_calls.test_lists_filter_and_page_newest_first_within_the_organization,
]


@pytest.fixture
async def pg_api(tmp_path: Path) -> AsyncIterator[Api]:
    for url in pg_schema_url():  # a schema of its own, dropped afterwards; skips when the server is absent
        async with running_api(settings_for(tmp_path, url)) as api:
            yield api


@pytest.mark.postgres
@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.__name__.removeprefix("test_")[:60])
async def test_flow_on_postgresql(pg_api: Api, flow: Callable[[Api], Awaitable[None]]) -> None:
    await flow(pg_api)
