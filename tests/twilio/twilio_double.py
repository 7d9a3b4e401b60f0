"""Twilio's side of the wire for tests, over real loopback sockets.

- `TwilioApi`: an HTTP server on 127.0.0.1 that speaks the parts of Twilio's REST API we use (create a call,
  send a message, update a call) with Basic auth and Twilio's error bodies; it records every request.
- `TwilioPhone`: the media-stream client Twilio would be: `connected` and `start`, then a 20 ms clock that
  sends caller audio (μ-law 8 kHz, silence when the caller is quiet) and "plays" the agent's media in real
  time, echoing each mark once the audio before it has played, and every pending mark at once on `clear`.
- `signed_post`: a webhook as Twilio sends it (form body, X-Twilio-Signature from the auth token).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import numpy as np
import websockets

from appliance.audio import AudioFrame, resample, ulaw_decode, ulaw_encode
from appliance.twilio.signature import SIGNATURE_HEADER, sign

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeedc0ffee00deadbeef12345678"
FRAME = 160  # 20 ms of μ-law


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class RestRequest:
    method: str
    path: str
    form: dict[str, list[str]]
    auth: tuple[str, str] | None

    def one(self, key: str) -> str:
        return self.form.get(key, [""])[0]


class TwilioApi:
    """Twilio's REST API on 127.0.0.1 (see module docstring). `with TwilioApi() as api: api.base_url`."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.requests: list[RestRequest] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form: dict[str, list[str]] = {}
                for k, v in parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True):
                    form.setdefault(k, []).append(v)
                auth = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    auth = (user, password)
                request = RestRequest("POST", self.path, form, auth)
                api.requests.append(request)
                status, body = api.answer(request)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TwilioApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def made(self, resource: str) -> list[RestRequest]:
        return [r for r in self.requests if r.path.endswith(f"/{resource}.json")]

    @staticmethod
    def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
        return status, {"code": code, "message": message, "status": status,
                        "more_info": f"https://www.twilio.com/docs/errors/{code}"}

    def answer(self, r: RestRequest) -> tuple[int, dict[str, Any]]:
        if r.auth != (self.account_sid, self.auth_token):
            return self._error(401, 20003, "Authenticate")
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        if not r.path.startswith(prefix):
            return self._error(404, 20404, "The requested resource was not found")
        resource = r.path[len(prefix):]
        to, from_ = r.one("To"), r.one("From")
        if resource in ("Calls.json", "Messages.json"):
            if not to.startswith("+") or not to[1:].isdigit():
                return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
            if resource == "Calls.json":
                if not (r.one("Url") or r.one("Twiml")):
                    return self._error(400, 21205, "Url parameter is required.")
                return 201, {"sid": sid("CA"), "account_sid": self.account_sid, "to": to, "from": from_,
                             "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01"}
            return 201, {"sid": sid("SM"), "account_sid": self.account_sid, "to": to, "from": from_,
                         "body": r.one("Body"), "status": "queued", "num_segments": "1"}
        if resource.startswith("Calls/") and resource.endswith(".json"):
            return 200, {"sid": resource[6:-5], "account_sid": self.account_sid, "status": "in-progress"}
        return self._error(404, 20404, "The requested resource was not found")


async def signed_post(client: httpx.AsyncClient, url: str, params: dict[str, str],
                      token: str = AUTH_TOKEN, signature: str | None = None,
                      body: dict[str, str] | None = None) -> httpx.Response:
    """POST `body` (default `params`) as a form with the signature Twilio would compute over `url` + `params`."""
    headers = {SIGNATURE_HEADER: signature if signature is not None else sign(token, url, params)}
    if signature == "":
        headers = {}
    return await client.post(url, data=body if body is not None else params, headers=headers)


def voice_params(call_sid: str, *, to: str, from_: str, direction: str = "inbound",
                 account_sid: str = ACCOUNT_SID) -> dict[str, str]:
    return {"AccountSid": account_sid, "ApiVersion": "2010-04-01", "CallSid": call_sid, "CallStatus": "ringing",
            "Direction": direction, "From": from_, "To": to, "Caller": from_, "Called": to}


def stream_url_of(twiml: str) -> str:
    start = twiml.index('url="') + 5
    return twiml[start:twiml.index('"', start)].replace("&amp;", "&")


def to_ulaw(frame: AudioFrame) -> bytes:
    return ulaw_encode(resample(frame, 8000))


@dataclass
class TwilioPhone:
    """Twilio's end of a media stream (see module docstring). Times are `time.monotonic()` seconds."""

    url: str
    call_sid: str
    account_sid: str = ACCOUNT_SID
    stream_sid: str = field(default_factory=lambda: sid("MZ"))
    send_start: bool = True
    ws: Any = None
    media: list[tuple[float, bytes]] = field(default_factory=list)  # agent audio as it arrived
    marks: list[tuple[float, str]] = field(default_factory=list)  # marks we echoed (played or cleared)
    clears: list[float] = field(default_factory=list)
    closed: tuple[int, str] | None = None
    caller_started_at: float = 0.0  # when the first chunk of the latest caller speech went out
    caller_sent_until: float = 0.0  # when its last chunk went out
    _caller: bytearray = field(default_factory=bytearray)
    _playout: deque[bytes | str] = field(default_factory=deque)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _seq: int = 0
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def __aenter__(self) -> TwilioPhone:
        self.ws = await websockets.connect(self.url, max_size=2**20)
        if self.send_start:
            await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await self.send({"event": "start", "streamSid": self.stream_sid, "start": {
                "streamSid": self.stream_sid, "accountSid": self.account_sid, "callSid": self.call_sid,
                "tracks": ["inbound"], "customParameters": {},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
            self._tasks.append(asyncio.create_task(self._clock()))
        self._tasks.append(asyncio.create_task(self._reader()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        self._seq += 1
        if isinstance(message, dict):
            message = json.dumps({**message, "sequenceNumber": str(self._seq)})
        async with self._send_lock:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.ws.send(message)

    def say(self, ulaw: bytes) -> None:
        """Queue caller speech (μ-law 8 kHz); the clock sends it in real time."""
        self._caller += ulaw

    async def dtmf(self, digit: str) -> None:
        await self.send({"event": "dtmf", "streamSid": self.stream_sid,
                         "dtmf": {"track": "inbound_track", "digit": digit}})

    async def stop(self) -> None:
        await self.send({"event": "stop", "streamSid": self.stream_sid,
                         "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})

    async def _clock(self) -> None:
        start, tick, chunk = time.monotonic(), 0, 0
        while self.closed is None:
            if self._caller:
                if self.caller_sent_until >= self.caller_started_at:
                    self.caller_started_at = time.monotonic()
                audio = bytes(self._caller[:FRAME]).ljust(FRAME, b"\xff")
                del self._caller[:FRAME]
                if not self._caller:
                    self.caller_sent_until = time.monotonic()
            else:
                audio = b"\xff" * FRAME
            chunk += 1
            await self.send({"event": "media", "streamSid": self.stream_sid, "media": {
                "track": "inbound", "chunk": str(chunk), "timestamp": str(tick * 20),
                "payload": base64.b64encode(audio).decode()}})
            await self._play(FRAME)
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.02 - time.monotonic()))

    async def _play(self, budget: int) -> None:
        while self._playout:
            head = self._playout[0]
            if isinstance(head, str):
                self._playout.popleft()
                await self._echo(head)
                continue
            if budget <= 0:
                return
            take = head[:budget]
            budget -= len(take)
            if len(take) == len(head):
                self._playout.popleft()
            else:
                self._playout[0] = head[len(take):]

    async def _echo(self, name: str) -> None:
        self.marks.append((time.monotonic(), name))
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def _reader(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["event"] == "media":
                    audio = base64.b64decode(msg["media"]["payload"])
                    self.media.append((time.monotonic(), audio))
                    self._playout.append(audio)
                elif msg["event"] == "mark":
                    self._playout.append(msg["mark"]["name"])
                elif msg["event"] == "clear":
                    self.clears.append(time.monotonic())
                    pending = [m for m in self._playout if isinstance(m, str)]
                    self._playout.clear()
                    for name in pending:
                        await self._echo(name)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = (self.ws.close_code or 1006, self.ws.close_reason or "")

    async def wait_for(self, condition: Any, within_s: float, what: str = "") -> None:
        deadline = time.monotonic() + within_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within_s} s waiting for {what or condition}")
            await asyncio.sleep(0.02)

    # what the caller heard ---------------------------------------------------------------------------
    def session_marks(self) -> list[str]:
        return [name for _, name in self.marks if not name.startswith("~")]

    def voiced_after(self, t: float, threshold_dbfs: float = -40.0) -> float | None:
        """When the first audible agent audio arrived after `t`."""
        for at, audio in self.media:
            if at >= t and _dbfs(audio) > threshold_dbfs:
                return at
        return None

    def agent_audio_ms(self, after: float = 0.0) -> float:
        return sum(len(a) for at, a in self.media if at >= after) / 8.0


def voiced_end_ms(ulaw: bytes, threshold_dbfs: float = -40.0) -> float:
    """Where the last audible 20 ms of `ulaw` ends (the end of speech a caller would mean)."""
    ends = [i + FRAME for i in range(0, len(ulaw), FRAME) if _dbfs(ulaw[i:i + FRAME]) > threshold_dbfs]
    return (ends[-1] if ends else 0) / 8.0


def _dbfs(ulaw: bytes) -> float:
    x = ulaw_decode(ulaw).to_array().astype(np.float64) / 32768.0
    rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
    return -120.0 if rms == 0 else 20 * float(np.log10(rms))
