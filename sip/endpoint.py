"""The PJSIP endpoint in its own thread: every pjsua2 call runs there, posted through a command queue.

`threadCnt = 0`: PJSIP starts no worker threads of its own; our thread creates the library (so it is
registered) and loops on `libHandleEvents`, draining posted commands between polls. SIP callbacks (incoming
call, call state, DTMF, transfer status) therefore run on this thread too; media callbacks run on the
conference bridge's clock thread (null sound device).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import pjsua2 as pj

from appliance.errors import SipError
from sip import bytevec

log = logging.getLogger(__name__)
pjlog = logging.getLogger("pjsip")
T = TypeVar("T")

CLOCK_RATE = 16_000
# The pjsua2-python 2.15.1.post1 wheel is built with PJSIP's default PJSUA_MAX_CALLS = 4: pjsua silently
# clamps `maxCalls` to it and answers 486 beyond it (measured: 4 concurrent calls pass, the 5th gets 486).
# More concurrent calls per process need a pjsua2 build with a larger PJSUA_MAX_CALLS (see docs/sip.md).
PJSUA_MAX_CALLS = 4
_AFTER_DESTROY: list[object] = []
RETIRE_S = 0.5  # how long a finished call's media port is kept before it is freed (see SipEndpoint.retire)


@dataclass(slots=True)
class EndpointConfig:
    """What the endpoint needs from `[sip]` settings (0 as a port picks a free one)."""

    host: str = "127.0.0.1"
    port: int = 5060
    transports: tuple[str, ...] = ("udp", "tcp")
    tls_port: int = 5061
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ca_file: str = ""
    tls_verify_server: bool = True
    srtp: str = "optional"  # the local account's SRTP use: "off", "optional" or "mandatory"
    public_address: str = ""
    rtp_port_start: int = 10000
    rtp_port_range: int = 10000
    max_calls: int = 64
    codecs: tuple[str, ...] = ("PCMA/8000", "PCMU/8000", "G722/16000")
    ptime_ms: int = 20
    user_agent: str = "VocalIQ"
    log_level: int = 1
    bound: dict[str, int] = field(default_factory=dict)  # transport -> actual port, filled at start


class PjLogWriter(pj.LogWriter):  # type: ignore[misc]
    """PJSIP's log lines into Python logging (logger `pjsip`) instead of stdout."""

    _levels: ClassVar[dict[int, int]] = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}

    def write(self, entry: pj.LogEntry) -> None:
        pjlog.log(self._levels.get(entry.level, logging.DEBUG), "%s", entry.msg.rstrip())


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    saved = os.dup(1)
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class SipEndpoint:
    """Owns the pjsua2 Endpoint and the thread that drives it (start/stop from any thread)."""

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.ep: Any = None
        self.transport_ids: dict[str, int] = {}
        self._retired: list[tuple[float, object]] = []
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self.before_destroy: list[Callable[[], None]] = []

    # --- any thread -------------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        self._thread = threading.Thread(target=self._main, name="vocaliq-pjsip", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SipError("PJSIP endpoint did not start in time")
        if self._error is not None:
            raise SipError(f"cannot start SIP endpoint: {self._error}") from self._error

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run `fn` on the PJSIP thread; the future carries its result or exception."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._stopping.is_set() and threading.current_thread() is not self._thread:
            fut.set_exception(SipError("SIP endpoint is stopped"))
            return fut
        self._commands.put((fn, fut))
        return fut

    async def run(self, fn: Callable[[], T]) -> T:
        """Await `fn` run on the PJSIP thread."""
        return await asyncio.wrap_future(self.submit(fn))

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def retire(self, port: object) -> None:
        """Free `port` (a call's media port) only after RETIRE_S (PJSIP thread only).

        PJSIP's conference bridge disconnects and removes ports asynchronously, in its clock thread, so a port
        freed when its call goes may still be asked for a frame (use after free: a segfault when a call is hung
        up locally while agent audio plays). Older retired ports are freed here; the rest before libDestroy.
        """
        now = time.monotonic()
        self._retired = [(t, p) for t, p in self._retired if now - t < RETIRE_S]
        if port is not None:
            self._retired.append((now, port))

    def _free_retired(self) -> None:
        if self._retired and self.ep is not None:
            for _ in range(int(RETIRE_S * 100) + 5):
                self.ep.libHandleEvents(10)
        self._retired = []

    def stop(self, timeout: float = 15.0) -> None:
        """Hang up everything, delete calls before accounts before the endpoint, then libDestroy."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        self._thread = None

    # --- the PJSIP thread -------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._init()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            self._destroy()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                self.ep.libHandleEvents(10)
                self._drain()
            self._shutdown()
        finally:
            self._destroy()

    def _drain(self) -> None:
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

    def _init(self) -> None:
        bytevec.verify()
        cfg = self.config
        self.ep = pj.Endpoint()
        with _stdout_to_stderr():  # libCreate logs a banner before any log config applies
            self.ep.libCreate()
        epc = pj.EpConfig()
        epc.uaConfig.threadCnt = 0
        epc.uaConfig.mainThreadOnly = False
        epc.uaConfig.maxCalls = cfg.max_calls
        epc.uaConfig.userAgent = cfg.user_agent
        epc.logConfig.level = cfg.log_level
        epc.logConfig.consoleLevel = cfg.log_level
        epc.logConfig.msgLogging = cfg.log_level >= 5
        self._log_writer = PjLogWriter()
        epc.logConfig.writer = self._log_writer
        epc.logConfig.decor = 0
        med = epc.medConfig
        med.clockRate = CLOCK_RATE
        med.sndClockRate = CLOCK_RATE
        med.channelCount = 1
        med.audioFramePtime = cfg.ptime_ms
        med.maxMediaPorts = max(254, 2 * cfg.max_calls + 8)
        med.ecTailLen = 0  # no echo canceller: there is no loudspeaker, and it costs CPU per call
        med.noVad = True
        med.threadCnt = 1
        self.ep.libInit(epc)
        self._create_transports()
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        self._set_codecs()

    def _create_transports(self) -> None:
        cfg = self.config
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}
        port = cfg.port
        for name in cfg.transports:
            tc = pj.TransportConfig()
            tc.boundAddress = "" if cfg.host in ("0.0.0.0", "") else cfg.host
            if cfg.public_address:
                tc.publicAddress = cfg.public_address
            tc.port = cfg.tls_port if name == "tls" else port
            if name == "tls":
                tls = tc.tlsConfig
                tls.certFile, tls.privKeyFile, tls.CaListFile = cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_ca_file
                tls.verifyServer = cfg.tls_verify_server
                tls.verifyClient = False
            tid = self.ep.transportCreate(kinds[name], tc)
            self.transport_ids[name] = tid
            bound = int(self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
            cfg.bound[name] = bound
            if name == "udp" and port == 0:
                port = bound  # TCP listens on the same number as UDP when the port was picked for us

    def _set_codecs(self) -> None:
        wanted = [c.lower() for c in self.config.codecs]
        for codec in self.ep.codecEnum2():
            cid = codec.codecId  # e.g. "PCMA/8000/1"
            prefix = "/".join(cid.split("/")[:2]).lower()
            prio = 255 - wanted.index(prefix) if prefix in wanted else 0
            self.ep.codecSetPriority(cid, prio)

    def _shutdown(self) -> None:
        with contextlib.suppress(pj.Error):
            self.ep.hangupAllCalls()
        for _ in range(50):  # let BYEs go out and their answers come back (≤ 0.5 s)
            self.ep.libHandleEvents(10)
        self._drain()
        for hook in self.before_destroy:  # calls, then accounts (the UA orders them)
            try:
                hook()
            except Exception:
                log.exception("SIP teardown hook failed")

    def _destroy(self) -> None:
        if self.ep is None:
            return
        self._drain()  # late cleanups (they drop Call objects) must run while the library still exists
        self._free_retired()  # and so must the media ports' destructors
        gc.collect()  # pjsua2 objects caught in reference cycles too: on this thread, before libDestroy
        try:
            self.ep.libDestroy()
        except Exception:
            log.exception("libDestroy failed")
        self.ep = None
        while True:  # fail whatever was posted while we were going down
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                break
            # A closure may hold the last reference to a pjsua2 object whose destructor would call into
            # the destroyed library (an assertion abort): keep it alive instead of freeing it now.
            _AFTER_DESTROY.append(fn)
            if fut.set_running_or_notify_cancel():
                fut.set_exception(SipError("SIP endpoint stopped"))
