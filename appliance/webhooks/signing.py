"""Webhook signatures: HMAC-SHA256 over `"{timestamp}.{body}"`, sent as `X-VocalIQ-Signature: v1=<hex>` with
`X-VocalIQ-Timestamp: <unix seconds>`.

Signing the timestamp with the body lets a receiver refuse replays: a captured request re-sent later fails the
tolerance check, and changing its timestamp breaks the signature. `verify` is what a Python receiver calls.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from appliance.errors import VocalIQError

SIGNATURE_HEADER = "X-VocalIQ-Signature"
TIMESTAMP_HEADER = "X-VocalIQ-Timestamp"
EVENT_HEADER = "X-VocalIQ-Event"
DELIVERY_HEADER = "X-VocalIQ-Delivery"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


class InvalidSignature(VocalIQError):
    """A webhook request whose signature does not match, is missing, or is too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The timestamp and signature headers for one request body."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"{SCHEME}={signature(secret, ts, body)}"}


def verify(secret: str, body: bytes, timestamp: str | None, signature_header: str | None, *,
           tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None) -> None:
    """Raise InvalidSignature unless `signature_header` signs `body` at `timestamp` within `tolerance_s`.

    The header may carry several comma-separated `v1=` values (during a secret rotation); one match suffices.
    """
    if not timestamp or not signature_header:
        raise InvalidSignature("missing signature or timestamp header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise InvalidSignature("timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise InvalidSignature(f"timestamp outside the {tolerance_s} s tolerance")
    expected = signature(secret, ts, body)
    offered = [part.strip()[len(SCHEME) + 1:] for part in signature_header.split(",")
               if part.strip().startswith(f"{SCHEME}=")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise InvalidSignature("signature does not match")
