"""The neutral age question: what each answer admits, and that a device cannot
answer its way out of a refusal while the lock lasts."""

from datetime import date

import pytest

from strangers.core.age import Admitted, AgeGate, AgeLedger, AgeRecord, Refused, Stage, age_on
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
