"""Twilio's media-stream WebSocket messages as typed values: what Twilio sends, and what we send back.

Twilio → us: connected, start (stream and call ids, μ-law 8 kHz), media (base64 μ-law), dtmf, mark (echo of
one of ours once the audio before it has played, or was cleared), stop. Us → Twilio: media, mark, clear.
Anything that is not one of these, or not well formed, is a `ProtocolError` carrying the WebSocket close
code and reason the stream ends with.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 64 * 1024  # a 20 ms media message is ~250 bytes; anything near this is not Twilio
ENCODING = "audio/x-mulaw"
SAMPLE_RATE = 8000
DTMF_DIGITS = frozenset("0123456789*#ABCD")

# WebSocket close codes (RFC 6455) the stream ends with
NORMAL = 1000
UNSUPPORTED = 1003
INVALID_PAYLOAD = 1007
POLICY = 1008
TOO_BIG = 1009
SERVER_ERROR = 1011


class ProtocolError(Exception):
    """A message we cannot accept; the stream closes with `code` and `reason` (≤ 123 bytes, RFC 6455)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str]


@dataclass(frozen=True, slots=True)
class Media:
    payload: bytes  # μ-law, 8 kHz mono
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    call_sid: str


@dataclass(frozen=True, slots=True)
class Other:
    """An event this version does not use (ignored: Twilio may add events)."""

    event: str


Message = Connected | Start | Media | Dtmf | Mark | Stop | Other


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(INVALID_PAYLOAD, f"{name} is not an object")
    return value


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(INVALID_PAYLOAD, f"{where} without {key}")
    return value


def parse(raw: str | bytes | None) -> Message:
    """One WebSocket message from Twilio; ProtocolError for binary, oversize or malformed ones."""
    if raw is None or isinstance(raw, bytes):
        raise ProtocolError(UNSUPPORTED, "binary frames are not part of the media-stream protocol")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(TOO_BIG, f"message over {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        raise ProtocolError(INVALID_PAYLOAD, "message is not valid JSON") from None
    msg = _object(data, "message")
    event = msg.get("event")
    if not isinstance(event, str):
        raise ProtocolError(INVALID_PAYLOAD, "message without an event")
    if event == "media":
        media = _object(msg.get("media"), "media")
        track = media.get("track", "inbound")
        if track not in ("inbound", "inbound_track"):
            return Other(f"media:{track}")
        try:
            payload = base64.b64decode(_text(media, "payload", "media"), validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(INVALID_PAYLOAD, "media payload is not base64") from None
        stamp = media.get("timestamp", 0)
        return Media(payload, int(stamp) if str(stamp).isdigit() else 0)
    if event == "mark":
        return Mark(_text(_object(msg.get("mark"), "mark"), "name", "mark"))
    if event == "dtmf":
        digit = _object(msg.get("dtmf"), "dtmf").get("digit")
        if not isinstance(digit, str) or digit not in DTMF_DIGITS:
            raise ProtocolError(INVALID_PAYLOAD, "dtmf without a valid digit")
        return Dtmf(digit)
    if event == "start":
        start = _object(msg.get("start"), "start")
        fmt = start.get("mediaFormat") or {}
        if fmt and (fmt.get("encoding") != ENCODING or int(fmt.get("sampleRate") or 0) != SAMPLE_RATE):
            raise ProtocolError(UNSUPPORTED, f"media format {fmt.get('encoding')}/{fmt.get('sampleRate')} is not "
                                f"{ENCODING}/{SAMPLE_RATE}")
        params = start.get("customParameters") or {}
        return Start(stream_sid=str(msg.get("streamSid") or _text(start, "streamSid", "start")),
                     call_sid=_text(start, "callSid", "start"), account_sid=str(start.get("accountSid") or ""),
                     custom_parameters={str(k): str(v) for k, v in params.items()} if isinstance(params, dict)
                     else {})
    if event == "stop":
        stop = msg.get("stop")
        return Stop(str(stop.get("callSid", "")) if isinstance(stop, dict) else "")
    if event == "connected":
        return Connected(str(msg.get("protocol", "")), str(msg.get("version", "")))
    return Other(event)


def media(stream_sid: str, ulaw: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": stream_sid,
                       "media": {"payload": base64.b64encode(ulaw).decode("ascii")}})


def mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
