"""Casework at volume (issue 19; docs/moderation.md, "The queue", "Claims", "Actions"):
the queue's filters, search and server-side pages; claims that lapse, assignment and
release; a decision refused on a case someone else holds; decide-and-next; the
confirmations the records require; a ban's written reason; the incident type chosen at
escalation. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.core.reports import Party, ReportReason
from strangers.moderation import RecordError, Records, casework
from strangers.moderation import tables as t
from strangers.moderation.accounts import Accounts
from strangers.moderation.casework import CLAIM_TTL, QueueFilter
from strangers.moderation.cybertip import (
    CHILD_PORNOGRAPHY,
    MISLEADING_WORDS_OR_IMAGES,
    ReporterInfo,
    build_package,
)

from .helpers import all_rows
from .test_casework import NOW, REPORTED, report

LATER = NOW + timedelta(minutes=5)


def party(n: int) -> Party:
    return Party(device=f"dev-{n:04d}_x", network=f"net-{n:04d}" + "e" * 56, session=f"s-{n}")


async def file_many(records: Records, count: int, **kwargs: object) -> list[str]:
    return [
        await records.reports.file(
            report(reported=party(n), match=f"m-{n}", **kwargs),  # type: ignore[arg-type]
            now=NOW + timedelta(seconds=n),
        )
        for n in range(count)
    ]


# The view


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, QueueFilter()),
        ({"q": " S-000042 ", "kind": "report"}, QueueFilter(search="S-000042", kind="report")),
        ({"pool": "teen-text", "severity": "70"}, QueueFilter(pool="teen-text", severity=70)),
        ({"state": "all", "claim": "mine"}, QueueFilter(state="all", claim="mine")),
        ({"page": "3", "per_page": "25"}, QueueFilter(page=3, per_page=25)),
    ],
)
def test_a_view_reads_its_query(params: dict[str, str], expected: QueueFilter) -> None:
    assert QueueFilter.parse(params) == expected
    assert QueueFilter.parse(expected.params()) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "robot"},
        {"pool": "adult-audio"},
        {"severity": "33"},
        {"severity": "-1"},
        {"severity": "1e2"},
        {"state": "deleted"},
        {"claim": "theirs"},
        {"page": "0"},
        {"page": "x"},
        {"page": "99999999"},
        {"page": "٣"},  # a digit, but not an ASCII one
        {"per_page": "1000"},
        {"per_page": "26"},
        {"q": "abc"},  # too short to be an identifier prefix
        {"q": "x" * 129},
        {"q": "' OR 1=1 --"},
        {"q": "dev%"},
        {"q": "dev-0001\x00"},
    ],
)
def test_a_view_out_of_its_lists_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(RecordError) as refused:
        QueueFilter.parse(params)
    assert refused.value.code == "invalid"


async def test_the_queue_pages_on_the_server_in_a_stable_order(records: Records) -> None:
    numbers = await file_many(records, 7)
    view = QueueFilter(per_page=25)
    first = await casework.queue(records, view, now=LATER)
    assert first.total == 7 and first.pages == 1 and first.waiting == 7 == first.unclaimed
    assert [item.number for item in first.items] == numbers  # one severity: oldest first

    small = dataclasses.replace(view, per_page=25)
    many = await file_many(records, 30, reason=ReportReason.SPAM)
    pages = [
        await casework.queue(records, dataclasses.replace(small, page=page), now=LATER)
        for page in (1, 2)
    ]
    listed = [item.number for page in pages for item in page.items]
    assert listed == numbers + many  # harassment (50) before spam (20), each oldest first
    assert [page.pages for page in pages] == [2, 2]
    with pytest.raises(RecordError) as past:
        await casework.queue(records, dataclasses.replace(small, page=3), now=LATER)
    assert past.value.code == "invalid"


async def test_search_finds_a_case_by_number_device_or_network_and_never_by_wildcard(
    records: Records,
) -> None:
    numbers = await file_many(records, 12)

    async def found(search: str, **filters: object) -> list[str]:
        view = QueueFilter(search=search, **filters)  # type: ignore[arg-type]
        return [item.number for item in (await casework.queue(records, view, now=LATER)).items]

    assert await found(numbers[3]) == [numbers[3]]
    assert await found(numbers[3].lower()) == [numbers[3]]
    assert await found(str(int(numbers[3][2:]))) == [numbers[3]]  # "4" is S-000004
    assert await found("dev-0007_x") == [numbers[7]]
    assert await found("dev-0007") == [numbers[7]]  # a prefix
    assert await found("net-0011") == [numbers[11]]
    assert await found("dev-alice") == numbers  # the reporter's side too
    # "_" is a character here, not LIKE's any-character: "dev-000_" matches no device.
    assert await found("dev-000_") == []
    assert await found("dev-0007", kind="automatic") == []
    await casework.act(records, numbers[7], "dismiss", actor="mod-a", now=LATER)
    assert await found("dev-0007") == []  # closed: not waiting
    assert await found("dev-0007", state="all") == [numbers[7]]


async def test_filters_narrow_by_kind_pool_severity_and_state(records: Records) -> None:
    low = await records.reports.file(report(ReportReason.SPAM), now=NOW)
    teen = await records.reports.file(
        dataclasses.replace(report(match="m-t"), pool="teen-text"), now=NOW
    )
    high = await records.reports.file(report(ReportReason.UNDERAGE, match="m-u"), now=NOW)

    async def listed(**filters: object) -> list[str]:
        view = QueueFilter(**filters)  # type: ignore[arg-type]
        return [item.number for item in (await casework.queue(records, view, now=LATER)).items]

    assert await listed() == [high, teen, low]
    assert await listed(pool="teen-text") == [teen]
    assert await listed(severity=70) == [high]
    assert await listed(kind="automatic") == []
    await casework.act(records, low, "dismiss", actor="mod-a", now=LATER)
    assert await listed(state="dismissed") == [low]
    assert await listed(state="waiting") == [high, teen]


# Claims


async def test_a_claim_holds_a_case_until_it_lapses(records: Records, engine: AsyncEngine) -> None:
    (number,) = await file_many(records, 1)
    claim = await casework.claim(records, number, actor="mod-a", now=NOW)
    assert (claim.holder, claim.until) == ("mod-a", NOW + CLAIM_TTL)
    view = await casework.case(records, number, now=LATER)
    assert view.claim is not None and view.claim.holder == "mod-a"

    with pytest.raises(RecordError) as taken:
        await casework.claim(records, number, actor="mod-b", now=LATER)
    assert taken.value.code == "not_allowed" and "mod-a holds this case" in taken.value.detail
    for action, kwargs in (
        ("dismiss", {}),
        ("warn", {"text": "Be kind."}),
        ("ban", {"duration": "1h"}),
        ("escalate", {"confirm": "escalate", "incident_type": MISLEADING_WORDS_OR_IMAGES}),
    ):
        before = await all_rows(engine)
        with pytest.raises(RecordError) as refused:
            await casework.act(records, number, action, actor="mod-b", now=LATER, **kwargs)
        assert refused.value.code == "not_allowed", action
        assert await all_rows(engine) == before, action
    # A note is not a decision: anyone may add one.
    await casework.act(records, number, "note", actor="mod-b", now=LATER, text="seen it")

    # Renewing one's own claim is not a new claim; once lapsed, anyone may take it.
    await casework.claim(records, number, actor="mod-a", now=LATER)
    lapsed = LATER + CLAIM_TTL
    assert (await casework.case(records, number, now=lapsed)).claim is None
    held = await casework.queue(records, QueueFilter(claim="unclaimed"), now=lapsed)
    assert [item.number for item in held.items] == [number]
    await casework.claim(records, number, actor="mod-b", now=lapsed)
    await casework.act(records, number, "dismiss", actor="mod-b", now=lapsed)
    # The decision ended the claim.
    assert (await casework.case(records, number, now=lapsed)).claim is None
    audit = [(e.actor, e.action) for e in (await casework.case(records, number, now=lapsed)).audit]
    assert audit.count(("mod-a", "case.claimed")) == 1
    assert ("mod-b", "case.claimed") in audit


async def test_a_lead_assigns_and_the_holder_releases(records: Records) -> None:
    accounts = Accounts(records)
    await accounts.add("lead", "a long enough password", "admin", totp=False, now=NOW)
    await accounts.add("mod-c", "another long password", "moderator", totp=False, now=NOW)
    (number,) = await file_many(records, 1)
    await casework.claim(records, number, actor="mod-a", now=NOW)
    await casework.assign(records, number, to="mod-c", actor="lead", now=LATER)
    view = await casework.case(records, number, now=LATER)
    assert view.claim is not None and view.claim.holder == "mod-c"
    mine = await casework.queue(records, QueueFilter(claim="mine"), actor="mod-c", now=LATER)
    assert [item.number for item in mine.items] == [number]
    assert mine.items[0].holder == "mod-c"
    with pytest.raises(RecordError) as nobody:
        await casework.assign(records, number, to="nobody-here", actor="lead", now=LATER)
    assert nobody.value.code == "invalid"
    with pytest.raises(RecordError) as not_theirs:
        await casework.release(records, number, actor="mod-a", now=LATER)
    assert not_theirs.value.code == "not_allowed"
    await casework.release(records, number, actor="mod-c", now=LATER)
    assert (await casework.case(records, number, now=LATER)).claim is None
    entries = [(e.actor, e.action, e.detail) for e in view.audit]
    assert ("lead", "case.assigned", {"holder": "mod-c", "previous": "mod-a"}) in entries


async def test_next_case_claims_the_first_free_case_of_the_view(records: Records) -> None:
    first, second, third = await file_many(records, 3)
    await casework.claim(records, first, actor="mod-b", now=NOW)
    view = QueueFilter()
    assert await casework.next_case(records, view, actor="mod-a", now=LATER) == second
    # Already holding it counts as free for its holder; skipping it gives the next.
    assert await casework.next_case(records, view, actor="mod-a", now=LATER) == second
    assert await casework.next_case(records, view, actor="mod-a", now=LATER, skip=second) == third
    assert (
        await casework.next_case(records, QueueFilter(pool="teen-text"), actor="mod-a", now=LATER)
        is None
    )


# What a decision needs


async def test_long_bans_and_escalation_need_their_confirmation(
    records: Records, engine: AsyncEngine
) -> None:
    (number,) = await file_many(records, 1)
    before = await all_rows(engine)
    for kwargs in (
        {"action": "ban", "duration": "7d"},
        {"action": "ban", "duration": "permanent", "confirm": "7d"},
        {"action": "escalate", "incident_type": CHILD_PORNOGRAPHY},
        {"action": "escalate", "incident_type": CHILD_PORNOGRAPHY, "confirm": "yes"},
    ):
        action = str(kwargs.pop("action"))
        with pytest.raises(RecordError) as refused:
            await casework.act(records, number, action, actor="mod-a", now=LATER, **kwargs)
        assert refused.value.code == "invalid" and "confirmed" in refused.value.detail
    assert await all_rows(engine) == before
    # 24 hours or less is taken at once.
    await casework.act(records, number, "ban", actor="mod-a", now=LATER, duration="24h")


async def test_a_written_reason_goes_with_the_ban(records: Records, engine: AsyncEngine) -> None:
    number = await records.reports.file(report(), now=NOW)
    written = "Insults <b>twice</b> after a warning."
    outcome = await casework.act(
        records, number, "ban", actor="mod-a", now=LATER, duration="24h", text=f"  {written} "
    )
    assert outcome.ban is not None and outcome.ban.note == written
    ((device, _, notice),) = await records.bans.active(now=LATER)
    assert (device, notice.note) == (REPORTED.device, written)
    view = await casework.case(records, number, now=LATER)
    assert view.actions[-1].detail["note"] == written
    # None without one, and never more than 500 characters.
    other = await records.reports.file(report(match="m-2"), now=NOW)
    plain = await casework.act(records, other, "ban", actor="mod-a", now=LATER, duration="1h")
    assert plain.ban is not None and plain.ban.note is None
    before = await all_rows(engine)
    with pytest.raises(RecordError):
        await casework.act(
            records, other, "ban", actor="mod-a", now=LATER, duration="1h", text="x" * 501
        )
    assert await all_rows(engine) == before


async def test_the_incident_type_chosen_at_escalation_is_the_one_reported(
    records: Records,
) -> None:
    number = await records.reports.file(report(ReportReason.OTHER), now=NOW)
    view = await casework.case(records, number, now=NOW)
    assert view.default_incident_type is None  # an "Other" report: no default
    with pytest.raises(RecordError) as unchosen:
        await casework.act(
            records, number, "escalate", actor="mod-a", now=LATER, confirm="escalate"
        )
    assert unchosen.value.code == "invalid"
    await casework.act(
        records,
        number,
        "escalate",
        actor="mod-a",
        now=LATER,
        confirm="escalate",
        incident_type=MISLEADING_WORDS_OR_IMAGES,
    )
    view = await casework.case(records, number, now=LATER)
    assert view.incident_type == MISLEADING_WORDS_OR_IMAGES
    reporter = ReporterInfo(name="Pat Example", email="pat@example.org")
    package = await build_package(records, number, reporter=reporter, now=LATER)
    assert package.incident_type == MISLEADING_WORDS_OR_IMAGES
    assert (
        b"<incidentType>Misleading Words or Digital Images on the Internet<" in package.report_xml
    )
    # The preview's choice overrides it for that package only.
    chosen = await build_package(
        records, number, reporter=reporter, now=LATER, incident_type=CHILD_PORNOGRAPHY
    )
    assert chosen.incident_type == CHILD_PORNOGRAPHY


async def test_a_queue_of_thousands_is_paged_to_its_last_case(records: Records) -> None:
    """No cut at 200 or anywhere: 3,000 waiting cases, 60 pages of 50, every case once,
    in the queue's order (the rows go in as the records would hold them, in bulk)."""
    count = 3000
    async with records.transaction() as session:
        cases = [
            t.Case(
                number=f"S-{n + 1:06d}",
                kind="report",
                severity=(50, 20, 10)[n % 3],
                status="open",
                opened_at=NOW + timedelta(seconds=n),
                escalated=False,
                pool="adult-text",
            )
            for n in range(count)
        ]
        session.add_all(cases)
        await session.flush()
        session.add_all(
            t.Report(
                case_id=case.id,
                reason=("harassment", "spam", "other")[n % 3],
                note="",
                match=f"m-{n}",
                reporter_device="dev-alice",
                reporter_network="net-" + "a" * 60,
                reported_device=f"dev-{n:05d}",
                reported_network="net-" + "b" * 60,
                matched_at=NOW,
                reported_at=NOW,
            )
            for n, case in enumerate(cases)
        )
    expected = [case.number for case in sorted(cases, key=lambda c: (-c.severity, c.opened_at))]
    seen: list[str] = []
    view = QueueFilter()
    for page in range(1, 61):
        listed = await casework.queue(records, dataclasses.replace(view, page=page), now=LATER)
        assert (listed.total, listed.pages) == (count, 60)
        seen += [item.number for item in listed.items]
    assert seen == expected
    last = await casework.queue(
        records, dataclasses.replace(view, page=30, per_page=100), now=LATER
    )
    assert [item.number for item in last.items] == expected[-100:]
    found = await casework.queue(records, QueueFilter(search="dev-02999"), now=LATER)
    assert [item.number for item in found.items] == ["S-003000"]
