"""Passwords (argon2), access tokens (JWT, HS256 only), refresh tokens and API keys (random, stored hashed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.config import Settings

ALGORITHMS = ["HS256"]  # the allow-list: a token naming any other algorithm (or "none") is refused
API_KEY_PREFIX = "vq_"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password")


class TokenError(Exception):
    """An access token that is malformed, expired, signed with another key or algorithm."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (an unknown email still costs one argon2 verify)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """Stored form of high-entropy secrets (refresh tokens, API keys): SHA-256 is enough for 256-bit randoms."""
    return hashlib.sha256(secret.encode()).hexdigest()


def jwt_key(settings: Settings) -> str:
    key = settings.paths.read_secret("jwt.key")
    if key is None:  # `vocaliq init` writes it; a box started without init gets one now
        key = secrets.token_urlsafe(48)
        settings.paths.write_secret("jwt.key", key)
    return key


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    org_id: int
    jti: str
    stamp: str


def password_stamp(password_hash: str) -> str:
    """A token's tie to the password it was issued under: a new password makes older access tokens invalid.

    A digest of the argon2 hash (itself salted), so the token reveals nothing about the password.
    """
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def issue_access(settings: Settings, *, user_id: int, org_id: int, password_hash: str) -> tuple[str, int]:
    ttl = settings.security.access_token_minutes * 60
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user_id), "org": org_id, "typ": "access", "pwd": password_stamp(password_hash),
              "iat": now, "nbf": now, "exp": now + dt.timedelta(seconds=ttl), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, jwt_key(settings), algorithm=ALGORITHMS[0]), ttl


def read_access(settings: Settings, token: str) -> AccessClaims:
    try:
        claims: dict[str, Any] = jwt.decode(token, jwt_key(settings), algorithms=ALGORITHMS,
                                            options={"require": ["exp", "sub", "org", "typ", "pwd"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token ({exc.__class__.__name__})") from None
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    try:
        return AccessClaims(int(claims["sub"]), int(claims["org"]), str(claims.get("jti", "")), str(claims["pwd"]))
    except (TypeError, ValueError):
        raise TokenError("invalid token claims") from None


def new_refresh_token() -> str:
    return "vqr_" + secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(full secret shown once, prefix kept for display and lookup)."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, secret[: len(API_KEY_PREFIX) + 8]
