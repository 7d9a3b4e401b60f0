"""Just enough SIP message reading for admission decisions (headers of the INVITE PJSIP already parsed)."""

from __future__ import annotations

import re

_COMPACT = {"f": "from", "t": "to", "m": "contact", "i": "call-id", "l": "content-length", "c": "content-type"}
_USER = re.compile(r"sips?:([^@;>:]+)@", re.IGNORECASE)


def headers(message: str) -> tuple[str, dict[str, str]]:
    """(request line, lower-cased header name -> first value) of a raw SIP message."""
    head = message.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    lines = head.replace("\r\n", "\n").split("\n")
    out: dict[str, str] = {}
    for line in lines[1:]:
        if ":" not in line:
            continue
        name, value = line.split(":", 1)
        key = name.strip().lower()
        out.setdefault(_COMPACT.get(key, key), value.strip())
    return (lines[0] if lines else ""), out


def uri_user(uri: str) -> str:
    """The user part of the first SIP URI in `uri` ('' if none)."""
    match = _USER.search(uri)
    return match.group(1) if match else ""


def source_ip(src_address: str) -> str:
    """'1.2.3.4:5060' or '[::1]:5060' -> the address alone."""
    if src_address.startswith("["):
        return src_address[1:].split("]", 1)[0]
    return src_address.rsplit(":", 1)[0] if src_address.count(":") == 1 else src_address
