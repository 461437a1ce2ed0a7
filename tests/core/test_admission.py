"""Admission by proof of work (docs/design.md §3): the difficulty policy, the bounded history of
networks, the check of a proof, and the reference solver."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangers.core.admission import (
    MAX_NONCE_CHARS,
    Admission,
    Challenge,
    DifficultyPolicy,
    NetworkHistory,
    digest,
    leading_zero_bits,
    meets,
    solve,
)
from strangers.core.errors import ProofInvalid, ProofRequired
from strangers.core.network import UNKNOWN_NETWORK

# --- the hash and its zero bits -----------------------------------------------------------


def test_the_digest_is_sha256_of_challenge_colon_nonce_in_utf8():
    expected = hashlib.sha256("é-c:42".encode()).digest()
    assert digest("é-c", "42") == expected


@pytest.mark.parametrize(
    ("value", "zeros"),
    [
        (b"\x80" + bytes(31), 0),
        (b"\x7f" + bytes(31), 1),
        (b"\x01" + bytes(31), 7),
        (b"\x00\x80" + bytes(30), 8),
        (b"\x00\x00\x01" + bytes(29), 23),
        (bytes(31) + b"\x01", 255),
        (bytes(32), 256),
    ],
)
def test_leading_zero_bits_count_across_byte_boundaries(value, zeros):
    assert leading_zero_bits(value) == zeros


@given(st.text(max_size=40), st.text(max_size=64), st.integers(0, 16))
def test_meets_agrees_with_counting_the_zero_bits(challenge, nonce, bits):
    assert meets(challenge, nonce, bits) == (leading_zero_bits(digest(challenge, nonce)) >= bits)


def test_zero_bits_accept_any_nonce_and_256_bits_none_in_practice():
    assert meets("c", "anything", 0)
    assert not meets("c", "anything", 256)
    with pytest.raises(ValueError):
        meets("c", "1", 257)


# --- the solver ------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=40), st.integers(0, 10))
def test_what_solve_finds_verifies_and_is_the_first_such_nonce(challenge, bits):
    nonce = solve(challenge, bits)
    assert meets(challenge, nonce, bits)
    assert all(not meets(challenge, str(n), bits) for n in range(int(nonce)))


def test_solve_is_deterministic_and_can_start_further_on():
    first = solve("abc", 8)
    assert solve("abc", 8) == first
    assert int(solve("abc", 8, start=int(first) + 1)) > int(first)
    with pytest.raises(ValueError):
        solve("abc", 33)


# --- a connection's challenge ----------------------------------------------------------------


def challenge(bits=8, expires_at=100.0):
    return Challenge("c" * 24, bits, expires_at)


def test_a_right_proof_in_time_is_accepted():
    issued = challenge()
    assert issued.check(issued.value, solve(issued.value, 8), now=99.9) is None  # no refusal


def test_a_missing_proof_is_required():
    with pytest.raises(ProofRequired):
        challenge().check(None, None, now=0.0)


def test_a_nonce_short_of_the_bits_is_invalid():
    issued = challenge(bits=12)
    wrong = next(str(n) for n in range(10_000) if not meets(issued.value, str(n), 12))
    with pytest.raises(ProofInvalid):
        issued.check(issued.value, wrong, now=0.0)


def test_a_solution_of_another_challenge_is_invalid():
    issued = challenge()
    other = "d" * 24
    nonce = solve(other, 8)
    assert not meets(issued.value, nonce, 8)  # this test means something only then
    with pytest.raises(ProofInvalid):
        issued.check(other, nonce, now=0.0)


def test_an_expired_challenge_is_invalid_even_with_a_right_nonce():
    issued = challenge(expires_at=100.0)
    nonce = solve(issued.value, 8)
    with pytest.raises(ProofInvalid):
        issued.check(issued.value, nonce, now=100.0)


def test_a_nonce_too_long_is_invalid_whatever_its_hash():
    issued = challenge(bits=0)
    issued.check(issued.value, "x" * MAX_NONCE_CHARS, now=0.0)
    with pytest.raises(ProofInvalid):
        issued.check(issued.value, "x" * (MAX_NONCE_CHARS + 1), now=0.0)


def test_zero_bits_still_need_the_challenge_echoed():
    issued = challenge(bits=0)
    issued.check(issued.value, "0", now=0.0)
    with pytest.raises(ProofInvalid):
        issued.check("made-up", "0", now=0.0)


@pytest.mark.parametrize(("value", "bits"), [("", 8), ("c", -1), ("c", 33), ("c" * 129, 8)])
def test_a_challenge_out_of_bounds_cannot_be_made(value, bits):
    with pytest.raises(ValueError):
        Challenge(value, bits, 1.0)


# --- the difficulty ----------------------------------------------------------------------------


def test_a_quiet_node_and_a_new_network_get_the_base_bits():
    policy = DifficultyPolicy(base_bits=16, max_bits=22, load_knee=100, network_knee=10)
    assert policy.bits(online=0, recent=0) == 16
    assert policy.bits(online=99, recent=9) == 16


def test_load_adds_a_bit_at_the_knee_and_one_more_at_each_doubling():
    policy = DifficultyPolicy(base_bits=16, max_bits=32, load_knee=100, network_knee=10)
    assert [policy.bits(online, 0) for online in (100, 199, 200, 399, 400, 800)] == [
        17,
        17,
        18,
        18,
        19,
        20,
    ]


def test_a_busy_network_adds_bits_the_same_way_on_top_of_the_load():
    policy = DifficultyPolicy(base_bits=16, max_bits=32, load_knee=100, network_knee=10)
    assert [policy.bits(0, recent) for recent in (10, 20, 40)] == [17, 18, 19]
    assert policy.bits(online=200, recent=40) == 16 + 2 + 3


def test_the_bits_never_pass_the_cap():
    policy = DifficultyPolicy(base_bits=16, max_bits=22, load_knee=1, network_knee=1)
    assert policy.bits(online=10**9, recent=10**9) == 22


def test_zero_bits_for_benchmarks_stay_zero_under_any_load():
    policy = DifficultyPolicy(base_bits=0, max_bits=0)
    assert policy.bits(online=10**6, recent=10**6) == 0


@pytest.mark.parametrize(
    "arguments",
    [
        {"base_bits": 17, "max_bits": 16},
        {"base_bits": -1},
        {"max_bits": 33},
        {"load_knee": 0},
        {"network_knee": 0},
    ],
)
def test_a_policy_out_of_bounds_is_refused(arguments):
    with pytest.raises(ValueError):
        DifficultyPolicy(**arguments)


# --- the history of networks ----------------------------------------------------------------


def test_history_counts_a_networks_connections_within_the_window():
    history = NetworkHistory(window=60.0)
    assert [history.record("n:a", t) for t in (0.0, 1.0, 2.0)] == [0, 1, 2]
    assert history.recent("n:a", 2.0) == 3
    assert history.recent("n:b", 2.0) == 0


def test_history_forgets_connections_older_than_the_window():
    history = NetworkHistory(window=60.0)
    for t in (0.0, 10.0, 20.0):
        history.record("n:a", t)
    assert history.recent("n:a", 60.0) == 2  # the one at 0 is just out
    assert history.recent("n:a", 80.0) == 0
    assert history.record("n:a", 80.0) == 0


def test_history_keeps_at_most_capacity_networks_forgetting_the_least_recent():
    history = NetworkHistory(window=600.0, capacity=2)
    history.record("n:a", 0.0)
    history.record("n:b", 1.0)
    history.record("n:a", 2.0)  # a is now the most recent
    history.record("n:c", 3.0)  # b goes
    assert len(history) == 2
    assert history.recent("n:b", 3.0) == 0
    assert history.recent("n:a", 3.0) == 2


def test_history_of_one_network_stays_bounded():
    history = NetworkHistory(window=600.0, per_network=8)
    for t in range(100):
        history.record("n:a", float(t))
    assert history.recent("n:a", 100.0) == 8


@pytest.mark.parametrize("arguments", [{"window": 0.0}, {"capacity": 0}, {"per_network": 0}])
def test_a_history_out_of_bounds_is_refused(arguments):
    with pytest.raises(ValueError):
        NetworkHistory(**arguments)


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.floats(0, 5)), max_size=60))
def test_history_never_holds_more_than_its_bounds(events):
    history = NetworkHistory(window=2.0, capacity=3, per_network=4)
    clock = 0.0
    for network, step in events:
        clock += step
        earlier = history.record(f"n:{network}", clock)
        assert 0 <= earlier <= 4
        assert len(history) <= 3


# --- issuing ------------------------------------------------------------------------------------


def test_admission_asks_more_of_a_network_that_keeps_connecting_until_the_window_passes():
    admission = Admission(
        DifficultyPolicy(base_bits=8, max_bits=12, network_knee=2),
        NetworkHistory(window=60.0),
        lifetime=30.0,
    )
    bits = [admission.issue(f"c{t}", "n:a", online=0, now=float(t)).bits for t in range(5)]
    assert bits == [8, 8, 9, 9, 10]
    assert admission.issue("other", "n:b", online=0, now=4.0).bits == 8
    assert admission.issue("later", "n:a", online=0, now=100.0).bits == 8
    issued = admission.issue("c", "n:c", online=0, now=7.0)
    assert (issued.value, issued.expires_at) == ("c", 37.0)


def test_peers_of_the_unknown_network_do_not_raise_each_others_bits():
    admission = Admission(DifficultyPolicy(base_bits=8, max_bits=12, network_knee=1))
    bits = {admission.issue("c", UNKNOWN_NETWORK, online=0, now=0.0).bits for _ in range(10)}
    assert bits == {8}
    assert len(admission.history) == 0
