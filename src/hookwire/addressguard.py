"""Which addresses a delivery may go to, and an aiohttp resolver that enforces it.

Deliveries to loopback, private, link-local and other non-public addresses are
refused unless the operator allows them. The check happens after DNS
resolution and the checked addresses are the ones aiohttp connects to, so a
name cannot resolve to a public address for the check and a private one for the
connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first match gives the reason.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/32"), "the unspecified address"),
    (_V4("0.0.0.0/8"), "a 'this network' address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("192.0.0.0/24"), "a reserved address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a reserved address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)

_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("fc00::/7"), "a private (unique local) address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("3fff::/20"), "a documentation address"),
    (_V6("64:ff9b:1::/48"), "a reserved address"),
    (_V6("100::/64"), "a reserved address"),
    (_V6("2001::/23"), "a reserved address"),
    (_V6("5f00::/16"), "a reserved address"),
)

# Only 2000::/3 holds global unicast addresses; everything else is reserved.
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_IPV4_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _IPV4_COMPATIBLE or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # (server, client): the client is where packets go
    return None


def _ipv4_reason(ip: ipaddress.IPv4Address) -> str | None:
    for network, what in _REFUSED_V4:
        if ip in network:
            return what
    if not ip.is_global:  # anything the standard library knows that the table does not
        return "not a public address"
    return None


def _ipv6_reason(ip: ipaddress.IPv6Address) -> str | None:
    for network, what in _REFUSED_V6[:2]:  # :: and ::1 sit inside ::/96
        if ip in network:
            return what
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        v4_kind = _ipv4_reason(embedded)
        if v4_kind is not None:
            return f"{v4_kind} ({embedded} in IPv6 form)"
        if ip in _IPV4_COMPATIBLE:
            return "a deprecated IPv4-compatible address"
        return None
    for network, what in _REFUSED_V6[2:]:
        if ip in network:
            return what
    if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
        return "a reserved address"
    return None


def refusal_reason(address: str | IPAddress) -> str | None:
    """None when ``address`` is public; else why it is refused, e.g.

    ``"127.0.0.1 is a loopback address"``. A string that is not an IP address
    raises ``ValueError``.
    """
    what = _what_it_is(address)
    return None if what is None else f"{address} is {what}"


def _what_it_is(address: str | IPAddress) -> str | None:
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(int(ip))  # the zone (%eth0) does not change the kind
    return _ipv4_reason(ip) if isinstance(ip, ipaddress.IPv4Address) else _ipv6_reason(ip)


class AddressNotAllowed(Exception):
    """A delivery was refused because its address is not public.

    Deliberately not an ``OSError``, so aiohttp does not turn it into a DNS or
    connection error: the worker logs it as ``address not allowed: …`` and
    does not retry.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"address not allowed: {self.reason}"


def _ip_literal(host: str) -> IPAddress | None:
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(text):
        # Forms such as 127.1, 2130706433 or 0x7f.1 that the C library turns into an address.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def check_host(host: str, allow_private: bool) -> None:
    """Raise :class:`AddressNotAllowed` when ``host`` is an IP literal that is refused.

    aiohttp connects to IP literals without asking the resolver, so the worker
    calls this before each request. Host names pass here and are checked by
    :class:`GuardedResolver` after resolution.
    """
    if allow_private:
        return
    ip = _ip_literal(host)
    if ip is None:
        return
    reason = refusal_reason(ip)
    if reason is not None:
        raise AddressNotAllowed(reason)


class GuardedResolver(AbstractResolver):
    """aiohttp's default resolver, refusing names that resolve to a non-public address.

    Pass it as ``aiohttp.TCPConnector(resolver=...)``; the connector does not
    close a resolver it was given, so close it after the connector. DNS
    failures pass through unchanged (aiohttp reports them as
    ``ClientConnectorDNSError``).
    """

    def __init__(
        self, *, allow_private: bool = False, resolver: AbstractResolver | None = None
    ) -> None:
        self.allow_private = allow_private
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and refuse it if any of its addresses is not public."""
        if self._resolver is None:
            # Created here, not in __init__, because it needs the running event loop.
            self._resolver = DefaultResolver()
        results = await self._resolver.resolve(host, port, family=family)
        if not self.allow_private:
            for result in results:
                what = _what_it_is(result["host"])
                if what is not None:
                    raise AddressNotAllowed(f"{host} resolves to {result['host']}, {what}")
        return results

    async def close(self) -> None:
        """Close the wrapped resolver."""
        if self._resolver is not None:
            await self._resolver.close()
