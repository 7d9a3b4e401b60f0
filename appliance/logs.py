"""Structured logging with a call_id context; phone numbers are masked and secrets never logged."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

call_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="")
_NUMBER = re.compile(r"(\+?\d[\d\s\-]{5,}\d)")


def mask_number(number: str) -> str:
    """'+4930123456789' -> '+49******789': enough to tell calls apart, not to dial."""
    digits = number.strip()
    if len(digits) <= 5:
        return "*" * len(digits)
    head = 3 if digits.startswith("+") else 2
    return digits[:head] + "*" * (len(digits) - head - 3) + digits[-3:]


def redact(text: str) -> str:
    """Mask anything that looks like a phone number inside free text."""
    return _NUMBER.sub(lambda m: mask_number(re.sub(r"[\s\-]", "", m.group(1))), text)


@contextmanager
def call_context(call_id: str) -> Iterator[None]:
    token = call_id_var.set(call_id)
    try:
        yield
    finally:
        call_id_var.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "call_id", ""):
            record.call_id = call_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    _skip = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        out.update({k: v for k, v in vars(record).items() if k not in self._skip and not k.startswith("_")})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.msg = redact(str(record.msg))
        cid = getattr(record, "call_id", "")
        base = super().format(record)
        return f"{base} [call_id={cid}]" if cid else base


def setup_logging(level: str = "INFO", json_format: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    text = TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if json_format else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
