"""What every fallback chain shares: a circuit breaker per backend, deadlines, and reporting each failover.

A chain (models/<modality>/chain.py) implements its modality's interface over backends in config order. Per
call it plans which backends may answer (breaker closed, or one half-open probe after a cool-down), tries them
in order, and when one errors or misses its deadline the next answers within the same call. Each switch is a
`ModelFailover` event (when a bus and call id are known) and a `vocaliq_model_failovers_total` increment.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Generic, TypeVar

from appliance.errors import ModelUnavailable
from appliance.events import EventBus, ModelFailover
from appliance.logs import call_id_var
from appliance.metrics import MODEL_FAILOVERS

log = logging.getLogger(__name__)

Clock = Callable[[], float]
B = TypeVar("B")

# Deadlines for a backend that has a successor in its chain (the last one is bounded by its own timeout).
DEFAULT_DEADLINES_S = {"llm": 3.0, "stt": 4.0, "tts": 2.0, "embed": 3.0}

_bus_var: ContextVar[EventBus | None] = ContextVar("model_events_bus", default=None)
_call_var: ContextVar[str] = ContextVar("model_events_call_id", default="")


@contextlib.contextmanager
def model_events(bus: EventBus | None, call_id: str = "") -> Iterator[None]:
    """Within this block (and tasks started from it) failovers are published on `bus` for `call_id`.

    Without a call id here the logging context's call id (`appliance.logs.call_context`) is used.
    """
    bus_token, call_token = _bus_var.set(bus), _call_var.set(call_id)
    try:
        yield
    finally:
        _bus_var.reset(bus_token)
        _call_var.reset(call_token)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failures` consecutive failures; after `cooldown_s` lets one probe through (half-open).

    The probe's success closes it, its failure opens it for another cool-down. `clock` is injectable for tests.
    """

    def __init__(self, failures: int = 3, cooldown_s: float = 30.0, clock: Clock = time.monotonic) -> None:
        if failures < 1 or cooldown_s < 0:
            raise ValueError("a breaker needs failures >= 1 and cooldown_s >= 0")
        self.failures, self.cooldown_s, self._clock = failures, cooldown_s, clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()  # the blocking embeddings path runs in worker threads

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def available(self) -> bool:
        """Whether `acquire` would let a call through now (no side effect)."""
        state = self.state
        return state is BreakerState.CLOSED or (state is BreakerState.HALF_OPEN and not self._probing)

    def acquire(self) -> bool:
        """May a call use this backend now? In half-open state only one probe at a time is let through."""
        with self._lock:
            if not self.available:
                return False
            if self.state is BreakerState.HALF_OPEN:
                self._probing = True
            return True

    def success(self) -> None:
        with self._lock:
            self._consecutive, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._probing or self._consecutive >= self.failures:
                self._opened_at, self._probing = self._clock(), False

    def release(self) -> None:
        """The call that acquired this breaker did not use it after all (an earlier backend answered)."""
        with self._lock:
            self._probing = False


@dataclass(slots=True)
class Member(Generic[B]):
    """One backend in a chain under its config name."""

    name: str
    backend: B
    breaker: CircuitBreaker
    deadline_s: float | None = None


class Failover(Generic[B]):
    """Planning, bookkeeping and reporting for one modality's chain (the chains own the control flow)."""

    def __init__(self, modality: str, members: list[Member[B]], bus: EventBus | None = None) -> None:
        if not members:
            raise ModelUnavailable(f"a {modality} chain needs at least one backend")
        self.modality, self.members, self.bus = modality, members, bus

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def preferred(self) -> Member[B]:
        """The backend that would answer first now (for capabilities); the first one if all are open."""
        return next((m for m in self.members if m.breaker.available), self.members[0])

    def plan(self) -> list[Member[B]]:
        """The backends to try for one call, in order. If every breaker is open, all are tried anyway:
        a last resort beats a certain failure."""
        plan = [m for m in self.members if m.breaker.acquire()]
        return plan or list(self.members)

    @staticmethod
    def deadline(plan: list[Member[B]], index: int) -> float | None:
        """A backend's deadline applies only when another backend could still answer after it."""
        return plan[index].deadline_s if index < len(plan) - 1 else None

    @staticmethod
    def release(members: list[Member[B]]) -> None:
        for m in members:
            m.breaker.release()

    def succeeded(self, member: Member[B]) -> None:
        member.breaker.success()

    def failed(self, member: Member[B], reason: str, following: Member[B] | None) -> None:
        """Count the failure against `member`'s breaker and report the switch to `following` (if any)."""
        member.breaker.failure()
        call_id = _call_var.get() or call_id_var.get()
        if following is None:
            log.warning("%s backend %s failed: %s; no backend left", self.modality, member.name, reason,
                        extra={"call_id": call_id})
            return
        log.warning("%s backend %s failed: %s; %s answers", self.modality, member.name, reason, following.name,
                    extra={"call_id": call_id})
        MODEL_FAILOVERS.labels(modality=self.modality, failed=member.name, next_backend=following.name).inc()
        bus = _bus_var.get() or self.bus
        if bus is not None and call_id and _on_loop():  # the bus is for the loop thread only
            bus.publish(ModelFailover(call_id=call_id, modality=self.modality, failed=member.name, reason=reason,
                                      next_backend=following.name))

    def exhausted(self, reasons: list[str]) -> ModelUnavailable:
        return ModelUnavailable(f"every {self.modality} backend failed: " + "; ".join(reasons))


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def describe(exc: BaseException, deadline_s: float | None = None, what: str = "answer") -> str:
    """A one-line reason for a failure (deadline misses say which deadline)."""
    if isinstance(exc, TimeoutError) and deadline_s is not None:
        return f"missed its {deadline_s:g} s deadline ({what})"
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
