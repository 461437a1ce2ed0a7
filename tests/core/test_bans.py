"""The in-memory index of bans in force."""

from datetime import UTC, datetime, timedelta

from strangers.core.bans import BanEntry, BanIndex

NOW = datetime(2026, 11, 28, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_ban_is_found_by_device_or_by_network():
    index = BanIndex()
    index.replace(
        [
            ("d1", None, BanEntry("spam", "S-1", NOW + DAY)),
            (None, "n:abc", BanEntry("nudity", None, None)),
        ]
    )
    assert index.lookup("d1", "n:zzz", NOW).reason == "spam"
    assert index.lookup("d2", "n:abc", NOW).reason == "nudity"
    assert index.lookup("d2", "n:zzz", NOW) is None


def test_the_longest_lasting_ban_wins_and_expired_ones_do_not_count():
    index = BanIndex()
    index.replace(
        [
            ("d1", None, BanEntry("short", None, NOW + DAY)),
            ("d1", None, BanEntry("long", None, NOW + 7 * DAY)),
            (None, "n:abc", BanEntry("forever", None, None)),
        ]
    )
    assert index.lookup("d1", "n:zzz", NOW).reason == "long"
    assert index.lookup("d1", "n:abc", NOW).reason == "forever"
    assert index.lookup("d1", "n:zzz", NOW + 8 * DAY) is None


def test_a_refresh_replaces_everything_and_never_indexes_the_unknown_network():
    index = BanIndex()
    index.replace([("d1", "n:unknown", BanEntry("spam", None, None))])
    assert index.lookup("d9", "n:unknown", NOW) is None
    index.replace([])
    assert index.lookup("d1", "n:abc", NOW) is None and len(index) == 0
