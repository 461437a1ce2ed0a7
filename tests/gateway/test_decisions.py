"""The gateway's index of decisions waiting for their device's next visit."""

from __future__ import annotations

from strangers.gateway.decisions import DecisionNotices, as_message
from strangers.moderation.records import PendingNotice

WARNING = PendingNotice(1, "device-a", "warning", "S-000001", "Be kind.")
UPHELD = PendingNotice(2, "device-a", "appeal_upheld", "S-000002", "It stands.")
OTHER = PendingNotice(3, "device-b", "appeal_overturned", "S-000003", "Lifted.")


def test_a_visit_takes_its_devices_decisions_oldest_first_and_only_once() -> None:
    notices = DecisionNotices()
    notices.replace([UPHELD, OTHER, WARNING])
    assert notices.take("device-a") == [WARNING, UPHELD]
    assert notices.take("device-a") == []
    assert len(notices) == 1
    assert as_message(OTHER).model_dump() == {
        "type": "decision",
        "kind": "appeal_overturned",
        "case": "S-000003",
        "text": "Lifted.",
    }


def test_a_refresh_before_the_records_are_told_does_not_show_them_again() -> None:
    notices = DecisionNotices()
    notices.replace([WARNING, OTHER])
    taken = notices.take("device-a")
    notices.replace([WARNING, OTHER])  # the records still list it: not marked yet
    assert notices.take("device-a") == []
    notices.settled([n.id for n in taken])
    notices.replace([OTHER])  # marked delivered: gone from the records
    assert notices.take("device-a") == []


def test_decisions_the_records_could_not_mark_come_back_at_the_next_refresh() -> None:
    notices = DecisionNotices()
    notices.add(WARNING)
    taken = notices.take("device-a")
    notices.settled([n.id for n in taken])  # marking failed: still pending in the records
    notices.replace([WARNING])
    assert notices.take("device-a") == [WARNING]
