"""Shared plumbing of the HTTP model backends: one httpx client per event loop, errors without secrets in
them, and whether a backend's URL leaves the box."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import weakref
from urllib.parse import urlsplit

import httpx

from appliance.errors import ModelUnavailable


class HttpClients:
    """Pooled httpx clients for one backend: an AsyncClient per running event loop (a pool's connections
    belong to the loop that opened them) and one blocking Client for callers already in a worker thread.

    Headers may carry an API key: it is sent, never logged, and scrubbed from error text (`scrub`).
    """

    def __init__(self, base_url: str, *, timeout_s: float, headers: dict[str, str] | None = None,
                 secret: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # a dead server must fail fast (the next backend answers); reading may take the whole budget
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0))
        self._headers = dict(headers or {})
        self._secret = secret or ""
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary())
        self._sync: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the headers
        return f"HttpClients({self.base_url!r})"

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout, headers=self._headers)
            self._async[loop] = client
        return client

    def sync(self) -> httpx.Client:
        with self._lock:
            if self._sync is None or self._sync.is_closed:
                self._sync = httpx.Client(base_url=self.base_url, timeout=self._timeout, headers=self._headers)
            return self._sync

    async def aclose(self) -> None:
        """Close this loop's client and the blocking one."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        with self._lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    def scrub(self, text: str) -> str:
        """`text` without the API key (providers echo keys in some error bodies)."""
        return text.replace(self._secret, "***") if self._secret else text

    def error(self, what: str, exc: Exception) -> ModelUnavailable:
        """A ModelUnavailable for a transport failure (connection refused, timeout, broken stream)."""
        detail = self.scrub(str(exc))[:200]
        return ModelUnavailable(f"{what} at {self.base_url}: {type(exc).__name__}{': ' + detail if detail else ''}")

    def status_error(self, what: str, response: httpx.Response) -> ModelUnavailable:
        """A ModelUnavailable for an HTTP error status (read the body first to have it in the message)."""
        try:
            body = response.text
        except httpx.ResponseNotRead:
            body = ""
        detail = self.scrub(" ".join(body.split()))[:200]
        return ModelUnavailable(f"{what} at {self.base_url}: HTTP {response.status_code}"
                                f"{' ' + detail if detail else ''}")


def bearer(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def leaves_the_box(url: str) -> bool:
    """Would requests to `url` leave this box and its local network? (loopback, private addresses,
    single-label and .local/.lan/.internal names stay; any other DNS name or public address leaves)."""
    host = urlsplit(url).hostname or ""
    if not host or host == "localhost" or "." not in host.strip("."):
        return False
    if host.endswith((".local", ".lan", ".internal", ".home.arpa")):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (ip.is_loopback or ip.is_private or ip.is_link_local)
