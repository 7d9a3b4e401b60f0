"""A request's transaction is committed before its answer leaves: a client told 201 can read what it made from
any other connection at once, and a commit that fails is the request's error, not a lost write after a 201."""

from __future__ import annotations

import json
from typing import Any

from fastapi.dependencies.models import Dependant
from sqlalchemy import func, select

from appliance.api.deps import get_session
from appliance.store.models import Contact
from tests.api.conftest import Api
from tests.api.test_tenant_walker import api_routes


async def test_the_write_is_committed_when_the_answer_is_sent(api: Api) -> None:
    body = json.dumps({"name": "Committed Before Reply", "phone": "+4930111222"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in api.org1.headers.items()]
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/v1/contacts", "raw_path": b"/api/v1/contacts", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 50000), "server": ("vocaliq.test", 80), "state": {},
    }
    sent: list[dict[str, Any]] = []
    seen_at_reply: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.start":
            with api.db.session() as other:  # another connection, as a second client would use
                seen_at_reply.append(other.scalar(select(func.count()).select_from(Contact).where(
                    Contact.name == "Committed Before Reply")) or 0)

    await api.app(scope, receive, send)
    assert sent[0]["status"] == 201
    assert seen_at_reply == [1]


def test_every_route_shares_one_function_scoped_session(api: Api) -> None:
    """`Depends(get_session)` must say `scope="function"` everywhere (use `deps.DbSession`): a request-scoped one
    commits after the answer is sent, and a mix gives one request two transactions."""
    wrong: list[str] = []

    def walk(where: str, d: Dependant) -> None:
        for sub in d.dependencies:
            if sub.call is get_session and sub.scope != "function":
                wrong.append(f"{where} (in {getattr(d.call, '__name__', d.call)})")
            walk(where, sub)

    for path, route in api_routes(api.app):
        walk(f"{sorted(route.methods or ())} {path}", route.dependant)
    assert not wrong, "request-scoped DB sessions:\n" + "\n".join(wrong)
