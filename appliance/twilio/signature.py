"""X-Twilio-Signature: Twilio signs each webhook with the account's auth token over the URL it requested and
the POST parameters. We check it with the twilio library's own RequestValidator, never a copy of the algorithm.

Behind a reverse proxy the URL we see (http://127.0.0.1:8080/...) is not the one Twilio signed
(https://vocaliq.example.com/...): `signed_url` puts the request's path and query on the organization's
configured public URL when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

__all__ = ["SIGNATURE_HEADER", "is_valid", "sign", "signed_url"]


def signed_url(request_url: str, public_url: str = "") -> str:
    """The URL Twilio signed: `request_url` itself, or its path and query on `public_url`."""
    if not public_url:
        return request_url
    base = urlsplit(public_url)
    seen = urlsplit(request_url)
    path = base.path.rstrip("/") + seen.path
    return urlunsplit((base.scheme, base.netloc, path, seen.query, ""))


def is_valid(auth_token: str, url: str, params: Mapping[str, Any], signature: str | None) -> bool:
    """True when `signature` is Twilio's for this URL and these form parameters; a missing one is invalid."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def sign(auth_token: str, url: str, params: Mapping[str, Any]) -> str:
    """The signature Twilio would send (our own requests in tests and the CLI's self-check)."""
    return str(RequestValidator(auth_token).compute_signature(url, params))
