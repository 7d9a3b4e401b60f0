"""Typed errors. Each turns into a clear message at the edge: CLI exit code, problem+json, SIP status."""

from __future__ import annotations


class VocalIQError(Exception):
    """Base of every error we raise on purpose; `str()` is a one-line reason for a human."""

    exit_code: int = 1


class ConfigError(VocalIQError):
    """The configuration file or an environment override is invalid."""

    exit_code = 2


class StorageError(VocalIQError):
    """The database is unreachable, not migrated, or refused a write."""


class TenantAccessDenied(VocalIQError):
    """An object was requested outside the caller's organization (reported as not found)."""


class NotFound(VocalIQError):
    """A requested object does not exist (or is not visible to this tenant)."""


class Conflict(VocalIQError):
    """The request clashes with what is stored: a duplicate name, a double booking, an object still in use."""


class AudioFormatError(VocalIQError):
    """Audio that cannot be used: broken WAV, unsupported width, odd byte count."""

    exit_code = 2


class ModelUnavailable(VocalIQError):
    """A model backend cannot answer: missing/corrupt files, dead server, open circuit breaker."""


class ModelTimeout(ModelUnavailable):
    """A model backend missed its deadline."""


class SipError(VocalIQError):
    """A SIP operation failed; `status` is the SIP status code to report where one applies."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class CallCapacityExceeded(SipError):
    """Admission control refused a call (503 by default)."""

    def __init__(self, message: str = "call capacity reached", status: int = 503) -> None:
        super().__init__(message, status)
