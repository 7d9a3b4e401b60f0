"""A real HTTP receiver on 127.0.0.1 (stdlib server in a thread) that verifies signatures like a customer would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from appliance.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, InvalidSignature, verify


@dataclass
class Receiver:
    secret: str = ""
    fail_next: int = 0  # answer this many requests with 503 before accepting
    received: list[dict[str, Any]] = field(default_factory=list)  # verified bodies, in arrival order
    refused: list[str] = field(default_factory=list)
    hits: int = 0
    url: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[str]:
        return [r["event"] for r in self.received]


@contextmanager
def receiver(secret: str = "", *, fail_next: int = 0) -> Iterator[Receiver]:
    state = Receiver(secret=secret, fail_next=fail_next)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.hits += 1
                if state.fail_next > 0:
                    state.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                try:
                    verify(state.secret, body, self.headers.get(TIMESTAMP_HEADER), self.headers.get(SIGNATURE_HEADER))
                except InvalidSignature as exc:
                    state.refused.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                state.received.append(json.loads(body))
                state.arrived.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
