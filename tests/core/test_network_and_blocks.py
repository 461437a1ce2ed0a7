"""Keyed network hashes, loopback hosts and the blocklist."""

import pytest

from strangers.core.blocks import Blocklist
from strangers.core.network import is_loopback_host, network_hash

KEY = b"k" * 32


def test_the_hash_hides_the_address_and_is_stable():
    digest = network_hash(KEY, "203.0.113.7")
    assert digest == network_hash(KEY, "203.0.113.7") and "203" not in digest
    assert digest != network_hash(KEY, "203.0.113.8")
    assert digest != network_hash(b"o" * 32, "203.0.113.7")


def test_ipv6_is_hashed_by_its_64():
    assert network_hash(KEY, "2001:db8:1:2::1") == network_hash(KEY, "2001:db8:1:2:ffff::9")
    assert network_hash(KEY, "2001:db8:1:2::1") != network_hash(KEY, "2001:db8:1:3::1")


def test_an_ipv4_mapped_address_is_its_ipv4():
    assert network_hash(KEY, "::ffff:203.0.113.7") == network_hash(KEY, "203.0.113.7")


def test_no_address_is_unknown():
    assert network_hash(KEY, None) == network_hash(KEY, "not an ip") == "n:unknown"


def test_a_block_holds_both_ways():
    blocks = Blocklist([("b", "a")])
    assert blocks.blocked("a", "b") and blocks.blocked("b", "a")
    assert not blocks.blocked("a", "c")
    blocks.add("c", "a")
    assert blocks.blocked("a", "c") and len(blocks) == 2


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        # A name is not an address, whatever it begins with: a domain an attacker owns.
        ("127.example.org", False),
        ("localhost.example.org", False),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("", False),
    ],
)
def test_only_this_machine_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
