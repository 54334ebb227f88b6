"""The SSRF guard: which URLs ragbench may call as a system under test.

A system's ``base_url`` is user input that the service then calls from inside its
own network, so it is checked before any request:

- the scheme is ``http`` or ``https`` and the URL carries no credentials, query or
  fragment;
- the host is resolved (``getaddrinfo``) and *every* address it resolves to must lie
  outside ``settings.ssrf_deny`` (link-local, cloud metadata endpoints ...) unless it
  lies inside ``settings.ssrf_allow``, which wins. IPv4-mapped IPv6 addresses are
  checked as the IPv4 address they carry.

Loopback stays allowed by default: ragbench is self-hosted and systems often run on
the same machine. Redirects are never followed (``ragbench.http``), so a checked URL
cannot bounce elsewhere. The check runs when a system is validated and again before
the first request of every client (a host could be re-pointed between the two);
what it cannot stop is a DNS answer that changes between that check and the
connection itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")


class UnsafeURL(ValueError):
    """The URL may not be called: wrong scheme, credentials, unresolvable or denied host."""


@dataclass(frozen=True)
class UrlPolicy:
    """Denied and allowed networks (``allow`` is checked first)."""

    deny: tuple[IPNetwork, ...] = ()
    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> UrlPolicy:
        return cls(deny=_networks(settings.ssrf_deny), allow=_networks(settings.ssrf_allow))

    def check_address(self, address: IPAddress) -> None:
        """Refuse ``address`` when it is denied and not allowed."""
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        for candidate in candidates:
            if any(candidate in net for net in self.allow if net.version == candidate.version):
                return
        for candidate in candidates:
            for net in self.deny:
                if net.version == candidate.version and candidate in net:
                    raise UnsafeURL(f"{address} is in the denied network {net} "
                                    "(settings.ssrf_deny; allow it with settings.ssrf_allow)")

    async def check_async(self, url: str) -> list[IPAddress]:
        """Check ``url``, resolving its host; returns the addresses checked."""
        parts = parse(url)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(parts.hostname, _port(parts), type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeURL(f"cannot resolve host {parts.hostname!r}: {exc}") from None
        return self._check_infos(infos)

    def _check_infos(self, infos: Iterable[tuple]) -> list[IPAddress]:
        addresses = []
        for *_, sockaddr in infos:
            # sockaddr[0] of an IPv6 address may carry a zone ("fe80::1%eth0").
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise UnsafeURL("the host resolves to no address")
        for address in addresses:
            self.check_address(address)
        return addresses


def parse(url: str) -> SplitResult:
    """Split ``url`` and refuse what is never a system's base URL (no resolution)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise UnsafeURL(f"not a URL: {exc}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise UnsafeURL(f"scheme must be http or https, got {parts.scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("the URL must not carry credentials (user:password@); "
                        "register the system with an api_key instead")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.query or parts.fragment:
        raise UnsafeURL("a base URL has no query string or fragment")
    if port == 0:
        raise UnsafeURL("port 0 is not a port a system listens on")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)
