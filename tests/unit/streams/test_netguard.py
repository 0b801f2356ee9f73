"""The SSRF guard's address classification, allow-lists and resolver filtering (pure logic:
the connection-time behaviour against real sockets is in tests/integration/poller)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from newswatch.streams.netguard import (
    REASONS,
    AddressPolicy,
    BlockedAddressError,
    GuardedResolver,
    blocked_reason,
    guarded_socket_factory,
    parse_networks,
)

BLOCKED = [
    # IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.169.254", "link_local"),  # cloud metadata service
    ("169.254.0.1", "link_local"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.170", "reserved"),
    ("192.0.2.10", "reserved"),
    ("192.88.99.1", "reserved"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "reserved"),
    ("198.19.255.255", "reserved"),
    ("198.51.100.7", "reserved"),
    ("203.0.113.9", "reserved"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "private"),
    ("fd12:3456:789a::1", "private"),
    ("fe80::1", "link_local"),
    ("fe80::1%2", "link_local"),  # with a zone index
    ("febf::1", "link_local"),
    ("fec0::1", "private"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "reserved"),
    ("2001::1", "reserved"),  # Teredo
    ("3fff::1", "reserved"),
    ("100::1", "reserved"),
    ("64:ff9b:1::1", "private"),
    ("4000::1", "reserved"),  # outside global unicast 2000::/3
    ("::ffff:0:7f00:1", "reserved"),  # IPv4-translated (SIIT)
    # IPv4 in IPv6 clothing: judged by the IPv4 address inside
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:7f00:1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:169.254.169.254", "link_local"),
    ("::ffff:100.64.0.1", "cgnat"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible
    ("::192.168.0.1", "private"),
    ("::8.8.8.8", "reserved"),  # IPv4-compatible is deprecated, never routed
    ("64:ff9b::127.0.0.1", "loopback"),  # NAT64
    ("64:ff9b::a9fe:a9fe", "link_local"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
]

ALLOWED = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above
    "172.15.255.255",
    "172.32.0.0",
    "192.169.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # mapped public address: that public host
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_special_addresses_are_refused_with_their_reason(address: str, reason: str) -> None:
    assert reason in REASONS
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_deny_by_default_policy_refuses_and_counts() -> None:
    from prometheus_client import REGISTRY

    labels = {"client": "poller", "reason": "link_local"}
    before = REGISTRY.get_sample_value("newswatch_ssrf_blocked_total", labels)
    policy = AddressPolicy("poller")
    with pytest.raises(BlockedAddressError) as info:
        policy.check("169.254.169.254", "metadata.internal")
    assert info.value.reason == "link_local"
    message = str(info.value)
    assert message.startswith("metadata.internal (169.254.169.254): link-local address refused")
    assert "NEWSWATCH_POLLER__ALLOWED_NETWORKS" in message
    assert REGISTRY.get_sample_value("newswatch_ssrf_blocked_total", labels) == before + 1
    policy.check("8.8.8.8")  # no error


def test_allowed_networks_are_narrow_and_cover_the_mapped_form() -> None:
    policy = AddressPolicy("poller", allowed_networks=tuple(parse_networks(["127.0.0.2/32"])))
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.2")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) == "loopback"
    assert policy.refusal(ipaddress.ip_address("::1")) == "loopback"
    v6 = AddressPolicy("webhooks", allowed_networks=tuple(parse_networks(["fd00:1::/64"])))
    assert v6.refusal(ipaddress.ip_address("fd00:1::5")) is None
    assert v6.refusal(ipaddress.ip_address("fd00:2::5")) == "private"
    assert "NEWSWATCH_WEBHOOKS__" in v6.hint


def test_allow_private_networks_turns_the_check_off_for_that_client() -> None:
    policy = AddressPolicy("poller", allow_private_networks=True)
    for address, _ in BLOCKED:
        assert policy.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("127.0.0.1/8", "host bits set"),
        ("10.0.0.0/33", "not a network"),
        ("localhost", "not a network"),
        ("", "not a network"),
    ],
)
def test_parse_networks_names_the_bad_value(value: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_networks([value])


def test_parse_networks_accepts_bare_addresses() -> None:
    assert parse_networks(["127.0.0.1", " ::1 ", "10.0.0.0/8"]) == [
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("10.0.0.0/8"),
    ]


class _FixedResolver:
    """Stands in for DNS: answers each name with the given addresses."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        return [
            {"hostname": host, "host": a, "port": port, "family": 0, "proto": 0, "flags": 0}
            for a in self.answers[host]
        ]

    async def close(self) -> None:
        pass


async def test_resolver_drops_refused_answers_and_refuses_when_none_is_left() -> None:
    inner = _FixedResolver(
        {
            "mixed.example": ["10.0.0.5", "93.184.215.14", "::ffff:127.0.0.1"],
            "rebound.example": ["127.0.0.1", "::1"],
        }
    )
    resolver = GuardedResolver(AddressPolicy("poller"), inner)  # type: ignore[arg-type]
    answers = await resolver.resolve("mixed.example", 80)
    assert [a["host"] for a in answers] == ["93.184.215.14"]
    with pytest.raises(BlockedAddressError, match=r"rebound.example \(127.0.0.1\): loopback"):
        await resolver.resolve("rebound.example", 80)


def test_socket_factory_refuses_before_a_socket_exists() -> None:
    make = guarded_socket_factory(AddressPolicy("poller"))
    with pytest.raises(BlockedAddressError):
        make((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", 80, 0, 0)))
    sock = make((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 80)))
    sock.close()
