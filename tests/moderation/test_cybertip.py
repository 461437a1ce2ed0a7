"""The law-enforcement report of an escalated case (18 U.S.C. 2258A): the CyberTipline
report package read from the records (on SQLite and PostgreSQL), and the client run
against a local stand-in of NCMEC's Reporting API (``cybertip_server``) that follows the
documented sequence submit → upload → file details → finish, and retract."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from strangers.core.flags import Enforcement, FlagKind
from strangers.core.reports import Line, ReportReason
from strangers.gateway.settings import Settings
from strangers.moderation import RecordError, Records, sqlite_url, upgrade
from strangers.moderation.cybertip import (
    CHILD_PORNOGRAPHY,
    ONLINE_ENTICEMENT,
    REPORTED,
    SUPPLEMENTAL,
    UNSOLICITED_OBSCENE_MATERIAL,
    CyberTiplineClient,
    CyberTiplineError,
    ReporterInfo,
    ReportNotFiled,
    ReportPackage,
    build_package,
    filing_of,
    incident_type_for,
    parse_answer,
    record_download,
    record_filing,
)
from strangers.moderation.records import AddressCapture

from .cybertip_server import PASSWORD, USERNAME, TipServer
from .helpers import all_rows, gradient_jpeg
from .test_flags import NOW, SUBJECT, make_flag
from .test_records import REPORTED as REPORTED_PARTY
from .test_records import filing

ADDRESS = "203.0.113.7"  # TEST-NET-3 (RFC 5737): never a real chatter's
SEEN_AT = NOW - timedelta(minutes=2)
LATER = NOW + timedelta(hours=1)
REPORTER = ReporterInfo(name="Dana Okafor", email="safety@example.org")


@pytest.fixture
def tip() -> Iterator[TipServer]:
    with TipServer() as server:
        yield server


@pytest.fixture
async def sqlite_records(tmp_path: Path, evidence_key: bytes) -> AsyncIterator[Records]:
    """Records on SQLite only, for the tests about the transport."""
    url = sqlite_url(tmp_path)
    upgrade(url)
    opened = await Records.open(url, evidence_key)
    try:
        yield opened
    finally:
        await opened.close()


async def escalated_flag_case(records: Records) -> str:
    """A known-abuse flag, escalated, with the subject's address captured at connect
    and two lines of chat."""
    flag = make_flag(
        FlagKind.KNOWN_ABUSE,
        enforcement=Enforcement(escalate=True, review=True),
        lines=(Line(at=3.0, side="reported", text="hi"), Line(at=5.0, side="reporter", text="hey")),
    )
    capture = AddressCapture(ADDRESS, SEEN_AT.timestamp(), "connect")
    return (await records.flags.file(flag, now=NOW, capture=capture)).case


async def package_of(records: Records) -> ReportPackage:
    return await build_package(
        records, await escalated_flag_case(records), reporter=REPORTER, now=LATER
    )


def client(tip: TipServer, password: str = PASSWORD) -> CyberTiplineClient:
    return CyberTiplineClient(tip.url, USERNAME, password)


def texts(root: ET.Element, path: str) -> list[str]:
    return [element.text or "" for element in root.findall(path)]


# The package


async def test_the_package_of_an_escalated_flag_has_the_capture_the_files_and_their_hashes(
    records: Records,
) -> None:
    package = await package_of(records)

    report = ET.fromstring(package.report_xml)
    assert report.tag == "report"
    assert texts(report, "incidentSummary/incidentType") == [CHILD_PORNOGRAPHY]
    assert texts(report, "incidentSummary/incidentDateTime") == ["2025-03-01T12:00:00Z"]
    assert texts(report, "reporter/reportingPerson/email") == [REPORTER.email]
    assert texts(report, "reporter/reportingPerson/lastName") == ["Okafor"]
    user = report.find("personOrUserReported")
    assert user is not None
    assert texts(user, "espIdentifier") == [SUBJECT.device]
    assert texts(user, "ipCaptureEvent/ipAddress") == [ADDRESS]
    assert texts(user, "ipCaptureEvent/eventName") == ["Login"]
    assert texts(user, "ipCaptureEvent/dateTime") == ["2025-03-01T11:58:00Z"]
    assert SUBJECT.network in texts(user, "additionalInfo")[0]
    # The schema's order: the summary first, the reporter before the reported person.
    assert [child.tag for child in report] == [
        "incidentSummary",
        "internetDetails",
        "reporter",
        "personOrUserReported",
        "additionalInfo",
    ]

    # The viewer's page sampled: its "partner" frames (1 and 3) show the subject.
    names = [file.name for file in package.files]
    assert names == ["frame-01.jpg", "frame-02.jpg", "frame-03.jpg", "transcript.txt"]
    kept = [gradient_jpeg(0), gradient_jpeg(40), gradient_jpeg(80)]
    assert [file.data for file in package.files[:3]] == kept
    assert [file.relevance for file in package.files] == [
        REPORTED,
        SUPPLEMENTAL,
        REPORTED,
        SUPPLEMENTAL,
    ]
    for file in package.files:
        assert file.md5 == hashlib.md5(file.data).hexdigest()
        assert file.sha256 == hashlib.sha256(file.data).hexdigest()
    transcript = package.files[3].data.decode()
    assert "[3.0 s] reported: hi" in transcript and "[5.0 s] other: hey" in transcript

    details = ET.fromstring(package.file_details_xml("4564001", "f1", package.files[0]))
    assert [(e.get("hashType"), e.text) for e in details.findall("originalFileHash")] == [
        ("MD5", hashlib.md5(kept[0]).hexdigest()),
        ("SHA256", hashlib.sha256(kept[0]).hexdigest()),
    ]
    assert texts(details, "fileRelevance") == [REPORTED]
    assert texts(details, "publiclyAvailable") == ["false"]


async def test_the_zip_holds_the_report_a_manifest_with_the_hashes_and_the_files(
    records: Records,
) -> None:
    package = await package_of(records)
    archive = zipfile.ZipFile(io.BytesIO(package.to_zip()))
    assert archive.namelist() == [
        "report.xml",
        "manifest.json",
        "files/frame-01.jpg",
        "files/frame-02.jpg",
        "files/frame-03.jpg",
        "files/transcript.txt",
    ]
    assert archive.read("report.xml") == package.report_xml
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["case"] == package.case
    assert manifest["incident_type"] == CHILD_PORNOGRAPHY
    for entry in manifest["files"]:
        data = archive.read(entry["name"])
        assert entry["size"] == len(data)
        assert entry["md5"] == hashlib.md5(data).hexdigest()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    # The address is in the report only, not in the manifest.
    assert ADDRESS not in archive.read("manifest.json").decode()
    assert package.to_zip() == package.to_zip()


async def test_a_case_that_is_not_escalated_has_no_package(records: Records) -> None:
    reported = await records.reports.file(filing(), now=NOW)
    with pytest.raises(RecordError) as refused:
        await build_package(records, reported, reporter=REPORTER, now=LATER)
    assert refused.value.code == "not_allowed"
    actioned = (await records.flags.file(make_flag(FlagKind.NUDITY), now=NOW)).case
    with pytest.raises(RecordError) as refused:
        await build_package(records, actioned, reporter=REPORTER, now=LATER)
    assert refused.value.code == "not_allowed"
    with pytest.raises(RecordError) as unknown:
        await build_package(records, "S-999999", reporter=REPORTER, now=LATER)
    assert unknown.value.code == "unknown_case"


async def test_an_escalated_report_names_the_reported_side_with_the_address_kept_at_escalation(
    records: Records, engine: AsyncEngine
) -> None:
    underage = dataclasses.replace(filing(), reason=ReportReason.UNDERAGE)
    case = await records.reports.file(underage, now=NOW)
    capture = AddressCapture(ADDRESS, SEEN_AT.timestamp(), "connect")
    await records.cases.escalate(
        case,
        actor="mod-a",
        now=NOW,
        capture=capture,
        device=REPORTED_PARTY.device,
        incident_type=ONLINE_ENTICEMENT,
    )
    package = await build_package(records, case, reporter=REPORTER, now=LATER)

    # The type chosen at escalation (an "under 18" report has no default).
    assert package.incident_type == ONLINE_ENTICEMENT
    report = ET.fromstring(package.report_xml)
    assert texts(report, "personOrUserReported/espIdentifier") == [REPORTED_PARTY.device]
    assert texts(report, "personOrUserReported/ipCaptureEvent/ipAddress") == [ADDRESS]
    assert [file.name for file in package.files] == ["transcript.txt"]
    await record_download(records, package, actor="mod-a", now=LATER)
    # The raw address lives in the sealed evidence and the package, nowhere in the clear.
    assert ADDRESS not in repr(await all_rows(engine))


async def test_a_moderator_may_choose_the_incident_type_but_only_a_documented_one(
    records: Records,
) -> None:
    case = await escalated_flag_case(records)
    chosen = await build_package(
        records, case, reporter=REPORTER, now=LATER, incident_type=ONLINE_ENTICEMENT
    )
    assert chosen.incident_type == ONLINE_ENTICEMENT
    with pytest.raises(RecordError) as refused:
        await build_package(records, case, reporter=REPORTER, now=LATER, incident_type="Spam")
    assert refused.value.code == "invalid"


@pytest.mark.parametrize(
    ("kind", "pool", "expected"),
    [
        (FlagKind.KNOWN_ABUSE, "adult-video", CHILD_PORNOGRAPHY),
        (FlagKind.NUDITY, "teen-video", CHILD_PORNOGRAPHY),
        (FlagKind.ADULT_IN_TEEN, "teen-text", ONLINE_ENTICEMENT),
        (FlagKind.TEXT_RISK, "teen-text", ONLINE_ENTICEMENT),
        (ReportReason.ADULT, "teen-video", ONLINE_ENTICEMENT),
        (ReportReason.SEXUAL, "teen-video", UNSOLICITED_OBSCENE_MATERIAL),
        (ReportReason.SEXUAL, "adult-video", CHILD_PORNOGRAPHY),
        # No crime follows from these kinds alone: the moderator must choose (issue 19:
        # a harassment or "other" report was labelled enticement of a child).
        (ReportReason.UNDERAGE, "adult-video", None),
        (ReportReason.HARASSMENT, "adult-text", None),
        (ReportReason.HARASSMENT, "teen-text", None),
        (ReportReason.OTHER, "adult-video", None),
        (ReportReason.SPAM, "adult-text", None),
    ],
)
def test_the_incident_type_follows_the_flag_or_the_report_reason(
    kind: str, pool: str, expected: str | None
) -> None:
    assert incident_type_for(kind, pool) == expected


async def test_the_reporter_and_the_endpoint_come_from_the_settings() -> None:
    with pytest.raises(RecordError) as unset:
        ReporterInfo.from_settings(Settings())
    assert "STRANGERS_CYBERTIP_REPORTER_EMAIL" in unset.value.detail
    settings = Settings(
        cybertip_username="esp",
        cybertip_password="pw",
        cybertip_reporter_name="Dana Okafor",
        cybertip_reporter_email="safety@example.org",
    )
    assert ReporterInfo.from_settings(settings) == REPORTER
    async with CyberTiplineClient.from_settings(settings) as api:
        assert api.base_url == "https://exttest.cybertip.org/ispws"


# The client against the stand-in API


async def test_send_files_one_finished_report_with_every_file_and_records_it(
    records: Records, engine: AsyncEngine, tip: TipServer
) -> None:
    package = await package_of(records)
    async with client(tip) as api:
        filed = await api.send(package)

    (report,) = tip.in_state("finished")
    assert tip.reports.keys() == {report.id}
    assert filed.report_id == report.id and report.xml == package.report_xml
    assert tip.calls == ["submit", *["upload", "fileinfo"] * 4, "finish"]
    assert [(f.name, f.file_id) for f in filed.files] == [
        (file.name, file_id) for file_id, file in report.files.items()
    ]
    assert [file.data for file in report.files.values()] == [f.data for f in package.files]
    for sent, file in zip(package.files, report.files.values(), strict=True):
        assert file.details is not None
        details = ET.fromstring(file.details)
        assert texts(details, "reportId") == [report.id]
        assert texts(details, "fileName") == [sent.name]

    assert await filing_of(records, package.case) is None
    await record_filing(records, package.case, filed, actor="mod-a", now=LATER)
    assert await filing_of(records, package.case) == report.id
    rows = await all_rows(engine)
    (case,) = [row for row in rows["cases"] if row["number"] == package.case]
    assert case["status"] == "actioned" and case["escalated"] is True
    (entry,) = [row for row in rows["audit"] if row["action"] == "cybertip.filed"]
    assert json.loads(entry["detail"])["report_id"] == report.id
    assert ADDRESS not in repr(rows)
    with pytest.raises(RecordError) as twice:
        await record_filing(records, package.case, filed, actor="mod-a", now=LATER)
    assert twice.value.code == "duplicate"


@pytest.mark.parametrize("failure", ["http500", "drop"])
async def test_a_failure_mid_upload_retracts_and_leaves_no_finished_report(
    sqlite_records: Records, tip: TipServer, failure: str
) -> None:
    package = await package_of(sqlite_records)
    tip.fail_upload, tip.failure = 2, failure  # type: ignore[assignment]
    async with client(tip) as api:
        with pytest.raises(ReportNotFiled) as not_filed:
            await api.send(package)

    (report,) = tip.reports.values()
    assert not_filed.value.report_id == report.id
    assert not_filed.value.retracted is True
    if failure == "http500":  # the server's own answer: response code 1000, server error
        assert (not_filed.value.http_status, not_filed.value.response_code) == (500, 1000)
    else:
        assert not_filed.value.code == "network"
    assert report.state == "retracted" and tip.in_state("finished") == []
    assert tip.calls == ["submit", "upload", "fileinfo", "upload", "retract"]
    assert report.id in str(not_filed.value) and "retracted" in str(not_filed.value)
    assert await filing_of(sqlite_records, package.case) is None


async def test_bad_credentials_are_a_clear_error_and_open_no_report(
    sqlite_records: Records, tip: TipServer
) -> None:
    package = await package_of(sqlite_records)
    async with client(tip, password="not the password") as api:
        with pytest.raises(ReportNotFiled) as refused:
            await api.send(package)
    assert refused.value.code == "auth" and refused.value.report_id is None
    assert "refused the credentials" in refused.value.reason
    assert tip.reports == {}


async def test_an_answer_with_a_doctype_is_refused_and_its_entity_never_expanded(
    sqlite_records: Records, tip: TipServer
) -> None:
    tip.hostile_on = "submit"
    async with client(tip) as api:
        with pytest.raises(CyberTiplineError) as refused:
            await api.submit(b"<report/>")
    assert refused.value.code == "bad_response" and "DOCTYPE" in refused.value.reason
    assert "1234567890" not in str(refused.value)

    # Refused in the middle of the sequence: the report is withdrawn.
    tip.hostile_on = "upload"
    package = await package_of(sqlite_records)
    async with client(tip) as api:
        with pytest.raises(ReportNotFiled) as not_filed:
            await api.send(package)
    assert not_filed.value.code == "bad_response" and not_filed.value.retracted
    assert tip.in_state("finished") == [] and len(tip.in_state("retracted")) == 1


def test_the_answer_parser_refuses_any_doctype_and_oversized_or_foreign_answers() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><reportResponse>&b;</reportResponse>'
    )
    harmless = b"<!DOCTYPE reportResponse><reportResponse><responseCode>0</responseCode>"
    harmless += b"</reportResponse>"
    external = (
        b'<!DOCTYPE r SYSTEM "http://203.0.113.9/x.dtd">'
        b"<reportResponse><responseCode>0</responseCode></reportResponse>"
    )
    # In another encoding too: the parser sees the declaration, not a byte pattern.
    wide = "<!DOCTYPE r><reportResponse><responseCode>0</responseCode></reportResponse>"
    for body in (laughs, harmless, external, wide.encode("utf-16")):
        with pytest.raises(CyberTiplineError) as refused:
            parse_answer(body)
        assert refused.value.code == "bad_response"
    for body in (b"<html/>", b"<reportResponse>", b"x" * 70_000):
        with pytest.raises(CyberTiplineError):
            parse_answer(body)
    assert parse_answer(b"<reportResponse><responseCode>0</responseCode></reportResponse>").tag


async def test_the_stand_in_refuses_calls_out_of_the_documented_order(tip: TipServer) -> None:
    async with client(tip) as api:
        with pytest.raises(CyberTiplineError) as early:
            await api.upload("4563999", "frame.jpg", b"\xff\xd8")
        assert early.value.response_code == 5001 and early.value.code == "refused"
        report_id = await api.submit(
            b"<report><incidentSummary><incidentType>x</incidentType></incidentSummary>"
            b"<reporter><reportingPerson><email>a@b.c</email></reportingPerson></reporter>"
            b"</report>"
        )
        assert (await api.finish(report_id)).file_ids == ()
        with pytest.raises(CyberTiplineError) as twice:
            await api.finish(report_id)
        assert twice.value.response_code == 5102
        with pytest.raises(CyberTiplineError) as late:
            await api.retract(report_id)
        assert late.value.response_code == 5102
        with pytest.raises(CyberTiplineError) as invalid:
            await api.submit(b"<report/>")
        assert invalid.value.response_code == 4100
    assert len(tip.in_state("finished")) == 1


async def test_evidence_never_goes_over_plain_http_except_to_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        CyberTiplineClient("http://report.example.org/ispws", USERNAME, PASSWORD)
    for url in ("https://report.example.org/ispws", "http://127.0.0.1:9/ispws"):
        await CyberTiplineClient(url, USERNAME, PASSWORD).aclose()
    with pytest.raises(ValueError, match="password"):
        CyberTiplineClient("https://report.example.org/ispws", USERNAME, "")
