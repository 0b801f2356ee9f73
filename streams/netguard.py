"""SSRF guard: which addresses newswatch's outgoing HTTP requests may connect to.

Feed URLs, OPML files, redirects chosen by feed servers and webhook URLs all come from outside,
so none of them may make newswatch talk to its own host or network (Redis on loopback, the
cloud metadata service on 169.254.169.254, a router's admin page). Deny by default, as
Miniflux >= 2.3 does: loopback, private (RFC 1918, IPv6 ULA), link-local, CGNAT, multicast,
unspecified and every other special-purpose range (documentation, benchmarking, reserved) are
refused, including their IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 forms.

The check runs on the *resolved* address when the connection is made, never on the URL text:

- `GuardedResolver` wraps aiohttp's resolver and drops refused addresses from every DNS
  answer (an answer with nothing allowed left raises `BlockedAddressError`), so a name that
  resolves to 127.0.0.1 — or starts to, between two polls (DNS rebinding) — is refused;
- the connector's `socket_factory` checks the address of every socket before `connect()`:
  this covers IP literals, which aiohttp never hands to the resolver, and is the last word
  for anything else.

Every redirect hop opens its connection through the same connector, so redirects are covered
too. `guarded_connector()` is the one way to build a connector for outgoing requests; every
client session of newswatch uses it (poller, `feeds parse`, webhook deliveries).

Opt-in, per client section of the settings (`poller`, `webhooks`): `allowed_networks` (CIDRs,
checked first, e.g. `["127.0.0.1/32"]` for a feed served on the same host) and
`allow_private_networks` (true: the address check is off for that client).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from prometheus_client import Counter

from newswatch.streams.errors import NewswatchError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Client = Literal["poller", "webhooks", "status"]

CLIENTS: tuple[Client, ...] = ("poller", "webhooks", "status")
# Bounded label values of the blocked counter: why an address was refused.
REASONS = (
    "loopback",
    "private",
    "link_local",
    "cgnat",
    "multicast",
    "unspecified",
    "reserved",
)

BLOCKED = Counter(
    "newswatch_ssrf_blocked_total",
    "Outgoing connections refused by the SSRF guard, by client and address class.",
    ["client", "reason"],
)
for _client in CLIENTS:
    for _reason in REASONS:
        BLOCKED.labels(_client, _reason)


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), reason) for net, reason in rows)


# IANA IPv4 Special-Purpose Address Registry, plus multicast and the reserved class E.
# Written out rather than taken from `ipaddress`'s is_private/is_global, whose answers changed
# between Python patch releases (and which call multicast "global").
IPV4_BLOCKED = _table(
    ("0.0.0.0/8", "unspecified"),  # "this network"; Linux connects 0.0.0.0 to the local host
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "cgnat"),  # shared address space (RFC 6598)
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),  # includes the cloud metadata service 169.254.169.254
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments (incl. NAT64 discovery)
    ("192.0.2.0/24", "reserved"),  # TEST-NET-1
    ("192.88.99.0/24", "reserved"),  # deprecated 6to4 relay anycast
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),  # benchmarking
    ("198.51.100.0/24", "reserved"),  # TEST-NET-2
    ("203.0.113.0/24", "reserved"),  # TEST-NET-3
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # class E and the limited broadcast 255.255.255.255
)

# IPv6: only global unicast (2000::/3) is ever allowed, minus the special ranges inside it.
# Forms that embed an IPv4 address are judged by that address (see `blocked_reason`).
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
IPV6_BLOCKED = _table(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64 (RFC 8215)
    ("100::/64", "reserved"),  # discard-only
    ("2001::/23", "reserved"),  # IETF protocol assignments: Teredo, benchmarking, ORCHID
    ("2001:db8::/32", "reserved"),  # documentation
    ("3fff::/20", "reserved"),  # documentation (RFC 9637)
    ("5f00::/16", "reserved"),  # SRv6 SIDs
    ("fc00::/7", "private"),  # unique local addresses (ULA)
    ("fe80::/10", "link_local"),
    ("fec0::/10", "private"),  # deprecated site-local
    ("ff00::/8", "multicast"),
)
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one:
    IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d),
    6to4 (2002:aabb:ccdd::)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_WELL_KNOWN or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` is refused by default (one of REASONS), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(int(ip))  # without a %scope suffix
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = blocked_reason(inner)
            if reason is not None:
                return reason
            # Public IPv4 behind a mapped, NAT64 or 6to4 prefix is that public host; the
            # deprecated IPv4-compatible form is not routed at all.
            return "reserved" if ip in IPV4_COMPATIBLE else None
        for network, reason in IPV6_BLOCKED:
            if ip in network:
                return reason
        return None if ip in IPV6_GLOBAL_UNICAST else "reserved"
    for network, reason in IPV4_BLOCKED:
        if ip in network:
            return reason
    return None


def parse_networks(values: Iterable[object]) -> list[IPNetwork]:
    """CIDRs from settings; a bare address is a /32 (/128). Raises ValueError naming the value
    (host bits set, as in 127.0.0.1/8, is an error: write 127.0.0.0/8)."""
    networks = []
    for value in values:
        if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(value)
            continue
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a network in CIDR notation: {exc}") from None
    return networks


class BlockedAddressError(NewswatchError, OSError):
    """A connection the SSRF guard refused. An OSError so aiohttp reports it as a connection
    error (`ClientConnectorError.os_error`) without retrying other layers."""

    def __init__(self, address: str, reason: str, hint: str, host: str | None = None) -> None:
        self.address = address
        self.reason = reason
        self.host = host
        where = f"{host} ({address})" if host and host != address else address
        label = reason.replace("_", "-")
        super().__init__(f"{where}: {label} address refused by the SSRF guard; {hint}")


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which resolved addresses one client may connect to."""

    client: Client
    allow_private_networks: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, client: Client, section: Any) -> AddressPolicy:
        """From a settings section with `allow_private_networks` and `allowed_networks`."""
        return cls(
            client,
            bool(section.allow_private_networks),
            tuple(parse_networks(section.allowed_networks)),
        )

    @property
    def hint(self) -> str:
        prefix = f"NEWSWATCH_{self.client.upper()}__"
        return f"allow it with {prefix}ALLOWED_NETWORKS or {prefix}ALLOW_PRIVATE_NETWORKS=true"

    def refusal(self, ip: IPAddress) -> str | None:
        """The reason `ip` is refused for this client, or None when it may be used."""
        if self.allow_private_networks:
            return None
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)  # allowing 127.0.0.1 allows ::ffff:127.0.0.1
        for network in self.allowed_networks:
            if any(c.version == network.version and c in network for c in candidates):
                return None
        return blocked_reason(ip)

    def check(self, address: str, host: str | None = None) -> None:
        """Raise BlockedAddressError (and count it) if `address` may not be connected to."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise BlockedAddressError(address, "reserved", self.hint, host) from None
        reason = self.refusal(ip)
        if reason is not None:
            BLOCKED.labels(self.client, reason).inc()
            raise BlockedAddressError(address, reason, self.hint, host)


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver (getaddrinfo, /etc/hosts included) with refused addresses
    removed from every answer; raises BlockedAddressError when none is left."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if not answers:
            return answers
        allowed = [a for a in answers if _allowed(self.policy, a["host"])]
        if not allowed:
            self.policy.check(answers[0]["host"], host)  # raises: every answer was refused
        elif len(allowed) < len(answers):
            log.debug("%s: dropped %d refused address(es)", host, len(answers) - len(allowed))
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _allowed(policy: AddressPolicy, address: str) -> bool:
    try:
        return policy.refusal(ipaddress.ip_address(address)) is None
    except ValueError:
        return False


def guarded_socket_factory(policy: AddressPolicy) -> Callable[[tuple[Any, ...]], socket.socket]:
    """aiohttp `socket_factory`: the last check, on the exact address about to be connected."""

    def make_socket(addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        policy.check(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)

    return make_socket


def guarded_connector(policy: AddressPolicy, **options: Any) -> aiohttp.TCPConnector:
    """A TCPConnector (any TCPConnector option may be passed) that enforces `policy`."""
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(policy),
        socket_factory=guarded_socket_factory(policy),
        **options,
    )


def blocked_error(exc: BaseException) -> BlockedAddressError | None:
    """The guard's refusal behind an aiohttp connection error, if that is what it was."""
    if isinstance(exc, BlockedAddressError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, BlockedAddressError
    ):
        return exc.os_error
    return None


async def check_url(url: str, policy: AddressPolicy, timeout: float = 5.0) -> str | None:
    """Up-front check of a URL a user is adding: the refusal message if every address its host
    resolves to is refused, else None. A host that does not resolve (now) passes: the
    connection-time check decides when it is fetched. Sends nothing to the host."""
    host = urlsplit(url).hostname
    if not host:
        return None
    try:
        async with asyncio.timeout(timeout):
            await GuardedResolver(policy).resolve(host, 0, socket.AF_UNSPEC)
    except BlockedAddressError as exc:
        return str(exc)
    except (OSError, TimeoutError, ValueError):
        return None
    return None
