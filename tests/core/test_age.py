"""The neutral age question: what each answer admits, and that a device cannot
answer its way out of a refusal while the lock lasts."""

from datetime import date

import pytest

from strangers.core.age import (
    Admitted,
    AgeChanges,
    AgeGate,
    AgeLedger,
    AgeRecord,
    DeviceAge,
    Refused,
    Stage,
    age_on,
)
from strangers.core.messages import AgeBand

TODAY = date(2026, 11, 28)
NOW = 1_800_000_000
DAY = 86_400


@pytest.mark.parametrize(
    ("year", "month", "age"),
    [(2008, 10, 18), (2008, 11, 17), (2008, 12, 17), (2013, 10, 13), (2013, 11, 12), (1990, 1, 36)],
)
def test_age_never_counts_a_birthday_that_may_not_have_come(year, month, age):
    assert age_on(year, month, TODAY) == age


def decide(gate, year, month=1, earlier=None, now=NOW):
    return gate.decide(year, month, earlier, today=TODAY, now=now)


def test_adults_are_admitted_to_the_adult_pool():
    result = decide(AgeGate(), 1990)
    assert isinstance(result, Admitted) and result.band is AgeBand.ADULT


def test_under_13_is_refused_and_locked_for_a_day():
    result = decide(AgeGate(), 2016)
    assert isinstance(result, Refused) and result.reason == "too_young"
    assert result.record == AgeRecord(Stage.CHILD, NOW + DAY)


def test_teens_are_refused_while_the_teen_pool_is_off():
    result = decide(AgeGate(), 2011)
    assert isinstance(result, Refused) and result.reason == "adults_only"


def test_teens_go_to_the_teen_pool_when_it_is_on():
    result = decide(AgeGate(teen_pool=True), 2011)
    assert isinstance(result, Admitted) and result.band is AgeBand.TEEN


def test_a_locked_device_cannot_answer_older():
    gate = AgeGate(teen_pool=True)
    refused = decide(gate, 2016)
    retried = decide(gate, 1990, earlier=refused.record, now=NOW + 60)
    assert isinstance(retried, Refused) and retried.reason == "too_young"
    assert retried.record == refused.record  # the lock is not extended by retrying
    teen = decide(gate, 2011)
    as_adult = decide(gate, 1990, earlier=teen.record, now=NOW + 60)
    assert isinstance(as_adult, Admitted) and as_adult.band is AgeBand.TEEN


def test_a_younger_answer_takes_effect_at_once():
    gate = AgeGate()
    adult = decide(gate, 1990)
    child = decide(gate, 2016, earlier=adult.record, now=NOW + 5)
    assert isinstance(child, Refused) and child.reason == "too_young"


def test_the_lock_ends_after_its_hours():
    gate = AgeGate(lock_hours=24)
    refused = decide(gate, 2016)
    later = decide(gate, 1990, earlier=refused.record, now=NOW + DAY)
    assert isinstance(later, Admitted) and later.band is AgeBand.ADULT


def test_ledger_keeps_the_youngest_live_record():
    ledger = AgeLedger()
    child = AgeRecord(Stage.CHILD, NOW + DAY)
    ledger.remember("d1", child, NOW)
    assert ledger.youngest("d1", None, NOW) == child
    # a replayed older token with an adult record does not undo it
    assert ledger.youngest("d1", AgeRecord(Stage.ADULT, NOW + DAY), NOW) == child
    assert ledger.youngest("d1", None, NOW + DAY) is None
    ledger.prune(NOW + DAY)
    assert len(ledger) == 0


def test_lock_hours_must_be_positive():
    with pytest.raises(ValueError):
        AgeGate(lock_hours=0)


# --- the state of a device and its network (docs/safety.md, "Age") -------------------

HOLD = 15 * 60


def admit(gate, ledger, year, *, device="d1", carried=None, network="net", now=NOW):
    return gate.admit(ledger, device, carried, network, year, 1, today=TODAY, now=now)


def test_a_child_answer_holds_its_network_against_new_adult_devices():
    gate, ledger = AgeGate(), AgeLedger()
    refused = admit(gate, ledger, 2015, device="kid")
    assert isinstance(refused, Refused) and refused.reason == "too_young"
    # The same child, storage cleared: a new device from the same network, now "1990".
    fresh = admit(gate, ledger, 1990, device="fresh", now=NOW + 60)
    assert isinstance(fresh, Refused) and fresh.reason == "age_check"
    assert fresh.until == NOW + HOLD
    # Only for the hold: then the network is open to new devices again.
    later = admit(gate, ledger, 1990, device="fresh", now=NOW + HOLD)
    assert isinstance(later, Admitted) and later.band is AgeBand.ADULT


def test_a_network_hold_does_not_touch_adults_known_before_it_or_other_networks():
    gate, ledger = AgeGate(teen_pool=True), AgeLedger()
    known = admit(gate, ledger, 1990, device="parent", now=NOW - DAY)
    admit(gate, ledger, 2015, device="kid")
    back = admit(gate, ledger, 1990, device="parent", carried=known.record, now=NOW + 60)
    assert isinstance(back, Admitted) and back.band is AgeBand.ADULT
    # The first adult answer is kept, so the parent stays "known" visit after visit.
    assert back.record == known.record
    again = admit(gate, ledger, 1990, device="parent", carried=back.record, now=NOW + 120)
    assert isinstance(again, Admitted)
    elsewhere = admit(gate, ledger, 1990, device="other", network="net-2", now=NOW + 60)
    assert isinstance(elsewhere, Admitted)
    teen = admit(gate, ledger, 2011, device="teen", now=NOW + 60)
    assert isinstance(teen, Admitted) and teen.band is AgeBand.TEEN


def test_an_adult_token_made_after_the_hold_began_is_not_known_there():
    gate, ledger = AgeGate(), AgeLedger()
    admit(gate, ledger, 2015, device="kid")
    # A token minted elsewhere after the child's answer: it proves nothing here.
    minted = AgeRecord(Stage.ADULT, NOW + 30)
    again = admit(gate, ledger, 1990, device="kid-2", carried=minted, now=NOW + 60)
    assert isinstance(again, Refused) and again.reason == "age_check"


def test_no_network_and_a_zero_hold_hold_nothing():
    gate, ledger = AgeGate(network_hold_minutes=0), AgeLedger()
    admit(gate, ledger, 2015, device="kid")
    assert isinstance(admit(gate, ledger, 1990, device="fresh"), Admitted)
    gate, ledger = AgeGate(), AgeLedger()
    admit(gate, ledger, 2015, device="kid", network=None)
    assert isinstance(admit(gate, ledger, 1990, device="fresh", network=None), Admitted)


def test_a_minor_statement_locks_the_device_rechecks_it_and_holds_the_network():
    gate, ledger = AgeGate(recheck_minutes=10), AgeLedger()
    gate.restage(ledger, "d1", "net", 14, now=NOW)
    assert ledger.refusal_for("d1", AgeBand.ADULT, NOW, teen_pool=False) == (
        "age_check",
        NOW + 600,
    )
    after = admit(gate, ledger, 1990, now=NOW + 600)
    assert isinstance(after, Refused) and after.reason == "adults_only"
    assert after.record.stage is Stage.TEEN
    fresh = admit(gate, ledger, 1990, device="fresh", now=NOW + 60)
    assert isinstance(fresh, Refused) and fresh.reason == "age_check"


def test_an_adult_statement_bars_the_device_from_the_teen_pool_only():
    gate, ledger = AgeGate(teen_pool=True), AgeLedger()
    gate.bar_from_teen(ledger, "d1", now=NOW)
    assert ledger.refusal_for("d1", AgeBand.TEEN, NOW, teen_pool=True) == ("age_check", NOW + DAY)
    assert ledger.refusal_for("d1", AgeBand.ADULT, NOW, teen_pool=True) is None
    adult = admit(gate, ledger, 1990, now=NOW + 60)
    assert isinstance(adult, Admitted) and adult.band is AgeBand.ADULT
    teen = admit(gate, ledger, 2011, now=NOW + 120)
    assert isinstance(teen, Refused) and teen.reason == "age_check"
    assert teen.until == NOW + DAY
    # The teen answer locks the device as a teen as well: out of both pools now.
    assert ledger.refusal_for("d1", AgeBand.ADULT, NOW + 120, teen_pool=True) is not None


@pytest.mark.parametrize(
    ("teen_pool", "band", "expected"),
    [
        (False, AgeBand.ADULT, ("adults_only", NOW + DAY)),
        (True, AgeBand.ADULT, ("age_check", NOW)),  # asked again at once: teen pool only
        (True, AgeBand.TEEN, None),
    ],
)
def test_a_teen_lock_takes_every_session_out_of_the_adult_pool(teen_pool, band, expected):
    ledger = AgeLedger()
    ledger.remember("d1", AgeRecord(Stage.TEEN, NOW + DAY), NOW)
    assert ledger.refusal_for("d1", band, NOW, teen_pool=teen_pool) == expected


def test_a_child_lock_refuses_every_band():
    ledger = AgeLedger()
    ledger.remember("d1", AgeRecord(Stage.CHILD, NOW + DAY), NOW)
    for band in AgeBand:
        assert ledger.refusal_for("d1", band, NOW, teen_pool=True) == ("too_young", NOW + DAY)


def test_changes_are_taken_once_and_merged_state_is_not_a_change():
    ledger = AgeLedger()
    ledger.remember("d1", AgeRecord(Stage.TEEN, NOW + DAY), NOW)
    ledger.hold_network("net", NOW, NOW + HOLD)
    changes = ledger.take_changes()
    assert set(changes.devices) == {"d1"} and set(changes.networks) == {"net"}
    assert not ledger.take_changes()
    other = AgeLedger()
    assert other.merge(changes) == ["d1"]
    assert not other.take_changes()  # shared state is not shared back
    assert other.merge(changes) == []  # nothing stricter the second time


def test_merging_never_loosens_a_device():
    ledger = AgeLedger()
    ledger.remember("d1", AgeRecord(Stage.CHILD, NOW + DAY), NOW)
    ledger.bar_from_teen("d1", NOW + DAY)
    older = DeviceAge(AgeRecord(Stage.TEEN, NOW + 2 * DAY), recheck_until=NOW + 60)
    ledger.merge(AgeChanges({"d1": older}, {}))
    state = ledger.state("d1")
    assert state.record == AgeRecord(Stage.CHILD, NOW + DAY)
    assert (state.recheck_until, state.teen_barred_until) == (NOW + 60, NOW + DAY)
    ledger.prune(NOW + DAY)
    assert len(ledger) == 0
