"""`vocaliq serve`: SIP, the HTTP API and the call sessions in one process and one asyncio loop.

This is the only place that joins SIP to the rest of the box: `sip/` turns INVITEs into `SipCallLeg`s and
knows nothing of agents or the DB; here a call is routed (DID -> route -> agent), run by the conversation
engine, and its recording referenced in the DB. SIGTERM stops taking calls, lets running calls finish for
`[server] drain_seconds`, then hangs up the rest and flushes recordings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from appliance.agents import AgentConfig
from appliance.config import Settings
from appliance.conversation import run_call
from appliance.logs import call_context
from appliance.metrics import SIP_REGISTRATION, CallMetrics
from sip.endpoint import PJSUA_MAX_CALLS, EndpointConfig
from sip.leg import SipCallLeg
from sip.security import SourceFilter
from sip.trunks import Trunk, TrunkTable
from sip.ua import Accept, Gates, IncomingCall, Reject, SipUserAgent

log = logging.getLogger(__name__)


def endpoint_config(settings: Settings) -> EndpointConfig:
    sip = settings.sip
    return EndpointConfig(
        host=sip.host, port=sip.port, transports=tuple(sip.transports), tls_port=sip.tls_port,
        tls_cert_file=sip.tls_cert_file, tls_key_file=sip.tls_key_file, tls_ca_file=sip.tls_ca_file,
        tls_verify_server=sip.tls_verify_server, srtp=sip.srtp, public_address=sip.public_address,
        rtp_port_start=sip.rtp_port_start, rtp_port_range=sip.rtp_port_range, max_calls=sip.max_calls,
        codecs=tuple(sip.codecs), ptime_ms=sip.ptime_ms,
        log_level=4 if settings.logging.level == "DEBUG" else 1)


def gates(settings: Settings, trunks: list[Trunk]) -> Gates:
    return Gates(trunks=TrunkTable(trunks, extra_trusted=list(settings.sip.trusted_cidrs)),
                 source_filter=SourceFilter.from_settings(settings.sip),
                 max_calls=min(settings.admission.max_concurrent_calls, settings.sip.max_calls, PJSUA_MAX_CALLS),
                 reject_status=settings.admission.reject_status)


class Appliance:
    """The running box. `async with Appliance(settings) as box: await box.wait()`."""

    def __init__(self, settings: Settings, *, local: Any = None) -> None:
        self.settings = settings
        self.local: Any = local  # appliance.conversation.services.LocalServices; opened from settings if None
        self.ua: SipUserAgent | None = None
        self.api_task: asyncio.Task[None] | None = None
        self.api_server: Any = None
        self.api_port = 0
        self.call_observers: list[Callable[[SipCallLeg, AgentConfig], None]] = []
        self.registrations: dict[str, tuple[bool, int, str]] = {}  # trunk -> (registered, status, reason)
        self.call_orgs: dict[str, int | None] = {}  # live call -> its agent's organization (API tenancy)
        self._stack = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()

    async def __aenter__(self) -> Appliance:
        try:
            await self._start()
        except BaseException:
            await self.__aexit__(None, None, None)  # whatever started (SIP endpoint, models) is torn down
            raise
        return self

    async def _start(self) -> None:
        from appliance.conversation.services import local_services

        self.settings.paths.ensure()
        if self.local is None:  # the registry's models, or the embedded defaults when it is not installed
            self.local = await self._stack.enter_async_context(local_services(self.settings))
        self._stack.callback(self.local.services.bus.subscribe(CallMetrics().on_event))
        if self.settings.sip.enabled:
            trunks = load_trunks(self.local.services.db, self.settings)
            self.ua = SipUserAgent(endpoint_config(self.settings), on_incoming=self.on_incoming,
                                   gates=gates(self.settings, trunks), trunks=trunks,
                                   recordings_dir=self.settings.paths.recordings)
            self.ua.on_registration = self._on_registration
            await self.ua.start()
        await self._start_api()

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
        await self._stack.aclose()

    @property
    def sip_port(self) -> int:
        return self.ua.port if self.ua is not None else 0

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def shutdown(self) -> None:
        if self.ua is not None:
            await self.ua.stop(drain_seconds=self.settings.server.drain_seconds)
            self.ua = None
        if self.api_server is not None:
            self.api_server.should_exit = True
        if self.api_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.api_task, 10)
            self.api_task = None

    # --- SIP -> sessions -------------------------------------------------------------------------
    async def on_incoming(self, call: IncomingCall) -> Accept | Reject:
        agent = route_agent(self.local, call, self.settings)
        if agent is None:
            return Reject(404, "no route")

        async def handle(leg: SipCallLeg) -> None:
            self.call_orgs[leg.call_id] = agent.organization_id
            for observer in self.call_observers:
                observer(leg, agent)
            try:
                with call_context(leg.call_id):
                    outcome = await run_call(leg, services=self.local.services, agent=agent, transport="sip")
                    log.info("call ended", extra={"call_id": leg.call_id, "reason": str(outcome.reason)})
            finally:
                self.call_orgs.pop(leg.call_id, None)
            if leg.recording is not None:  # a DB write (and a file hash): off the loop the calls and API share
                await asyncio.to_thread(reference_recording, self.local.services.db, leg.call_id,
                                        leg.recording.path)

        return Accept(handle, record=self.settings.recording.enabled and agent.recording_enabled)

    def _on_registration(self, trunk: str, registered: bool, status: int, reason: str) -> None:
        """Trunk registration state (logged; PJSIP retries failures with backoff on its own)."""
        self.registrations[trunk] = (registered, status, reason)
        SIP_REGISTRATION.labels(trunk).set(1 if registered else 0)
        level = logging.INFO if registered else logging.WARNING
        log.log(level, "trunk registration", extra={"trunk": trunk, "registered": registered, "status": status,
                                                    "reason": reason})

    # --- live call control (for the API: `request.app.state.appliance`) ----------------------------------
    def live_calls(self, org_id: int | None = None) -> list[dict[str, Any]]:
        """Calls in progress (of one organization when `org_id` is given): id, direction, numbers, SIP Call-ID."""
        if self.ua is None:
            return []
        return [{"call_id": leg.call_id, "organization_id": self.call_orgs.get(leg.call_id),
                 "direction": str(leg.direction), "caller": leg.caller, "callee": leg.callee,
                 "sip_call_id": leg.sip_call_id, "answered": leg.answered.done()}
                for leg in self.ua.legs.values()
                if not leg.ended.is_set() and (org_id is None or self.call_orgs.get(leg.call_id) == org_id)]

    def org_of(self, call_id: str) -> int | None:
        return self.call_orgs.get(call_id)

    def _leg(self, call_id: str, org_id: int | None = None) -> SipCallLeg:
        leg = self.ua.legs.get(call_id) if self.ua is not None else None
        if leg is None or leg.ended.is_set() or (org_id is not None and self.call_orgs.get(call_id) != org_id):
            from appliance.errors import NotFound

            raise NotFound(f"no live call {call_id}")
        return leg

    async def hangup(self, call_id: str, org_id: int | None = None) -> None:
        """Hang up a live call (the session sees the leg end and finishes the call row)."""
        from appliance.telephony import HangupReason

        await self._leg(call_id, org_id).hangup(HangupReason.AGENT_HANGUP)

    async def transfer(self, call_id: str, target: str, org_id: int | None = None) -> dict[str, Any]:
        """Blind-transfer a live call; returns the REFER outcome."""
        result = await self._leg(call_id, org_id).transfer(target)
        return {"target": result.target, "ok": result.ok, "status": result.status, "detail": result.detail}

    # --- API ---------------------------------------------------------------------------------------
    async def _start_api(self) -> None:
        import socket

        import uvicorn

        from appliance.api import create_app
        from appliance.errors import ConfigError

        host, port = self.settings.server.host, self.settings.server.api_port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))  # bound here so a busy port is our clear error, not uvicorn's sys.exit
        except OSError as exc:
            sock.close()
            raise ConfigError(f"API port {host}:{port} is not available ({exc.strerror}); set [server] api_port "
                              "or --api-port") from None
        self.api_port = sock.getsockname()[1]
        api = create_app(self.settings, db=self.local.services.db)
        api.state.appliance = self  # live calls, hangup/transfer, SIP registrations for the API
        config = uvicorn.Config(api, log_level="warning", lifespan="on")
        self.api_server = uvicorn.Server(config)
        self.api_server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # we own SIGTERM
        self.api_task = asyncio.create_task(self.api_server.serve(sockets=[sock]))


async def embedded_services(settings: Settings) -> Any:
    """The embedded default models straight from their packages (appliance.demo_models), the default
    Reception agent, no DB: what a box without the model manager can still run."""
    from appliance.agents import default_reception_agent
    from appliance.conversation import CallServices
    from appliance.conversation.services import LocalServices
    from appliance.demo_models import load_embedded

    settings.paths.ensure()
    models = await asyncio.to_thread(load_embedded, settings.paths.models)
    return LocalServices(CallServices(models=models), AgentConfig.from_mapping(default_reception_agent()))


def route_agent(local: Any, call: IncomingCall, settings: Settings) -> AgentConfig | None:
    """DID -> route -> agent from the DB when it has routes; else the default agent (or None per no_route)."""
    db = local.services.db
    if db is not None:
        try:
            from appliance.conversation.backoffice import load_agent
            from appliance.store.routing import agent_for_number  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            pass
        else:
            name = agent_for_number(db, call.dialled)
            if name:
                agent, _ = load_agent(db, name)
                return agent  # type: ignore[no-any-return]
    if settings.sip.no_route == "reject" and db is not None:
        return None
    return local.agent  # type: ignore[no-any-return]


def load_trunks(db: Any, settings: Settings) -> list[Trunk]:
    """Trunk rows from the DB (passwords from the secrets dir); none without a DB."""
    if db is None:
        return []
    try:
        from appliance.store.routing import sip_trunks  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return []
    return [Trunk(**row) for row in sip_trunks(db, settings)]


def reference_recording(db: Any, call_id: str, path: Path) -> None:
    if db is None:
        return
    try:
        from appliance.store.routing import add_recording  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    add_recording(db, call_id, path)


@contextlib.asynccontextmanager
async def serving(settings: Settings, *, local: Any = None) -> AsyncIterator[Appliance]:
    """Run the appliance; SIGTERM/SIGINT make `box.wait()` return, leaving the block drains and stops."""
    loop = asyncio.get_running_loop()
    async with Appliance(settings, local=local) as box:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, box.request_stop)
        try:
            yield box
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


async def place_outbound(settings: Settings, *, to: str, agent_name: str, trunk: str = "") -> dict[str, Any]:
    """`vocaliq call-out`: call `to` through `trunk` with answering-machine detection, then run the agent.

    A machine gets the agent's `voicemail_message` (when it has one) or a hang-up; a person gets the agent.
    """
    from appliance.conversation.services import local_services
    from appliance.telephony import HangupReason
    from sip.amd import AmdResult, AnsweringMachineDetector

    settings.sip.port = 0  # never clash with a running `vocaliq serve` on this box
    async with local_services(settings, agent_name=agent_name) as local:
        trunks = load_trunks(local.services.db, settings)
        chosen = next((t for t in trunks if t.name == trunk), None) if trunk else None
        if trunk and chosen is None:
            from appliance.errors import NotFound

            raise NotFound(f"no trunk named {trunk!r}")
        uri = to if to.startswith(("sip:", "sips:")) else \
            f"sip:{to}@{chosen.registrar_host if chosen is not None else '127.0.0.1'}"
        async with SipUserAgent(endpoint_config(settings), trunks=trunks,
                                recordings_dir=settings.paths.recordings) as ua:
            leg = await ua.call(uri, trunk=trunk if chosen is not None and chosen.registers else "")
            amd = await AnsweringMachineDetector().detect(leg.frames())
            result: dict[str, Any] = {"to": to, "call_id": leg.call_id, "amd": str(amd)}
            if amd is AmdResult.MACHINE:
                message = getattr(local.agent, "voicemail_message", "")
                if message and local.services.models is not None:
                    async for frame in local.services.models.tts.synthesize(message):
                        await leg.send(frame)
                    leg.mark("voicemail")
                    async for event in leg.events():
                        if getattr(event, "name", "") == "voicemail":
                            break
                await leg.hangup(HangupReason.MACHINE_DETECTED)
                result["outcome"] = "machine: message left" if message else "machine: hung up"
                return result
            outcome = await run_call(leg, services=local.services, agent=local.agent, transport="sip")
            result["outcome"] = str(outcome.reason)
            return result
