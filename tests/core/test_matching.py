"""The matchmaker's rules, one behaviour each (docs/design.md §4)."""

from strangers.core.matching import Level, Matchmaker, MatchRules
from strangers.core.messages import AgeBand, Mode

from .helpers import ticket

RULES = MatchRules(interest_timeout=10.0, language_timeout=5.0, repair_cooldown=1800.0)


def sessions(pair):
    return {pair.a.session, pair.b.session}


def test_two_strangers_pair_at_once():
    mm = Matchmaker(RULES)
    assert mm.join(ticket("a"), 0.0) == []
    [pair] = mm.join(ticket("b"), 0.0)
    assert sessions(pair) == {"a", "b"} and pair.a.session == "a"
    assert mm.waiting_count() == 0


def test_pools_never_mix_even_after_every_timeout():
    mm = Matchmaker(RULES)
    mm.join(ticket("adult", band=AgeBand.ADULT), 0.0)
    mm.join(ticket("teen", band=AgeBand.TEEN), 0.0)
    mm.join(ticket("video", mode=Mode.VIDEO), 0.0)
    assert mm.tick(10_000.0) == []
    assert mm.waiting_count() == 3


def test_two_tabs_of_one_device_never_pair():
    mm = Matchmaker(RULES)
    mm.join(ticket("tab1", device="d"), 0.0)
    assert mm.join(ticket("tab2", device="d"), 0.0) == []
    assert mm.tick(100.0) == []


def test_blocked_devices_never_pair():
    mm = Matchmaker(RULES, blocked=lambda a, b: {a, b} == {"dev-a", "dev-b"})
    mm.join(ticket("a"), 0.0)
    assert mm.join(ticket("b"), 0.0) == []
    [pair] = mm.join(ticket("c"), 0.0)
    assert sessions(pair) == {"a", "c"}


def test_the_same_two_devices_wait_out_the_cooldown():
    mm = Matchmaker(RULES)
    mm.join(ticket("a"), 0.0)
    mm.join(ticket("b"), 0.0)
    assert mm.join(ticket("a2", device="dev-a", at=1.0), 1.0) == []
    assert mm.join(ticket("b2", device="dev-b", at=1.0), 1.0) == []
    assert mm.tick(1000.0) == []
    [pair] = mm.tick(1801.0)
    assert sessions(pair) == {"a2", "b2"}


def test_shared_interests_come_before_an_earlier_stranger():
    mm = Matchmaker(RULES)
    mm.join(ticket("plain", at=0.0), 0.0)
    mm.join(ticket("cat", at=1.0, interests={"cats"}), 1.0)
    [pair] = mm.join(ticket("cat2", at=2.0, interests={"cats"}), 2.0)
    assert sessions(pair) == {"cat", "cat2"} and pair.common == ("cats",)
    assert not pair.fallback_for(pair.a)


def test_most_shared_interests_first_then_longest_waiting():
    mm = Matchmaker(RULES)
    mm.join(ticket("one", at=0.0, interests={"a"}), 0.0)
    mm.join(ticket("two-late", at=2.0, interests={"a", "b"}), 2.0)
    mm.join(ticket("two-early", at=1.0, device="x", interests={"a", "b"}), 2.5)
    [pair] = mm.join(ticket("me", at=3.0, interests={"a", "b", "c"}), 3.0)
    assert sessions(pair) == {"me", "two-early"} and pair.common == ("a", "b")


def test_interests_fall_back_to_a_random_stranger_after_the_timeout():
    mm = Matchmaker(RULES)
    mm.join(ticket("x", interests={"chess"}), 0.0)
    assert mm.join(ticket("y", interests={"golf"}), 0.0) == []
    assert mm.tick(9.9) == []
    assert mm.level_of("x") is Level.INTERESTS
    [pair] = mm.tick(10.0)
    assert sessions(pair) == {"x", "y"} and pair.common == ()
    assert pair.fallback_for(pair.a) and pair.fallback_for(pair.b)


def test_a_chatter_with_interests_is_not_taken_by_a_plain_one_before_the_timeout():
    mm = Matchmaker(RULES)
    mm.join(ticket("x", interests={"chess"}), 0.0)
    assert mm.join(ticket("plain", at=1.0), 1.0) == []
    [pair] = mm.tick(10.0)
    assert sessions(pair) == {"x", "plain"} and pair.fallback_for(
        pair.a if pair.a.session == "x" else pair.b
    )


def test_same_language_first_then_anyone():
    mm = Matchmaker(RULES)
    mm.join(ticket("fr", language="fr"), 0.0)
    assert mm.join(ticket("en", language="en", at=1.0), 1.0) == []
    [pair] = mm.join(ticket("fr2", language="fr", at=2.0), 2.0)
    assert sessions(pair) == {"fr", "fr2"}
    mm.join(ticket("de", language="de", at=3.0), 3.0)
    assert mm.tick(5.9) == []  # "en" opened to anyone at 6.0, "de" not until 8.0
    assert mm.tick(6.0) == []
    [pair] = mm.tick(8.0)
    assert sessions(pair) == {"en", "de"}


def test_leaving_takes_a_ticket_out_of_every_index():
    mm = Matchmaker(RULES)
    mm.join(ticket("x", interests={"chess"}), 0.0)
    assert mm.leave("x").session == "x"
    assert mm.leave("x") is None
    assert mm.join(ticket("y", interests={"chess"}), 0.0) == []
    assert mm.tick(100.0) == []


def test_joining_again_replaces_the_earlier_ticket():
    mm = Matchmaker(RULES)
    mm.join(ticket("x", serial=1), 0.0)
    mm.join(ticket("x", serial=2), 0.0)
    assert mm.waiting_count() == 1 and mm.waiting("x").serial == 2


def test_rules_refuse_negative_timeouts():
    import pytest

    with pytest.raises(ValueError):
        MatchRules(interest_timeout=-1)


def test_trying_it_alone_lets_two_tabs_meet_and_meet_again():
    mm = Matchmaker(MatchRules(same_device=True))
    mm.join(ticket("tab1", device="d"), 0.0)
    assert len(mm.join(ticket("tab2", device="d"), 0.0)) == 1
    mm.join(ticket("tab1", device="d", at=1.0), 1.0)
    assert len(mm.join(ticket("tab2", device="d", at=1.0), 1.0)) == 1


def test_a_remembered_cooldown_keeps_two_devices_apart_until_it_ends():
    mm = Matchmaker(MatchRules(repair_cooldown=100.0))
    mm.remember("dev-a", "dev-b", until=50.0)
    assert mm.join(ticket("a", at=0.0), 0.0) == []
    assert mm.join(ticket("b", at=1.0), 1.0) == []
    assert mm.tick(49.9) == []
    [pair] = mm.tick(50.0)
    assert {pair.a.session, pair.b.session} == {"a", "b"}


def test_a_remembered_cooldown_never_shortens_one_already_running():
    mm = Matchmaker(MatchRules(repair_cooldown=100.0))
    mm.remember("dev-a", "dev-b", until=80.0)
    mm.remember("dev-b", "dev-a", until=20.0)
    assert mm.recently_paired("dev-a", "dev-b", 79.0)
    mm.remember("dev-a", "dev-a", until=80.0)  # a device with itself is no pair
    assert not mm.recently_paired("dev-a", "dev-a", 1.0)
