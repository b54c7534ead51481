"""Which addresses deliveries may reach, and the resolver that enforces it in aiohttp."""

# The look-alike digits and dots below are the point of these tests.
# ruff: noqa: RUF001

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from hookwire.addressguard import (
    AddressNotAllowed,
    GuardedResolver,
    check_host,
    parse_url,
    refusal_reason,
    url_refusal,
)

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this network"),
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("100::1", "reserved"),
    ("1::1", "reserved"),
    ("::ffff:127.0.0.1", "loopback address (127.0.0.1 in IPv6 form)"),
    ("::ffff:7f00:1", "loopback address (127.0.0.1 in IPv6 form)"),
    ("::ffff:10.0.0.1", "private address (10.0.0.1 in IPv6 form)"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::127.0.0.1", "loopback address (127.0.0.1 in IPv6 form)"),  # IPv4-compatible
    ("::8.8.8.8", "deprecated IPv4-compatible"),
    ("64:ff9b::a00:1", "private address (10.0.0.1 in IPv6 form)"),  # NAT64
    ("2002:7f00:1::1", "loopback address (127.0.0.1 in IPv6 form)"),  # 6to4
    ("2002:c0a8:101::", "private address (192.168.1.1 in IPv6 form)"),
    # Teredo is refused whatever client address it carries (stored inverted):
    # here 127.0.0.1, then the public 8.8.8.8.
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo"),
    ("2001::1", "Teredo"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below carrier-grade NAT
    "100.128.0.0",  # just above it
    "172.32.0.1",  # just above 172.16/12
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_refused_addresses(address: str, kind: str) -> None:
    reason = refusal_reason(address)
    assert reason is not None
    assert reason.startswith(f"{address} is ")
    assert kind in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert refusal_reason(address) is None
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_address_objects_are_accepted() -> None:
    assert refusal_reason(ipaddress.IPv4Address("127.0.0.1")) == "127.0.0.1 is a loopback address"


def test_not_an_address_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        refusal_reason("example.com")


def test_error_message_has_the_logged_prefix() -> None:
    error = AddressNotAllowed("127.0.0.1 is a loopback address")
    assert str(error) == "address not allowed: 127.0.0.1 is a loopback address"
    assert not isinstance(error, OSError)


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::1", True),
        ("[::ffff:127.0.0.1]", True),
        ("10.1.2.3", True),
        ("127.1", True),  # legacy numeric forms the C library accepts
        ("2130706433", True),
        ("0x7f.0.0.1", True),
        ("127.0.0.1.", True),  # a trailing dot changes nothing
        ("127.0.0.1..", True),
        ("fe80::1%25eth0", True),  # a zone as yarl keeps it
        ("::ffff:127.1", True),  # aiohttp would not resolve it, and it is not an address
        ("8.8.8.8", False),
        ("[2606:4700:4700::1111]", False),
        ("localhost", False),  # names are the resolver's job
        ("example.com", False),
        ("cafe.de", False),
    ],
)
def test_check_host(host: str, refused: bool) -> None:
    if refused:
        with pytest.raises(AddressNotAllowed, match=r"^address not allowed: "):
            check_host(host, allow_private=False)
    else:
        check_host(host, allow_private=False)
    check_host(host, allow_private=True)


# Hosts of webhook URLs refused when a webhook is saved, with a word of the
# reason. Spellings come from yarl's IDNA (UTS 46) mapping, which aiohttp
# connects with, and from the legacy forms the C library reads.
ADDRESS_HOSTS = [
    # Unicode digits and dots that yarl maps to ASCII
    ("①②⑦.0.0.1", "127.0.0.1 is a loopback"),
    ("127。0。0。1", "127.0.0.1 is a loopback"),  # ideographic full stop
    ("127．0．0．1", "127.0.0.1 is a loopback"),  # fullwidth full stop
    ("127｡0｡0｡1", "127.0.0.1 is a loopback"),  # halfwidth ideographic full stop
    ("127。0.0。1", "127.0.0.1 is a loopback"),
    ("１２７.０.０.１", "127.0.0.1 is a loopback"),  # fullwidth digits
    ("１２７．０．０．１", "127.0.0.1 is a loopback"),
    ("𝟏𝟐𝟕.0.0.1", "127.0.0.1 is a loopback"),  # mathematical bold
    ("𝟙𝟚𝟟.𝟘.𝟘.𝟙", "127.0.0.1 is a loopback"),  # double-struck
    ("𝟣𝟤𝟩.0.0.1", "127.0.0.1 is a loopback"),  # sans-serif
    ("𝟭𝟮𝟳.0.0.1", "127.0.0.1 is a loopback"),  # sans-serif bold
    ("𝟷𝟸𝟽.0.0.1", "127.0.0.1 is a loopback"),  # monospace
    ("¹²⁷.0.0.1", "127.0.0.1 is a loopback"),  # superscript
    ("₁₂₇.0.0.1", "127.0.0.1 is a loopback"),  # subscript
    ("1②7.0.0.１", "127.0.0.1 is a loopback"),  # mixed
    ("⑫⑦.0.0.1", "127.0.0.1 is a loopback"),  # circled twelve, then seven
    ("⓪.⓪.⓪.⓪", "0.0.0.0 is the unspecified"),
    ("①⓪.⓪.⓪.①", "10.0.0.1 is a private"),
    ("⑩.0.0.1", "10.0.0.1 is a private"),
    ("１０.０.０.１", "10.0.0.1 is a private"),
    ("𝟏𝟕𝟐.𝟏𝟔.0.1", "172.16.0.1 is a private"),
    ("①⑨②.①⑥⑧.⓪.①", "192.168.0.1 is a private"),
    ("𝟙𝟘𝟘.𝟞𝟜.0.1", "100.64.0.1 is a carrier-grade NAT"),
    ("①⑥⑨.②⑤④.①⑥⑨.②⑤④", "169.254.169.254 is a link-local"),  # cloud metadata
    ("169。254。169。254", "169.254.169.254 is a link-local"),
    ("user:pw@①②⑦.0.0.1:8080", "127.0.0.1 is a loopback"),
    # the legacy IPv4 forms the C library reads
    ("127.1", "127.1 is 127.0.0.1, a loopback"),
    ("2130706433", "2130706433 is 127.0.0.1, a loopback"),
    ("0x7f.1", "0x7f.1 is 127.0.0.1, a loopback"),
    ("0x7f.0.0.1", "is 127.0.0.1, a loopback"),
    ("0x7f000001", "is 127.0.0.1, a loopback"),
    ("0X7F.1", "is 127.0.0.1, a loopback"),
    ("0177.0.0.1", "0177.0.0.1 is 127.0.0.1, a loopback"),
    ("017700000001", "is 127.0.0.1, a loopback"),
    ("０ｘ７ｆ.１", "0x7f.1 is 127.0.0.1, a loopback"),  # fullwidth, then legacy
    ("２１３０７０６４３３", "2130706433 is 127.0.0.1, a loopback"),
    ("0", "0 is 0.0.0.0, the unspecified"),
    ("10.1", "10.1 is 10.0.0.1, a private"),
    ("0xa9fea9fe", "is 169.254.169.254, a link-local"),
    ("0251.0376.0251.0376", "is 169.254.169.254, a link-local"),
    # trailing dots
    ("127.0.0.1.", "127.0.0.1. is 127.0.0.1, a loopback"),
    ("127.0.0.1..", "is 127.0.0.1, a loopback"),
    ("10.0.0.1.", "is 10.0.0.1, a private"),
    ("１２７.０.０.１．", "is 127.0.0.1, a loopback"),
    # IPv6, and IPv4 in IPv6 forms
    ("[::1]", "::1 is a loopback"),
    ("[0:0:0:0:0:0:0:1]", "::1 is a loopback"),
    ("[::１]", "::1 is a loopback"),
    ("[::]", ":: is the unspecified"),
    ("[::ffff:127.0.0.1]", "loopback address (127.0.0.1 in IPv6 form)"),
    ("[::ffff:7f00:1]", "loopback address (127.0.0.1 in IPv6 form)"),
    ("[0:0:0:0:0:ffff:127.0.0.1]", "loopback address (127.0.0.1 in IPv6 form)"),
    ("[::ffff:10.0.0.1]", "private address (10.0.0.1 in IPv6 form)"),
    ("[::ffff:169.254.169.254]", "link-local address (169.254.169.254 in IPv6 form)"),
    ("[::127.0.0.1]", "loopback address (127.0.0.1 in IPv6 form)"),  # IPv4-compatible
    ("[64:ff9b::127.0.0.1]", "loopback address (127.0.0.1 in IPv6 form)"),  # NAT64
    ("[64:ff9b::a9fe:a9fe]", "link-local address (169.254.169.254 in IPv6 form)"),
    ("[2002:7f00:1::]", "loopback address (127.0.0.1 in IPv6 form)"),  # 6to4
    ("[2002:a9fe:a9fe::1]", "link-local address (169.254.169.254 in IPv6 form)"),
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "Teredo"),
    ("[2001:0:4136:e378:8000:63bf:f7f7:f7f7]", "Teredo"),  # public client, still refused
    ("[fe80::1]", "link-local"),
    ("[fe80::1%25eth0]", "link-local"),
    ("[fd00:ec2::254]", "unique local"),  # a cloud metadata service over IPv6
    ("[fc00::1]", "unique local"),
    ("[ff02::1]", "multicast"),
    ("[::ffff:127.1]", "not an IP address hookwire can check"),
]

LOCAL_NAME_HOSTS = [
    ("localhost", "localhost is a name of this machine"),
    ("LOCALHOST", "localhost is a name of this machine"),
    ("localhost.", "localhost is a name of this machine"),
    ("ｌｏｃａｌｈｏｓｔ", "localhost is a name of this machine"),
    ("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "localhost is a name of this machine"),
    ("api.localhost", "api.localhost is a name of this machine"),
    ("localhost.localdomain", "local network name (.localdomain)"),
    ("box.localdomain", "local network name (.localdomain)"),
    ("ip6-localhost", "single-label"),
    ("ip6-loopback", "single-label"),
    ("printer.local", "printer.local is a local network name (.local)"),
    ("router.lan", "(.lan)"),
    ("nas.home.arpa", "(.home.arpa)"),
    ("metadata.google.internal", "metadata.google.internal is a local network name"),
    ("METADATA.GOOGLE.INTERNAL.", "metadata.google.internal is a local network name"),
    ("files.corp", "(.corp)"),
    ("nas.home", "(.home)"),
    ("db", "db is a single-label name"),
    ("db.", "db is a single-label name"),
    ("redis:6379", "redis is a single-label name"),
    ("ｄｂ", "db is a single-label name"),
]

PUBLIC_URLS = [
    "https://example.com/hook",
    "https://hooks.example.org./in",
    "https://bücher.de/",
    "https://xn--bcher-kva.de/",
    "https://notlocalhost.com/",  # ends in "localhost" but not in ".localhost"
    "https://internal.example.com/",
    "https://lan.example.net/",
    "http://8.8.8.8/",
    "http://93.184.216.34:8080/x",
    "http://[2606:4700:4700::1111]:8443/",
    "http://[::ffff:8.8.8.8]/",
    "http://[2002:808:808::1]/",
]


@pytest.mark.parametrize(("host", "reason"), ADDRESS_HOSTS + LOCAL_NAME_HOSTS)
def test_urls_whose_host_is_not_public_are_refused(host: str, reason: str) -> None:
    url = f"http://{host}/hook"
    refused = url_refusal(url, allow_private=False)
    assert refused is not None and reason in refused, refused
    assert url_refusal(url, allow_private=True) is None


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_urls_with_public_hosts_are_accepted(url: str) -> None:
    assert url_refusal(url, allow_private=False) is None


@pytest.mark.parametrize(("host", "reason"), ADDRESS_HOSTS)
def test_the_sender_refuses_every_spelling_of_an_address(host: str, reason: str) -> None:
    # At delivery the same parse decides: the host aiohttp connects to without DNS.
    with pytest.raises(AddressNotAllowed, match=r"^address not allowed: ") as caught:
        check_host(parse_url(f"http://{host}/hook").raw_host or "", allow_private=False)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "host",
    ["①②⑦.0.0.1", "127。0。0。1", "１２７.０.０.１", "𝟏𝟐𝟕.0.0.1"],
)
def test_the_guard_reads_the_host_as_aiohttp_does(host: str) -> None:
    # urlsplit keeps these as names, which the resolver would have been left
    # to check; aiohttp's yarl connects straight to 127.0.0.1.
    url = f"http://{host}:8080/hook"
    assert urlsplit(url).hostname == host
    assert parse_url(url).raw_host == "127.0.0.1"


def test_percent_encoded_hosts_are_not_decoded() -> None:
    # yarl leaves them as they are, so no address hides in them: the name is
    # refused when saved (api/models.py) and resolves to nothing at delivery.
    assert parse_url("http://%31%32%37.0.0.1/").raw_host == "%31%32%37.0.0.1"


@pytest.fixture
async def local_server() -> AsyncIterator[int]:
    """A real aiohttp server on 127.0.0.1; yields its port."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _get(url: str, resolver: GuardedResolver) -> str:
    connector = aiohttp.TCPConnector(resolver=resolver, family=socket.AF_INET)
    try:
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url) as response,
        ):
            return await response.text()
    finally:
        await resolver.close()


async def test_localhost_is_refused_after_resolution(local_server: int) -> None:
    with pytest.raises(AddressNotAllowed) as caught:
        await _get(f"http://localhost:{local_server}/", GuardedResolver())
    assert str(caught.value) == (
        "address not allowed: localhost resolves to 127.0.0.1, a loopback address"
    )


async def test_localhost_is_allowed_when_private_networks_are(local_server: int) -> None:
    text = await _get(f"http://localhost:{local_server}/", GuardedResolver(allow_private=True))
    assert text == "hello"


class _FixedResolver(AbstractResolver):
    """Answers every name with the given addresses, or fails like a DNS lookup."""

    def __init__(self, addresses: list[str] | None) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self.addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_any_refused_address_refuses_the_name(local_server: int) -> None:
    resolver = GuardedResolver(resolver=_FixedResolver(["8.8.8.8", "127.0.0.1"]))
    with pytest.raises(AddressNotAllowed, match=r"resolves to 127\.0\.0\.1, a loopback"):
        await _get(f"http://rebinding.example:{local_server}/", resolver)


async def test_the_checked_address_is_the_one_connected_to(local_server: int) -> None:
    # The name means nothing to DNS: only the guarded answer can lead to the server.
    resolver = GuardedResolver(allow_private=True, resolver=_FixedResolver(["127.0.0.1"]))
    assert await _get(f"http://pinned.example:{local_server}/", resolver) == "hello"


async def test_dns_failure_stays_a_dns_error(local_server: int) -> None:
    resolver = GuardedResolver(resolver=_FixedResolver(None))
    with pytest.raises(aiohttp.ClientConnectorDNSError):
        await _get(f"http://missing.example:{local_server}/", resolver)


async def test_ip_literals_bypass_the_resolver_so_check_host_is_needed(local_server: int) -> None:
    # This is why the worker calls check_host before each request.
    assert await _get(f"http://127.0.0.1:{local_server}/", GuardedResolver()) == "hello"
    with pytest.raises(AddressNotAllowed):
        check_host("127.0.0.1", allow_private=False)
