"""Which addresses a delivery may go to, and an aiohttp resolver that enforces it.

Deliveries to loopback, private, link-local and other non-public addresses are
refused unless the operator allows them. The check happens after DNS
resolution and the checked addresses are the ones aiohttp connects to, so a
name cannot resolve to a public address for the check and a private one for the
connection.

Every decision is made on the host exactly as the HTTP client reads it:
:func:`parse_url` is yarl's parse, which aiohttp's connector uses, and the
sender hands that same parsed URL to aiohttp. Python's ``urlsplit`` keeps
``①②⑦.0.0.1``, ``127。0。0。1`` or fullwidth digits as names while yarl's IDNA
(UTS 46) mapping turns them into ``127.0.0.1``, so deciding on ``urlsplit``'s
host would let such URLs connect unchecked.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address  # the connector's test for skipping DNS
from aiohttp.resolver import DefaultResolver
from yarl import URL

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

# Refused before looking at an IPv4 address embedded in the IPv6 one (:: and ::1
# sit inside ::/96). A Teredo address (RFC 4380) goes through a relay to a
# client behind a NAT: its embedded IPv4 address says nothing reliable about
# where the packets end up, so the whole prefix is refused.
_REFUSED_V6_FIRST: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("2001::/32"), "a Teredo tunnel address"),
)

_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
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

# Names that lead into the local machine or network whatever public DNS says,
# refused when a webhook is saved (at delivery every name is checked after
# resolution anyway). "localhost" and its subdomains are loopback by RFC 6761;
# .local is multicast DNS on the local link (RFC 6762); .home.arpa is for home
# networks (RFC 8375); .internal is reserved by ICANN for private use (cloud
# metadata lives at metadata.google.internal); .localdomain, .lan, .home and
# .corp are what routers and distributions hand out, and ICANN will not
# delegate .home or .corp because so many internal networks use them. Names
# are compared lower-case without trailing dots, and a name matches when it is
# one of these or ends in "." plus one of them.
LOCAL_NAME_SUFFIXES: tuple[str, ...] = (
    "localhost",
    "local",
    "localdomain",
    "internal",
    "home.arpa",
    "lan",
    "home",
    "corp",
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _IPV4_COMPATIBLE or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def _ipv4_reason(ip: ipaddress.IPv4Address) -> str | None:
    for network, what in _REFUSED_V4:
        if ip in network:
            return what
    if not ip.is_global:  # anything the standard library knows that the table does not
        return "not a public address"
    return None


def _ipv6_reason(ip: ipaddress.IPv6Address) -> str | None:
    for network, what in _REFUSED_V6_FIRST:
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
    for network, what in _REFUSED_V6:
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


def parse_url(url: str) -> URL:
    """``url`` as aiohttp reads it: yarl's parse, hosts mapped by IDNA (UTS 46).

    Its ``raw_host`` is the host aiohttp's connector connects to or resolves,
    so the guard decides on it, and the sender sends this very object: the
    parse that was checked is the parse that is used. Raises ``ValueError``
    for a URL yarl cannot read.
    """
    return URL(url)


def _ip_literal(host: str) -> IPAddress | None:
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    # A trailing dot only marks a name as absolute; judge what is left without it.
    text = text.rstrip(".")
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


def _host_refusal(host: str) -> str | None:
    """Why ``host`` (a ``raw_host`` of :func:`parse_url`) is refused without DNS, or None."""
    ip = _ip_literal(host)
    if ip is None:
        if is_ip_address(host):
            # aiohttp connects to such a host without asking the resolver, so
            # one that cannot be read as an address must not pass unchecked.
            return f"{host} is not an IP address hookwire can check"
        return None
    what = _what_it_is(ip)
    if what is None:
        return None
    shown = host.strip("[]")
    return f"{shown} is {what}" if shown == str(ip) else f"{shown} is {ip}, {what}"


def _local_name_refusal(host: str) -> str | None:
    name = host.rstrip(".")
    for suffix in LOCAL_NAME_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            if suffix == "localhost":
                return f"{name} is a name of this machine"
            return f"{name} is a local network name (.{suffix})"
    if name and "." not in name:
        # Such names are completed with the search domains of resolv.conf or
        # found in /etc/hosts: in a container or cluster, services like "db".
        return f"{name} is a single-label name, which resolves to hosts of the local network"
    return None


def url_refusal(url: str, allow_private: bool) -> str | None:
    """Why a webhook may not be saved with ``url``, or None. No DNS lookup is made.

    Refused: a host that is, or normalises to, a non-public IP address (in any
    spelling yarl or the C library accepts), and local names
    (:data:`LOCAL_NAME_SUFFIXES`, single-label names). Other names are checked
    after resolution, at delivery. Raises ``ValueError`` for a URL yarl cannot
    read.
    """
    host = parse_url(url).raw_host or ""
    if allow_private:
        return None
    if _ip_literal(host) is not None or is_ip_address(host):
        return _host_refusal(host)
    return _local_name_refusal(host)


def check_host(host: str, allow_private: bool) -> None:
    """Raise :class:`AddressNotAllowed` when ``host`` is refused without a DNS lookup.

    ``host`` is the ``raw_host`` of :func:`parse_url`. aiohttp connects to IP
    literals without asking the resolver, so the sender checks the host of the
    URL it sends to; names pass here and are checked by
    :class:`GuardedResolver` after resolution.
    """
    if allow_private:
        return
    reason = _host_refusal(host)
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
