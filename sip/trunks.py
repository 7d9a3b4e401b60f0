"""Trunks as the SIP side sees them: IP trust (PBX peering) or registration with digest auth."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from sip.security import Network, ip_allowed, parse_networks
from sip.sipmsg import uri_user


@dataclass(frozen=True, slots=True)
class Trunk:
    """A SIP peer we accept calls from (and place calls through).

    `allowed_cidrs`: sources trusted without registration. With `registrar` set we register as `username`
    and answer digest challenges for `realm` only (never any realm); the registrar's own address is trusted.
    """

    name: str
    allowed_cidrs: tuple[str, ...] = ()
    registrar: str = ""  # e.g. "sip:pbx.example.com:5060"
    username: str = ""
    password: str = ""
    realm: str = ""
    domain: str = ""  # for our AOR; defaults to the registrar's host
    transport: str = "udp"
    register_seconds: int = 300
    outbound_proxy: str = ""
    srtp: str = "off"  # "off", "optional" or "mandatory" (SDES keys; mandatory wants TLS signalling)

    @property
    def registers(self) -> bool:
        return bool(self.registrar)

    @property
    def registrar_host(self) -> str:
        rest = self.registrar.split(":", 1)[1] if ":" in self.registrar else self.registrar
        rest = rest.split(";", 1)[0]
        if rest.startswith("["):
            return rest[1:].split("]", 1)[0]
        return rest.split(":", 1)[0]

    @property
    def aor(self) -> str:
        return f"sip:{self.username}@{self.domain or self.registrar_host}"


@dataclass
class TrunkTable:
    """Which trunk a source address belongs to (resolved once; rebuilt when trunks change)."""

    trunks: list[Trunk] = field(default_factory=list)
    extra_trusted: list[str] = field(default_factory=list)  # [sip] trusted_cidrs
    _nets: list[tuple[str, list[Network]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._nets = []
        for trunk in self.trunks:
            cidrs = list(trunk.allowed_cidrs)
            if trunk.registers:
                cidrs += _resolve(trunk.registrar_host)
            self._nets.append((trunk.name, parse_networks(cidrs)))
        if self.extra_trusted:
            self._nets.append(("", parse_networks(self.extra_trusted)))

    def trunk_for(self, source_ip: str) -> str | None:
        """Name of the trunk trusting `source_ip` ('' for [sip] trusted_cidrs), None if none does."""
        for name, nets in self._nets:
            if ip_allowed(source_ip, nets):
                return name
        return None


def _resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except OSError:
        return []


def dialled_number(request_uri: str, to_uri: str) -> str:
    """The DID: Request-URI user, else the To user."""
    return uri_user(request_uri) or uri_user(to_uri)
