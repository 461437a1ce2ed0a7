"""What crosses between gateways decodes to the same core values, and nothing else does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangers.brokers.base import home_of
from strangers.brokers.wire import (
    AgeFact,
    BanFact,
    BlockFact,
    NetworkHoldFact,
    WireError,
    event_from_wire,
    event_to_wire,
    fact_from_wire,
    fact_to_wire,
    loads,
    pair_from_wire,
    pair_to_wire,
)
from strangers.core.age import AgeRecord, DeviceAge, NetworkHold, Stage
from strangers.core.bans import BanEntry
from strangers.core.errors import LimitExceeded, error_for
from strangers.core.matching import Pair, Ticket
from strangers.core.messages import AgeBand, Blur, Mode, Notice, PartnerSignal
from strangers.core.pools import Pool
from strangers.core.switchboard import (
    PeerLeft,
    PeerNotify,
    PeerOwnChecked,
    PeerSignal,
    PeerText,
    PeerTyping,
)

POOL = Pool(AgeBand.TEEN, Mode.VIDEO)


def test_a_pair_crosses_with_waits_rebased_on_the_receivers_clock() -> None:
    a = Ticket("g1-aa~s1", "dev-a", POOL, "fr", frozenset({"chess", "jazz"}), 100.0, 3, "net-a")
    b = Ticket("g2-bb~s2", "dev-b", POOL, "fr", frozenset({"jazz"}), 104.0, 1, "net-b")
    pair = Pair("m-1", a, b, ("jazz",))
    # Sent at 110 on the holder's clock, read at 5000 on the receiver's.
    back = pair_from_wire(loads(json.dumps(pair_to_wire(pair, 110.0))), 5000.0)
    assert back.match == "m-1" and back.common == ("jazz",)
    assert back.a.joined_at == pytest.approx(4990.0) and back.b.joined_at == pytest.approx(4994.0)
    assert (back.a.session, back.a.device, back.a.network, back.a.serial) == (
        "g1-aa~s1",
        "dev-a",
        "net-a",
        3,
    )
    assert back.a.interests == a.interests and back.a.pool == POOL


@pytest.mark.parametrize(
    "event",
    [
        PeerText("m", "g1-a~x", "hé «ok» 👋\u200b", None),
        PeerText("m", "g1-a~x", "call me", "contact"),
        PeerTyping("m", "g1-a~x", True),
        PeerLeft("m", "g1-a~x", None),
        PeerLeft("m", "g1-a~x", "no_face"),
        PeerSignal("m", "g1-a~x", PartnerSignal(kind="candidate", candidate="c", sdp_mid="0")),
        PeerNotify("m", "g1-a~x", Blur(on=True, reason="nudity", match="m")),
        PeerNotify("m", "g1-a~x", Notice(kind="asks_age", match="m")),
        PeerNotify("m", "g1-a~x", Blur(on=True, reason="not_checked", match="m")),
        PeerOwnChecked("m", "g1-a~x"),
    ],
)
def test_every_partner_event_crosses_unchanged(event) -> None:
    to, back = event_from_wire(loads(json.dumps(event_to_wire("g2-b~y", event))))
    assert (to, back) == ("g2-b~y", event)


@pytest.mark.parametrize(
    "fact",
    [
        BlockFact("dev-a", "dev-b"),
        BanFact("dev-a", None, BanEntry("nudity", "C-000001", None)),
        BanFact(None, "net-x", BanEntry("hash", None, datetime(2030, 5, 1, 12, tzinfo=UTC))),
        # A moderator's written reason goes to every gateway with the ban (issue 19).
        BanFact("dev-b", None, BanEntry("Spam or a bot", "S-000002", None, note="Links, twice.")),
        AgeFact("dev-a", DeviceAge(AgeRecord(Stage.TEEN, 1_900_000_000), 1_800_000_000)),
        AgeFact("dev-a", DeviceAge(AgeRecord(Stage.CHILD, 1_900_000_000))),
        AgeFact("dev-a", DeviceAge(teen_barred_until=1_900_000_000)),
        NetworkHoldFact("net-1", NetworkHold(1_800_000_000, 1_800_000_900)),
    ],
)
def test_every_fact_crosses_unchanged(fact) -> None:
    assert fact_from_wire(loads(json.dumps(fact_to_wire(fact)))) == fact


def test_a_ban_note_over_its_bound_is_refused() -> None:
    wire = fact_to_wire(BanFact("dev-b", None, BanEntry("Spam", None, None, note="x")))
    wire["w"] = "x" * 501
    with pytest.raises(WireError, match="note is too long"):
        fact_from_wire(wire)
    wire["w"] = 5
    with pytest.raises(WireError):
        fact_from_wire(wire)


def test_a_pair_across_pools_is_refused() -> None:
    a = Ticket("s1", "a", Pool(AgeBand.ADULT, Mode.TEXT), "en", frozenset(), 0.0)
    b = Ticket("s2", "b", Pool(AgeBand.TEEN, Mode.TEXT), "en", frozenset(), 0.0)
    with pytest.raises(WireError, match="across pools"):
        pair_from_wire(pair_to_wire(Pair("m", a, b, ()), 0.0), 0.0)


def test_a_negative_wait_and_an_unknown_pool_are_refused() -> None:
    a = Ticket("s1", "a", POOL, "en", frozenset(), 0.0)
    wire = pair_to_wire(Pair("m", a, a, ()), 0.0)
    wire["a"]["w"] = -5
    with pytest.raises(WireError):
        pair_from_wire(wire, 0.0)
    wire["a"]["w"], wire["a"]["p"] = 0, "child-text"
    with pytest.raises(WireError, match="unknown pool"):
        pair_from_wire(wire, 0.0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=6)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "t",
        "to",
        "m",
        "f",
        "k",
        "x",
        "h",
        "a",
        "r",
        "g",
        "d",
        "n",
        "c",
        "u",
        "s",
        "l",
        "b",
        "i",
        "w",
        "p",
    ]
)


@given(
    st.dictionaries(keys, json_values, max_size=10),
    st.sampled_from(["relay", "pair", "ban", "age", "hold", "block", None]),
)
def test_any_payload_decodes_to_its_type_or_raises_wire_error(payload, kind) -> None:
    if kind is not None:
        payload["t"] = kind
    decoders = (
        (event_from_wire, tuple),
        (fact_from_wire, (BlockFact, BanFact, AgeFact, NetworkHoldFact)),
        (lambda v: pair_from_wire(v, 0.0), Pair),
    )
    for decode, expected in decoders:
        try:
            decoded = decode(payload)
        except WireError:
            continue
        assert isinstance(decoded, expected)


@given(st.binary(max_size=64))
def test_any_bytes_load_as_an_object_or_raise_wire_error(data) -> None:
    try:
        loaded = loads(data)
    except WireError:
        return
    assert isinstance(loaded, dict)


def test_home_of_names_the_node_in_a_session_id() -> None:
    assert home_of("g1-0a1b2c~tokenXYZ") == "g1-0a1b2c"
    assert home_of("tokenXYZ") == ""


@pytest.mark.parametrize("code", ["match_over", "not_jpeg", "bad_size", "bad_token", "busy"])
def test_a_refusal_forwarded_back_keeps_its_code_and_wait(code) -> None:
    error = error_for(code, "said there", retry_after=2.5)
    assert error.code == code and error.detail == "said there"
    if code == "busy":
        assert isinstance(error, LimitExceeded) and error.retry_after == 2.5


def test_an_unknown_code_comes_back_as_internal_with_no_detail() -> None:
    error = error_for("database_on_fire", "stack trace here")
    assert error.code == "internal" and "stack" not in error.detail


def test_a_wait_note_survives_the_wire_and_a_bad_one_is_refused():
    from strangers.brokers.wire import WireError, note_from_wire, note_to_wire
    from strangers.core.matching import WaitNote

    note = WaitNote("g1~abc", 3, "met_recently")
    assert note_from_wire(note_to_wire(note)) == note
    for bad in (
        {"t": "note", "s": "g1~abc", "n": "3", "w": "nobody"},
        {"t": "note", "s": "g1~abc", "n": True, "w": "nobody"},
        {"t": "note", "s": 7, "n": 3, "w": "nobody"},
        {"t": "note", "s": "g1~abc", "n": 3, "w": "lonely"},
    ):
        with pytest.raises(WireError):
            note_from_wire(bad)
