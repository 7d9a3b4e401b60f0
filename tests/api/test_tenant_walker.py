"""Tenant isolation, walked over every route of the app: organization 2's admin tries organization 1's objects,
by path, by query and by reference in a body, and no answer may stop short of the ownership check (a 422 or 503
would prove nothing).

Org 1 gets one of everything (agent, trunk with a password, route, contact, appointment, message, a call with a
turn, an event and a recording file, a live call on a running box, user, API key, webhook with a delivery,
knowledge document, an open chat, a calendar feed token). Then, with org 2's admin credentials:

- every route with path parameters is called with org 1's ids (each method, with a valid body where it takes
  one) and must answer 403, 404 or 405;
- every GET route without path parameters is called with org 1's ids and numbers in its query parameters;
- every body field naming an org-owned object (`agent_id`, `contact_id`, ...) is sent with org 1's id next to
  org 2's own objects and must answer 404;
- no answer may contain any of org 1's names, numbers, emails, secrets, spoken words or recording bytes;
- afterwards org 1's objects read back unchanged, and no live call was hung up or transferred.

The routes come from the app itself, so a new route is walked without editing this file. A path parameter,
required query parameter or id-naming body field the walker does not know fails the test with what to add.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from appliance.api.routers.chat import Conversation
from appliance.conversation.backoffice import DbBackoffice
from appliance.store.models import Call, CallEventRow, KnowledgeDocument, Recording, Turn, WebhookDelivery
from tests.api.conftest import PASSWORD, Api
from tests.api.test_calls import wav_bytes
from tests.fakes.live_box import LiveBox

V1 = "/api/v1"
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")

# Org 1's data that must never reach org 2.
AGENT_NAME = "Zebulon Reception"
TRUNK_NAME, TRUNK_USER, TRUNK_PASSWORD = "zebtrunk", "zebuser55", "walker-trunk-pass-5x9"
ROUTE_DID = "+4930555000111"
CONTACT_NAME, CONTACT_PHONE, CONTACT_EMAIL = "Wilhelmina Zeb", "+4930555000222", "wilhelmina@zeb.example"
APPOINTMENT_NAME, APPOINTMENT_PHONE = "Ophelia Appointment", "+4930555000333"
MESSAGE_NAME, MESSAGE_PHONE, MESSAGE_TEXT = "Quentin Messenger", "+4930555000444", "ring back about the zebra"
CALLER, CALLEE, SPOKEN = "+4930555000555", "+4930555000666", "the secret word is xylophone"
LIVE_CALLER = "+4930555000777"
USER_EMAIL, KEY_NAME = "zeb.user@first.example", "zeb-key"
HOOK_URL = "http://127.0.0.1:9/zeb-hook"
DOCUMENT_TITLE = "Zebra Handbook"

# Query parameters the walker fills in with org 1's values (ids come from the objects it makes).
QUERY_VALUES: dict[str, str] = {
    "phone": CALLER, "caller": CALLER, "q": "Wilhelmina", "actor": "owner@first.example",
    "token": "not-the-feed-token-0000",  # the feed's token is its credential: a wrong one must reveal nothing
}
# Box-level monitoring that answers 503 while the box is not ready (no models loaded here).
NOT_READY = {("GET", f"{V1}/ready")}
# GET routes that load the speech/LLM/embedding models (test_audio_knowledge_chat.py covers them, isolation too).
LOADS_MODELS = {("GET", f"{V1}/knowledge/search")}
# Bodies for routes with path parameters whose body has required fields ({} is sent otherwise).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", f"{V1}/calls/{{call_id}}/transfer"): {"target": "+4930999000"},
    ("POST", f"{V1}/chat/{{conversation_id}}"): {"text": "hello"},
    ("PATCH", f"{V1}/messages/{{message_id}}"): {"status": "done"},
}


@dataclass(frozen=True)
class Ref:
    """A body field naming an org-owned object: org 1's id in the case that tests it, org 2's in the others."""

    name: str


# Every route whose body names an org-owned object: a valid body of org 2's, whose top-level fields holding a
# `Ref` (anywhere inside) are swapped one at a time for org 1's ids. Path parameters are org 2's own objects.
TWILIO = {"account_sid": "AC" + "0" * 32, "auth_token": "org-two-twilio-token", "api_base_url": "http://127.0.0.1:9"}
BODY_REFERENCES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", f"{V1}/routes"): {"did_pattern": "+4940777000999", "agent_id": Ref("agent_id"),
                                "trunk_id": Ref("trunk_id")},
    ("PATCH", f"{V1}/routes/{{route_id}}"): {"agent_id": Ref("agent_id"), "trunk_id": Ref("trunk_id")},
    ("POST", f"{V1}/calls/outbound"): {"to": "+4940777000998", "agent_id": Ref("agent_id"),
                                        "trunk_id": Ref("trunk_id")},
    ("POST", f"{V1}/calendar/appointments"): {"agent_id": Ref("agent_id"), "contact_id": Ref("contact_id"),
                                               "starts_at": "2031-01-07T15:00:00", "name": "Org Two"},
    ("PATCH", f"{V1}/calendar/appointments/{{appointment_id}}"): {"contact_id": Ref("contact_id")},
    ("POST", f"{V1}/chat"): {"agent_id": Ref("agent_id")},
    ("POST", f"{V1}/gdpr/erase"): {"contact_id": Ref("contact_id")},
    ("POST", f"{V1}/twilio/calls"): {"to": "+4940777000997", "agent_id": Ref("agent_id")},
    ("PUT", f"{V1}/twilio/settings"): TWILIO | {"numbers": {"+4940777000996": Ref("agent_id")},
                                                "message_sms": {Ref("agent_id"): ["+4940777000995"]}},
}


def resolve(value: Any, ids: dict[str, Any]) -> Any:
    """`value` with every `Ref` (as a value or a key, at any depth) replaced by its id in `ids`."""
    if isinstance(value, Ref):
        return ids[value.name]
    if isinstance(value, dict):
        return {resolve(k, ids): resolve(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ids) for v in value]
    return value


def holds_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return any(holds_ref(k) or holds_ref(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_ref(v) for v in value)
    return isinstance(value, Ref)


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """(full path, route) of every HTTP route, including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI versions that include routers lazily
    except ImportError:
        return [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    return [(str(rc.path), rc.original_route) for rc in iter_route_contexts(app.routes)
            if isinstance(rc.original_route, APIRoute)]


def body_model(route: APIRoute) -> type[BaseModel] | str | None:
    """The route's JSON body model; None without a body; a string naming any other kind of body."""
    params = route.dependant.body_params
    if not params:
        return None
    annotation = params[0].field_info.annotation
    if len(params) == 1 and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return f"a non-JSON body ({', '.join(p.name for p in params)})"


def fill(path: str, values: dict[str, Any]) -> str:
    return PATH_PARAM.sub(lambda m: quote(str(values[m.group(1)]), safe=""), path)


def readable(response: httpx.Response) -> str:
    """The body as text; a zip's members unpacked (a GDPR export is one)."""
    if response.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(response.content)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return response.content.decode("utf-8", "replace")


@dataclass
class World:
    org1: dict[str, Any] = field(default_factory=dict)  # param name -> id
    org2: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    recording: bytes = b""
    box: LiveBox = field(default_factory=LiveBox)


async def made(api: Api, headers: dict[str, str], url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.client.post(url, headers=headers, json=body)
    assert r.status_code == 201, f"{url}: {r.status_code} {r.text}"
    out: dict[str, Any] = r.json()
    return out


async def build_org1(api: Api, world: World) -> None:
    h, ids = api.org1.headers, world.org1
    ids["agent_id"] = (await made(api, h, f"{V1}/agents", {"name": AGENT_NAME, "greeting": "Zebra greeting"}))["id"]
    ids["trunk_id"] = (await made(api, h, f"{V1}/trunks", {
        "name": TRUNK_NAME, "host": "sip.zeb.example", "username": TRUNK_USER, "password": TRUNK_PASSWORD}))["id"]
    ids["route_id"] = (await made(api, h, f"{V1}/routes", {
        "did_pattern": ROUTE_DID, "agent_id": ids["agent_id"], "trunk_id": ids["trunk_id"]}))["id"]
    ids["contact_id"] = (await made(api, h, f"{V1}/contacts", {
        "name": CONTACT_NAME, "phone": CONTACT_PHONE, "email": CONTACT_EMAIL, "notes": "zebra notes"}))["id"]
    ids["appointment_id"] = (await made(api, h, f"{V1}/calendar/appointments", {
        "agent_id": ids["agent_id"], "contact_id": ids["contact_id"], "starts_at": "2031-01-07T10:00:00",
        "name": APPOINTMENT_NAME, "phone": APPOINTMENT_PHONE}))["id"]
    ids["user_id"] = (await made(api, h, f"{V1}/users", {"email": USER_EMAIL, "password": PASSWORD,
                                                          "role": "editor"}))["id"]
    key = await made(api, h, f"{V1}/api-keys", {"name": KEY_NAME})
    ids["key_id"] = key["id"]
    hook = await made(api, h, f"{V1}/webhooks", {"url": HOOK_URL, "events": ["call.ended"], "enabled": False})
    ids["webhook_id"] = hook["id"]
    feed = await made(api, h, f"{V1}/calendar/agents/{ids['agent_id']}/feed-token", {})
    ids["message_id"] = int(await DbBackoffice(api.db, api.org1.id, agent_id=ids["agent_id"]).create_message(
        name=MESSAGE_NAME, phone=MESSAGE_PHONE, text=MESSAGE_TEXT, call_id=""))

    day = api.settings.paths.recordings / "2031-01-06"
    day.mkdir(parents=True, exist_ok=True)
    world.recording = wav_bytes(0.2)
    with api.db.session() as s:
        call = Call(organization_id=api.org1.id, agent_id=ids["agent_id"], trunk_id=ids["trunk_id"], caller=CALLER,
                    callee=CALLEE, status="ended", end_reason="caller_hangup", summary="zebra summary",
                    started_at=dt.datetime(2031, 1, 6, 9, 0))
        s.add(call)
        s.flush()
        ids["call_id"] = call.id
        (day / f"{call.id}.wav").write_bytes(world.recording)
        s.add(Turn(organization_id=api.org1.id, call_id=call.id, index=0, user_text=SPOKEN,
                   agent_text="zebra reply", played_text="zebra reply", latency={"v2v_ms": 700.0}))
        s.add(CallEventRow(organization_id=api.org1.id, call_id=call.id, type="CallStarted", ts=1.0,
                           payload={"caller": CALLER}))
        recording = Recording(organization_id=api.org1.id, call_id=call.id, path=str(day / f"{call.id}.wav"))
        document = KnowledgeDocument(organization_id=api.org1.id, title=DOCUMENT_TITLE, filename="zebra-book.txt")
        delivery = WebhookDelivery(organization_id=api.org1.id, webhook_id=ids["webhook_id"], event="call.ended",
                                   payload={"caller": CALLER}, status="failed", last_error="zebra error")
        s.add_all([recording, document, delivery])
        s.flush()
        ids["recording_id"], ids["document_id"], ids["delivery_id"] = recording.id, document.id, delivery.id

    world.box.add_call(api.org1.id, "live-zebra-call", caller=LIVE_CALLER, callee=ROUTE_DID)
    world.box.registrations[TRUNK_NAME] = (True, 200, "OK")  # the box registers org 1's trunk (/ready needs no login)
    api.app.state.appliance = world.box
    ids["conversation_id"] = "chat-zebra-org1"
    api.app.state.chats[ids["conversation_id"]] = Conversation(id=ids["conversation_id"], org_id=api.org1.id)
    world.secrets += [key["secret"], key["prefix"], hook["secret"], feed["token"], AGENT_NAME, "Zebra greeting",
                      TRUNK_NAME, TRUNK_USER, TRUNK_PASSWORD, ROUTE_DID, CONTACT_NAME, CONTACT_PHONE, CONTACT_EMAIL,
                      "zebra notes", APPOINTMENT_NAME, APPOINTMENT_PHONE, MESSAGE_NAME, MESSAGE_PHONE, MESSAGE_TEXT,
                      CALLER, CALLEE, SPOKEN, "zebra reply", "zebra summary", LIVE_CALLER, "live-zebra-call",
                      USER_EMAIL, KEY_NAME, HOOK_URL, "zebra error", DOCUMENT_TITLE, "zebra-book", "First Org",
                      "owner@first.example", ids["call_id"]]


async def build_org2(api: Api, world: World) -> None:
    """Org 2's own objects, for the body-reference cases (path objects and the unswapped references)."""
    h, ids = api.org2.headers, world.org2
    ids["agent_id"] = (await made(api, h, f"{V1}/agents", {"name": "Org Two Desk"}))["id"]
    ids["trunk_id"] = (await made(api, h, f"{V1}/trunks", {"name": "orgtwotrunk", "kind": "ip",
                                                           "allowed_cidrs": ["192.0.2.0/24"]}))["id"]
    ids["route_id"] = (await made(api, h, f"{V1}/routes", {"did_pattern": "+4940777000",
                                                           "agent_id": ids["agent_id"]}))["id"]
    ids["contact_id"] = (await made(api, h, f"{V1}/contacts", {"name": "Org Two Contact"}))["id"]
    ids["appointment_id"] = (await made(api, h, f"{V1}/calendar/appointments", {
        "agent_id": ids["agent_id"], "starts_at": "2031-01-08T10:00:00", "name": "Org Two Booking"}))["id"]
    if any(path == f"{V1}/twilio/settings" for path, _ in api_routes(api.app)):  # a Twilio account to call from
        r = await api.client.put(f"{V1}/twilio/settings", headers=h, json=TWILIO | {
            "numbers": {"+4940777000990": ids["agent_id"]}})
        assert r.status_code == 200, r.text


@dataclass
class Walker:
    api: Api
    world: World
    failures: list[str] = field(default_factory=list)
    walked: set[tuple[str, str]] = field(default_factory=set)

    async def send(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                   body: dict[str, Any] | None = None, expect: set[int] | None = None, hint: str = "") -> None:
        what = f"{method} {url}" + (f" ?{params}" if params else "") + (f" {json.dumps(body)}" if body else "")
        try:
            r = await self.api.client.request(method, url, headers=self.api.org2.headers, params=params, json=body)
        except Exception as exc:  # the ASGI transport re-raises what the app did not handle (a 500)
            self.failures.append(f"{what}: the app raised {exc!r}")
            return
        if expect is not None and r.status_code not in expect:
            why = hint if r.status_code == 422 else ""
            self.failures.append(f"{what}: {r.status_code}, wanted one of {sorted(expect)}{why}: {r.text[:300]}")
        elif r.status_code >= 500 and not (r.status_code == 503 and (method, url) in NOT_READY):
            self.failures.append(f"{what}: server error {r.status_code}: {r.text[:300]}")
        text = readable(r).lower()
        leaked = [s for s in self.world.secrets if s not in what and s.lower() in text]
        if leaked or self.world.recording[100:400] in r.content:
            self.failures.append(f"{what}: org 2 sees org 1's {leaked or 'recording'}: {text[:300]}")

    def query(self, route: APIRoute, *, only_required: bool) -> dict[str, Any] | None:
        params: dict[str, Any] = {}
        for p in route.dependant.query_params:
            value = self.world.org1.get(p.name, QUERY_VALUES.get(p.name))
            if value is not None and not only_required:
                params[p.alias] = value
            elif p.field_info.is_required():
                if value is None:
                    self.failures.append(f"{route.path} requires query parameter {p.alias!r}: add a value for it "
                                         f"to QUERY_VALUES")
                    return None
                params[p.alias] = value
        return params

    async def by_path(self, path: str, route: APIRoute) -> None:
        unknown = [n for n in PATH_PARAM.findall(path) if n not in self.world.org1]
        if unknown:
            self.failures.append(f"{path} has path parameter(s) {unknown}: make an org-1 object for each in "
                                 f"build_org1() and store its id under that name")
            return
        params = self.query(route, only_required=False)
        if params is None:
            return
        model = body_model(route)
        for method in sorted(route.methods or ()):
            body: dict[str, Any] | None = None
            if isinstance(model, str):
                self.failures.append(f"{method} {path} takes {model}: teach the walker to send it")
                continue
            if model is not None:
                body = BODIES.get((method, path), {})
                try:
                    model.model_validate(body)
                except ValidationError as exc:
                    self.failures.append(f"{method} {path}: add a valid body to BODIES ({exc.errors()[0]['msg']})")
                    continue
            self.walked.add((method, path))
            await self.send(method, fill(path, self.world.org1), params=params, body=body, expect={403, 404, 405},
                            hint=" (it stopped before the ownership check: fix its body in BODIES)")

    async def by_query(self, path: str, route: APIRoute) -> None:
        """A GET without path parameters: with each known query parameter alone, then with all of them."""
        if "GET" not in (route.methods or ()) or ("GET", path) in LOADS_MODELS:
            return
        base, full = self.query(route, only_required=True), self.query(route, only_required=False)
        if base is None or full is None:
            return
        self.walked.add(("GET", path))
        variants = [base] + [base | {k: v} for k, v in full.items() if k not in base] + [full]
        for params in {json.dumps(v, sort_keys=True): v for v in variants}.values():
            await self.send("GET", path, params=params)

    async def by_reference(self, routes: list[tuple[str, APIRoute]]) -> None:
        for path, route in routes:
            model = body_model(route)
            if not isinstance(model, type):
                continue
            naming = sorted(set(model.model_fields) & set(self.world.org1))
            for method in sorted(route.methods or ()):
                template = BODY_REFERENCES.get((method, path))
                if template is None:
                    if naming:
                        self.failures.append(f"{method} {path}: its body names {naming}: add it to BODY_REFERENCES")
                    continue
                refs = [k for k, v in template.items() if holds_ref(v)]
                if missing := sorted(set(naming) - set(refs)):
                    self.failures.append(f"{method} {path}: BODY_REFERENCES lacks Ref fields {missing}")
                for swapped in refs:
                    body = {k: resolve(v, self.world.org1 if k == swapped else self.world.org2)
                            for k, v in template.items()}
                    self.walked.add((method, path))
                    await self.send(method, fill(path, self.world.org2), body=body, expect={404},
                                    hint=f" (it stopped before looking up org 1's {swapped}: fix the body)")


async def snapshot(api: Api, ids: dict[str, Any]) -> dict[str, Any]:
    """Org 1's objects as org 1 reads them."""
    urls = [f"{V1}/agents/{ids['agent_id']}", f"{V1}/trunks/{ids['trunk_id']}", f"{V1}/routes/{ids['route_id']}",
            f"{V1}/contacts/{ids['contact_id']}", f"{V1}/calendar/appointments/{ids['appointment_id']}",
            f"{V1}/messages/{ids['message_id']}", f"{V1}/calls/{ids['call_id']}", f"{V1}/users/{ids['user_id']}",
            f"{V1}/webhooks/{ids['webhook_id']}", f"{V1}/api-keys", f"{V1}/knowledge", f"{V1}/calls/live",
            f"{V1}/webhooks/{ids['webhook_id']}/deliveries/{ids['delivery_id']}"]
    out: dict[str, Any] = {}
    for url in urls:
        r = await api.client.get(url, headers=api.org1.headers)
        out[url] = (r.status_code, r.json())
    r = await api.client.get(f"{V1}/calls/{ids['call_id']}/recording", headers=api.org1.headers)
    out["recording"] = (r.status_code, r.content)
    return out


async def test_org2_reaches_nothing_of_org1_by_path_query_or_reference(api: Api) -> None:
    world = World()
    await build_org1(api, world)
    await build_org2(api, world)
    before = await snapshot(api, world.org1)
    assert all(status == 200 for status, _ in before.values()), before
    assert before[f"{V1}/calls/live"][1][0]["caller"] == LIVE_CALLER  # the control: org 1 sees its own

    routes = api_routes(api.app)
    advertised = {(m.upper(), p) for p, ops in api.app.openapi()["paths"].items() for m in ops}
    assert advertised == {(m, p) for p, r in routes if r.include_in_schema for m in r.methods or ()}, \
        "the walker's route list and the OpenAPI schema disagree"
    walker = Walker(api, world)
    for path, route in routes:
        await (walker.by_path(path, route) if PATH_PARAM.search(path) else walker.by_query(path, route))
    await walker.by_reference(routes)

    assert not walker.failures, "\n".join(walker.failures)
    assert len([p for _, p in walker.walked if PATH_PARAM.search(p)]) >= 40, walker.walked
    assert world.box.hung_up == [] and world.box.transferred == []
    assert await snapshot(api, world.org1) == before


async def test_system_info_counts_only_the_callers_live_calls(api: Api) -> None:
    box = LiveBox()
    box.add_call(api.org1.id, "one", caller="+491", callee="+492")
    box.add_call(api.org1.id, "two", caller="+493", callee="+492")
    box.add_call(api.org2.id, "three", caller="+494", callee="+495")
    api.app.state.appliance = box
    for org, count in ((api.org1, 2), (api.org2, 1)):
        r = await api.client.get(f"{V1}/admin/system", headers=org.headers)
        assert r.status_code == 200, r.text
        assert r.json()["live_calls"] == count and r.json()["database"].startswith("sqlite")
