"""Fixed-window rate limits per user, API key, organization and client address.

In memory by default (one box, one process); with `[redis] url` the counters live in Redis so several API
workers share them. Over the limit a request gets 429 with Retry-After (seconds to the next window).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class Limiter(Protocol):
    def hit(self, key: str, limit: int, window_s: int = 60) -> Verdict: ...


class MemoryLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: int = 60) -> Verdict:
        now = time.time()
        window = int(now // window_s)
        with self._lock:
            if len(self._counts) > 100_000:  # forget old windows
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            count = self._counts.get((key, window), 0) + 1
            self._counts[(key, window)] = count
        if count > limit:
            return Verdict(False, max(1, int((window + 1) * window_s - now + 0.999)))
        return Verdict(True)


class RedisLimiter:
    """Counters shared by every API worker and box using one Redis.

    When Redis does not answer, this box counts in memory until it does (logged once per outage): a Redis
    restart must not turn every API request into a 500, nor switch rate limiting off.
    """

    def __init__(self, url: str, *, namespace: str = "vocaliq") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._namespace = namespace  # boxes sharing one Redis keep their counters apart
        self._fallback = MemoryLimiter()
        self._down = False

    def hit(self, key: str, limit: int, window_s: int = 60) -> Verdict:
        now = time.time()
        window = int(now // window_s)
        name = f"{self._namespace}:rl:{key}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, window_s + 1)
            count = int(pipe.execute()[0])
        except self._errors as exc:
            if not self._down:
                log.warning("redis unreachable; rate limits counted in memory", extra={"error": repr(exc)})
                self._down = True
            return self._fallback.hit(key, limit, window_s)
        if self._down:
            log.info("redis reachable again; rate limits shared")
            self._down = False
        if count > limit:
            return Verdict(False, max(1, int((window + 1) * window_s - now + 0.999)))
        return Verdict(True)


def limiter_for(redis_url: str) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else MemoryLimiter()
