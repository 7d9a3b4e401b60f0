"""`SipUserAgent`: trunks, admission and security for incoming INVITEs, outbound calls, orderly shutdown.

Flow of an inbound call: `onIncomingCall` (PJSIP thread) runs the synchronous gates — source filter (ACL,
flood, scanner, size) and admission (over capacity: 503/486 at once) — then rings (180) and hands the call to
the asyncio loop, where `on_incoming(IncomingCall)` (routing, DB lookups) returns `Accept(handler)` or
`Reject(status)`. Accepted calls are answered and `handler(leg)` runs as a task until the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pjsua2 as pj

from appliance.errors import SipError
from appliance.logs import mask_number
from appliance.telephony import Direction, HangupReason
from sip.call import SipAccount, SipCall
from sip.endpoint import CLOCK_RATE, EndpointConfig, SipEndpoint
from sip.inbound import Accept, Gates, IncomingCall, IncomingHandler, Reject
from sip.leg import SipCallLeg
from sip.recording import RecordingWriter
from sip.sipmsg import headers, source_ip, uri_user
from sip.trunks import Trunk, dialled_number

log = logging.getLogger(__name__)

__all__ = ["Accept", "Gates", "IncomingCall", "Reject", "SipUserAgent"]


class SipUserAgent:
    """The box's SIP side (see module docstring). Use `async with` or start()/stop()."""

    def __init__(self, config: EndpointConfig, *, on_incoming: IncomingHandler | None = None,
                 gates: Gates | None = None, trunks: list[Trunk] | None = None,
                 recordings_dir: Path | None = None) -> None:
        self.config = config
        self.endpoint = SipEndpoint(config)
        self.on_incoming = on_incoming
        self.gates = gates or Gates()
        self.trunks = trunks or []
        self.recordings_dir = recordings_dir
        self.recorder: RecordingWriter | None = None
        self.accepting = True
        self.rejected: dict[int, int] = {}  # status -> count, for metrics and tests
        self.legs: dict[str, SipCallLeg] = {}
        self._calls: dict[str, SipCall] = {}  # SIP Call-ID -> call; PJSIP thread only
        self._accounts: dict[str, SipAccount] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_registration: Callable[[str, bool, int, str], None] | None = None
        self.follow_transfers = False  # softphone behaviour; the appliance refuses REFERs (603)
        self.transfers_followed: list[str] = []

    # --- lifecycle (loop thread) ------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.recordings_dir is not None:
            self.recorder = RecordingWriter()
        self.endpoint.before_destroy.append(self._pj_teardown)
        await asyncio.to_thread(self.endpoint.start)
        await self.endpoint.run(self._pj_create_accounts)
        log.info("sip listening", extra={"ports": dict(self.config.bound)})

    async def stop(self, drain_seconds: float = 0.0) -> None:
        """Stop accepting, let calls finish for up to `drain_seconds`, then hang up the rest and tear down."""
        self.accepting = False
        if drain_seconds > 0 and self.legs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_ended(), drain_seconds)
        for leg in list(self.legs.values()):
            await leg.hangup(HangupReason.SHUTDOWN)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.endpoint.stop)
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)

    async def __aenter__(self) -> SipUserAgent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _all_ended(self) -> None:
        while self.legs:  # noqa: ASYNC110 - legs leave from several places; polling is simplest
            await asyncio.sleep(0.1)

    @property
    def port(self) -> int:
        return self.config.bound.get("udp") or self.config.bound.get("tcp") or self.config.port

    def registration(self, trunk: str) -> tuple[bool, int, str]:
        acc = self._accounts.get(trunk)
        return (acc.registered, acc.reg_status, acc.reg_reason) if acc else (False, 0, "no such trunk")

    # --- outbound (loop thread) ----------------------------------------------------------------------
    async def call(self, uri: str, *, trunk: str = "", answer_within: float = 30.0,
                   record_path: Path | None = None) -> SipCallLeg:
        """Place a call and return its leg once answered; SipError(status) if it fails.

        `record_path`: write the stereo recording there (remote party left, our audio right).
        """
        assert self._loop is not None, "start() first"
        acc = self._accounts.get(trunk or "")
        if acc is None:
            raise SipError(f"no trunk named {trunk!r}", 404)
        leg = self._new_leg(Direction.OUTBOUND, caller="", callee=uri_user(uri) or uri)
        if record_path is not None:
            if self.recorder is None:
                self.recorder = RecordingWriter()
            leg.recording = self.recorder.open(record_path, leg.sample_rate)

        def dial() -> None:
            call = SipCall(self, acc)
            call.ptime_ms = self.config.ptime_ms
            call.leg, leg.call = leg, call
            call.makeCall(uri, pj.CallOpParam(True))
            leg.sip_call_id = call.getInfo().callIdString
            self._calls[leg.sip_call_id] = call

        self.legs[leg.call_id] = leg
        try:
            await self.endpoint.run(dial)
        except pj.Error as exc:
            self.legs.pop(leg.call_id, None)
            raise SipError(f"cannot call {uri}: {exc.reason}", 400) from None
        try:
            await asyncio.wait_for(asyncio.shield(leg.answered), answer_within)
        except TimeoutError:
            await leg.hangup(HangupReason.NO_ANSWER)
            raise SipError(f"no answer from {uri} in {answer_within:.0f} s", 408) from None
        return leg

    # --- PJSIP thread ------------------------------------------------------------------------------
    def _pj_create_accounts(self) -> None:
        local = SipAccount(self)
        cfg = pj.AccountConfig()
        host = self.config.public_address or (self.config.host if self.config.host not in ("", "0.0.0.0")
                                              else "127.0.0.1")
        cfg.idUri = f"sip:vocaliq@{host}:{self.port}"
        self._media_ports(cfg)
        _use_srtp(cfg, self.config.srtp, secure_signalling=False)
        local.create(cfg, True)
        self._accounts[""] = local
        for trunk in self.trunks:
            if trunk.registers:
                self._accounts[trunk.name] = self._pj_trunk_account(trunk)

    def _media_ports(self, cfg: pj.AccountConfig) -> None:
        rtp = cfg.mediaConfig.transportConfig
        rtp.port = self.config.rtp_port_start
        rtp.portRange = self.config.rtp_port_range
        if self.config.host not in ("", "0.0.0.0"):
            rtp.boundAddress = self.config.host

    def _pj_trunk_account(self, trunk: Trunk) -> SipAccount:
        acc = SipAccount(self, trunk.name)
        cfg = pj.AccountConfig()
        cfg.idUri = trunk.aor
        cfg.regConfig.registrarUri = trunk.registrar
        cfg.regConfig.timeoutSec = trunk.register_seconds
        cfg.regConfig.retryIntervalSec = 60  # PJSIP retries failed registrations with this backoff
        cfg.regConfig.firstRetryIntervalSec = 5
        if trunk.outbound_proxy:
            cfg.sipConfig.proxies.append(trunk.outbound_proxy)
        # Digest credentials for the configured realm only: a challenge from any other realm fails.
        cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", trunk.realm or trunk.registrar_host,
                                                       trunk.username, 0, trunk.password))
        self._media_ports(cfg)
        _use_srtp(cfg, trunk.srtp, secure_signalling=trunk.srtp == "mandatory" and trunk.transport == "tls")
        tid = self.endpoint.transport_ids.get(trunk.transport)
        if tid is not None:
            cfg.sipConfig.transportId = tid
        acc.create(cfg)
        return acc

    def on_pj_reg_state(self, acc: SipAccount) -> None:
        log.info("trunk registration", extra={"trunk": acc.trunk, "registered": acc.registered,
                                               "status": acc.reg_status})
        if self.on_registration is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_registration, acc.trunk, acc.registered, acc.reg_status,
                                            acc.reg_reason)

    def on_pj_incoming(self, acc: SipAccount, prm: pj.OnIncomingCallParam) -> None:
        call = SipCall(self, acc, prm.callId)
        call.ptime_ms = self.config.ptime_ms
        rdata = prm.rdata
        request_line, hdrs = headers(rdata.wholeMsg)
        ip = source_ip(rdata.srcAddress)
        trunk = self.gates.trunks.trunk_for(ip)
        info = call.getInfo()
        self._calls[info.callIdString] = call
        verdict = self.gates.source_filter.check(
            ip, user_agent=hdrs.get("user-agent", ""), size=len(rdata.wholeMsg),
            trusted=trunk is not None, registered=False)
        if not verdict.allowed:
            self._pj_reject(call, verdict.status, verdict.reason, ip)
            return
        admitted = sum(1 for c in self._calls.values() if c.leg is not None)
        if not self.accepting:
            self._pj_reject(call, 503, "shutting down", ip)
            return
        if admitted >= self.gates.max_calls:
            self._pj_reject(call, self.gates.reject_status, "call capacity reached", ip)
            return
        parts = request_line.split()
        request_uri = parts[1] if len(parts) > 1 else ""
        incoming = IncomingCall(
            sip_call_id=info.callIdString, source_ip=ip, from_uri=info.remoteUri, to_uri=info.localUri,
            request_uri=request_uri, dialled=dialled_number(request_uri, info.localUri),
            caller=uri_user(info.remoteUri), user_agent=hdrs.get("user-agent", ""),
            trunk=trunk if trunk is not None else acc.trunk)
        assert self._loop is not None
        leg = SipCallLeg(self._loop, self.endpoint.submit, direction=Direction.INBOUND, caller=incoming.caller,
                         callee=incoming.dialled, sip_call_id=incoming.sip_call_id, sample_rate=CLOCK_RATE)
        call.leg, leg.call = leg, call
        leg.srtp = call.srtp
        ring = pj.CallOpParam()
        ring.statusCode = 180
        call.answer(ring)
        self._loop.call_soon_threadsafe(self._route, leg, incoming)

    def _pj_reject(self, call: SipCall, status: int, reason: str, ip: str) -> None:
        log.info("sip call rejected", extra={"status": status, "reason": reason, "source": ip})
        self.rejected[status] = self.rejected.get(status, 0) + 1
        op = pj.CallOpParam()
        op.statusCode = status
        op.reason = reason
        call.hangup(op)

    def on_pj_transfer_call(self, call: SipCall, target: str) -> None:
        self._calls[f"transfer-{id(call)}"] = call
        self.transfers_followed.append(target)

    def on_pj_disconnected(self, call: SipCall, sip_call_id: str) -> None:
        if call.leg is not None and call.leg.direction is Direction.OUTBOUND and self._loop is not None:
            self._loop.call_soon_threadsafe(self.legs.pop, call.leg.call_id, None)

        def forget() -> None:  # after the callback has returned: the Call object may then be deleted
            for key in [k for k, c in self._calls.items() if c is call]:
                _unlink(self._calls.pop(key))  # the last reference drops here, on the PJSIP thread

        self.endpoint.submit(forget)

    def _pj_teardown(self) -> None:
        for call in self._calls.values():  # calls (and their media ports) first ...
            _unlink(call)
        self._calls.clear()
        for acc in self._accounts.values():  # ... then accounts; the endpoint goes last
            with contextlib.suppress(pj.Error):
                acc.shutdown()
        self._accounts.clear()

    # --- loop thread -----------------------------------------------------------------------------------
    def _new_leg(self, direction: Direction, *, caller: str, callee: str) -> SipCallLeg:
        assert self._loop is not None
        return SipCallLeg(self._loop, self.endpoint.submit, direction=direction, caller=caller, callee=callee,
                          sample_rate=CLOCK_RATE)

    def _start_recording(self, leg: SipCallLeg) -> None:
        if self.recorder is None or self.recordings_dir is None:
            return
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        leg.recording = self.recorder.open(self.recordings_dir / day / f"{leg.call_id}.wav", leg.sample_rate)

    def _route(self, leg: SipCallLeg, incoming: IncomingCall) -> None:
        self.legs[leg.call_id] = leg
        task = asyncio.get_running_loop().create_task(self._run_incoming(leg, incoming))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_incoming(self, leg: SipCallLeg, incoming: IncomingCall) -> None:
        try:
            decision: Accept | Reject = Reject(404, "no handler")
            if self.on_incoming is not None:
                try:
                    decision = await self.on_incoming(incoming)
                except Exception:
                    log.exception("incoming call routing failed", extra={"call_id": leg.call_id})
                    decision = Reject(500, "routing failed")
            if leg.ended.is_set():
                return
            if isinstance(decision, Reject):
                await self._reject_leg(leg, decision)
                return
            if decision.record:
                self._start_recording(leg)
            await self.endpoint.run(lambda: leg.call.answer(_answer_ok()))
            log.info("sip call answered", extra={"call_id": leg.call_id, "caller": mask_number(leg.caller),
                                                  "dialled": mask_number(incoming.dialled), "srtp": leg.srtp})
            try:
                await decision.handler(leg)
            except Exception:
                log.exception("call handler failed", extra={"call_id": leg.call_id})
            finally:
                await leg.hangup(HangupReason.AGENT_HANGUP)
        except pj.Error as exc:  # e.g. the caller cancelled between our decision and the answer
            log.info("sip call gone before answer", extra={"call_id": leg.call_id, "why": exc.reason})
        finally:
            self.legs.pop(leg.call_id, None)

    async def _reject_leg(self, leg: SipCallLeg, decision: Reject) -> None:
        leg.hangup_reason = HangupReason.REJECTED
        self.rejected[decision.status] = self.rejected.get(decision.status, 0) + 1

        def reject() -> None:
            op = pj.CallOpParam()
            op.statusCode = decision.status
            if decision.reason:
                op.reason = decision.reason
            leg.call.hangup(op)

        await self.endpoint.run(reject)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(leg.ended.wait(), 5.0)


def _use_srtp(cfg: pj.AccountConfig, use: str, *, secure_signalling: bool) -> None:
    """SRTP with SDES keys: "off", "optional" (offer/accept both) or "mandatory" (plain RTP gets 488).

    `secure_signalling` also demands TLS for the SIP leg carrying the keys (trunks on TLS with mandatory SRTP).
    """
    srtp = {"optional": pj.PJMEDIA_SRTP_OPTIONAL, "mandatory": pj.PJMEDIA_SRTP_MANDATORY}
    cfg.mediaConfig.srtpUse = srtp.get(use, pj.PJMEDIA_SRTP_DISABLED)
    cfg.mediaConfig.srtpSecureSignaling = 1 if secure_signalling else 0


def _unlink(call: SipCall) -> None:
    """Break leg <-> call links so the pjsua2 call is destroyed now, on the PJSIP thread (its port a bit later)."""
    if call.leg is not None:
        call.leg.call = None
    call.leg = None
    if call.port is not None:
        call.owner.endpoint.retire(call.port)  # freed a little later: the bridge lets go asynchronously
    call.port = None


def _answer_ok() -> pj.CallOpParam:
    op = pj.CallOpParam()
    op.statusCode = 200
    return op
