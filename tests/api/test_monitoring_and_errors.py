"""Monitoring routes and the error contract: /health, /ready, /metrics (who may read it, what it counts), and
problem+json for every kind of failure without the database's or Python's own words reaching the client."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import HTTPException
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy.exc import IntegrityError, OperationalError

from appliance.api.ratelimit import RedisLimiter
from appliance.errors import NotFound, StorageError
from tests.api.conftest import Api

V1 = "/api/v1"


@asynccontextmanager
async def client_from(api: Api, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from `address` (the fixture's own client is 127.0.0.1)."""
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://vocaliq.test") as client:
        yield client


async def test_health_and_ready_answer_without_login(api: Api) -> None:
    assert (await api.client.get(f"{V1}/health")).json() == {"status": "ok"}
    ready = await api.client.get(f"{V1}/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"]["ok"] is True


async def test_metrics_count_requests_by_route_template_not_by_id(api: Api) -> None:
    await api.client.get(f"{V1}/users/424242", headers=api.org1.headers)
    await api.client.request("BREW", f"{V1}/users/424242", headers=api.org1.headers)
    text = (await api.client.get(f"{V1}/metrics")).text
    assert 'route="/api/v1/users/{user_id}",status="404"' in text
    assert 'method="other",route="/api/v1/users/{user_id}"' in text  # made-up methods share one label
    assert "424242" not in text and "BREW" not in text
    assert "vocaliq_active_calls" in text or "vocaliq_stage_latency_seconds" in text


async def test_metrics_from_elsewhere_need_the_superadmins_credential(api: Api) -> None:
    org2_key = (await api.client.post(f"{V1}/api-keys", headers=api.org2.headers, json={"name": "scrape"})).json()
    super_key = (await api.client.post(f"{V1}/api-keys", headers=api.org1.headers,
                                       json={"name": "prometheus", "scopes": ["system:read"]})).json()
    async with client_from(api, "203.0.113.9") as remote:
        assert (await remote.get(f"{V1}/metrics")).status_code == 401
        assert (await remote.get(f"{V1}/metrics", headers=api.org2.headers)).status_code == 403
        assert (await remote.get(f"{V1}/metrics", headers={"X-API-Key": org2_key["secret"]})).status_code == 403
        scraped = await remote.get(f"{V1}/metrics", headers={"Authorization": f"Bearer {super_key['secret']}"})
        assert scraped.status_code == 200 and "vocaliq_http_request_duration_seconds" in scraped.text
    api.settings.security.metrics_allowed_cidrs = ["203.0.113.0/24"]
    async with client_from(api, "203.0.113.9") as listed:
        assert (await listed.get(f"{V1}/metrics")).status_code == 200


async def test_every_error_is_problem_json_and_internals_stay_in_the_log(api: Api) -> None:
    def raiser(exc: Exception) -> Callable[[], None]:
        def endpoint() -> None:
            raise exc
        return endpoint

    failures: dict[str, Exception] = {
        "missing": NotFound("agent 7 not found"),
        "http": HTTPException(418, "short and stout"),
        "duplicate": StorageError("database error: IntegrityError: UNIQUE constraint failed: agents.secret_col"),
        "down": StorageError("database error: OperationalError: unable to open /var/lib/vocaliq/vocaliq.db"),
        "bug": KeyError("internal_dict_key_xyz"),
    }
    failures["duplicate"].__cause__ = IntegrityError("INSERT INTO agents", {}, Exception("secret_col"))
    failures["down"].__cause__ = OperationalError("SELECT", {}, Exception("unable to open"))
    for name, exc in failures.items():
        api.app.add_api_route(f"/test-errors/{name}", raiser(exc))
    expected = {"missing": (404, "agent 7 not found"), "http": (418, "short and stout"),
                "duplicate": (409, None), "down": (503, None), "bug": (500, "internal error")}
    async with client_from(api, "127.0.0.1") as client:
        for name, (status, detail) in expected.items():
            r = await client.get(f"/test-errors/{name}")
            assert r.status_code == status, (name, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert set(body) >= {"type", "title", "status", "detail"} and body["status"] == status
            if detail is not None:
                assert body["detail"] == detail
            for secret in ("secret_col", "/var/lib", "internal_dict_key_xyz", "Traceback", "sqlite"):
                assert secret not in r.text, (name, r.text)
    invalid = await api.client.post(f"{V1}/auth/login", json={"email": 5})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["loc"][-1] == "email"
    assert invalid.headers["content-type"] == "application/problem+json"
    unknown = await api.client.get(f"{V1}/no-such-route")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


def test_rate_limits_survive_redis_going_away() -> None:
    limiter = RedisLimiter("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    verdicts = [limiter.hit("user:1", 2) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]  # counted in memory meanwhile
    assert 1 <= verdicts[-1].retry_after <= 60


def test_the_metrics_registry_knows_the_shared_metrics() -> None:
    text = generate_latest().decode()
    for name in ("vocaliq_http_request_duration_seconds", "vocaliq_calls_total", "vocaliq_model_failovers_total",
                 "vocaliq_sip_registration_up", "vocaliq_stage_latency_seconds"):
        assert f"# HELP {name}" in text


def test_the_grafana_dashboard_queries_only_metrics_the_box_exports() -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana/vocaliq-dashboard.json").read_text())
    exported = {m.name for m in REGISTRY.collect()}
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bvocaliq_\w+", target["expr"])}
    missing = {n for n in used if re.sub(r"_(bucket|count|sum|total)$", "", n) not in exported}
    assert used and not missing, missing
