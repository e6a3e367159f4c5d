"""The gateway's client address: the TCP peer, or Envoy's appended X-Forwarded-For entry when the peer
is a trusted hop; what a client wrote into the header itself is never believed."""

from __future__ import annotations

from typing import Any

from gateway.clientaddr import ClientAddress


def _scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"client": (peer, 50123), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


def test_the_peer_is_the_client_without_a_trusted_hop() -> None:
    """A peer that is not trusted is the client, whatever X-Forwarded-For says."""
    address = ClientAddress(["127.0.0.1"])
    assert address(_scope("203.0.113.9", "10.0.0.1")) == "203.0.113.9"


def test_behind_a_trusted_hop_the_last_forwarded_entry_is_the_client() -> None:
    """Behind Envoy the last entry (the one Envoy appended) wins; earlier, client-written ones do not."""
    address = ClientAddress(["127.0.0.1", "10.0.0.0/8"])
    assert address(_scope("10.1.2.3", "1.2.3.4, 198.51.100.7")) == "198.51.100.7"
    assert address(_scope("127.0.0.1", "1.2.3.4", "2001:db8::1")) == "2001:db8::1"
    # No header, or a header that is not an address: the peer itself.
    assert address(_scope("127.0.0.1")) == "127.0.0.1"
    assert address(_scope("127.0.0.1", "unknown")) == "127.0.0.1"


def test_a_star_trusts_every_peer() -> None:
    """``*`` trusts any peer's header (only where nothing but Envoy reaches the gateway)."""
    assert ClientAddress(["*"])(_scope("192.0.2.2", "198.51.100.7")) == "198.51.100.7"
    assert ClientAddress([])({"headers": []}) == ""


def test_remembered_answers_stay_right_and_bounded() -> None:
    """Answers are remembered per peer and per forwarded entry, the same on every call, and a flood of
    distinct addresses does not grow the memory past its bound."""
    address = ClientAddress(["10.0.0.0/8"])
    for _ in range(3):
        assert address(_scope("10.0.0.1", "198.51.100.7")) == "198.51.100.7"
        assert address(_scope("203.0.113.9", "198.51.100.7")) == "203.0.113.9"
        assert address(_scope("10.0.0.1", "not-an-address")) == "10.0.0.1"
    for n in range(1, 10_001):
        peer = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        assert address(_scope(peer, f"2001:db8::{n:x}")) == f"2001:db8::{n:x}"
    assert len(address._trusted) <= 4096
    assert len(address._normalized) <= 4096
