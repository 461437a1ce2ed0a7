"""The law-enforcement report of an escalated case: a CyberTipline report package, and a
client that files it through NCMEC's CyberTipline Reporting API.

An electronic service provider that learns of apparent child sexual abuse material
reports it to NCMEC's CyberTipline (18 U.S.C. 2258A(a)), with what identifies the user
involved, the address at the time included (2258A(b)(1)), and the material itself and the
communication around it (2258A(b)(4), (5)). Only a case a moderator or the safety checks
escalated is reported (:class:`~strangers.moderation.tables.Case` ``escalated``); its
evidence is then kept a year (REPORT Act), long enough to file.

The names below are those of NCMEC's Reporting API documentation
(https://report.cybertip.org/ispws/documentation/index.html; the test environment is
https://exttest.cybertip.org/ispws):

- *Submit a report* (``POST /submit``, a ``<report>`` document) opens a report and answers
  its ``<reportId>``; *upload a file* (``POST /upload``, ``multipart/form-data`` with the
  fields ``id`` and ``file``) answers a ``<fileId>`` and the MD5 ``<hash>`` of the bytes
  received; *submit file details* (``POST /fileinfo``, a ``<fileDetails>`` document);
  *finish the report* (``POST /finish``, form field ``id``) answers a
  ``<reportDoneResponse>`` with the report's ``<files>``; *cancel the report*
  (``POST /retract``, form field ``id``) withdraws a report that is not finished.
- Every call uses HTTP Basic authentication and answers XML: ``<reportResponse>`` with
  ``<responseCode>`` (0 is success), ``<responseDescription>``, ``<reportId>``, and for an
  upload ``<fileId>`` and ``<hash>``. Codes used here: 2000 authentication required, 3000,
  3100 and 3300 not authorized, 5001 report does not exist, 5101 report already
  retracted, 5102 report already finished.
- ``<report>``: ``<incidentSummary>`` (``<incidentType>``, ``<incidentDateTime>``,
  ``<incidentDateTimeDescription>``), ``<internetDetails>`` (``<chatImIncident>``),
  ``<reporter>`` (``<reportingPerson>`` with ``<firstName>``, ``<lastName>``, ``<email>``),
  ``<personOrUserReported>`` (``<espIdentifier>``, ``<espService>``, ``<ipCaptureEvent>``
  with ``<ipAddress>``, ``<eventName>``, ``<dateTime>``, and ``<additionalInfo>``), and
  ``<additionalInfo>``, in the schema's order.
- ``<fileDetails>``: ``<reportId>``, ``<fileId>``, ``<fileName>``, ``<publiclyAvailable>``,
  ``<fileRelevance>`` ("Reported" or "Supplemental Reported"), ``<originalFileHash
  hashType="...">``, ``<additionalInfo>``.

The raw address at the time is the one thing here that is never anywhere else: it comes
from the sealed "identifiers" evidence, goes into the report and the package, and never
into the audit log or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.parsers import expat

import httpx
from sqlalchemy import select

from strangers.core.flags import FlagKind
from strangers.core.reports import ReportReason
from strangers.moderation.records import RecordError, Records
from strangers.moderation.tables import Audit, Case, Evidence, Report
from strangers.moderation.tables import Flag as FlagRow

# The incident types of the report's <incidentSummary>, as the documentation spells them.
CHILD_PORNOGRAPHY: Final = "Child Pornography (possession, manufacture, and distribution)"
CHILD_SEX_TRAFFICKING: Final = "Child Sex Trafficking"
CHILD_SEX_TOURISM: Final = "Child Sex Tourism"
CHILD_SEXUAL_MOLESTATION: Final = "Child Sexual Molestation"
MISLEADING_DOMAIN_NAME: Final = "Misleading Domain Name"
MISLEADING_WORDS_OR_IMAGES: Final = "Misleading Words or Digital Images on the Internet"
ONLINE_ENTICEMENT: Final = "Online Enticement of Children for Sexual Acts"
UNSOLICITED_OBSCENE_MATERIAL: Final = "Unsolicited Obscene Material Sent to a Child"
INCIDENT_TYPES: Final = (
    CHILD_PORNOGRAPHY,
    CHILD_SEX_TRAFFICKING,
    CHILD_SEX_TOURISM,
    CHILD_SEXUAL_MOLESTATION,
    MISLEADING_DOMAIN_NAME,
    MISLEADING_WORDS_OR_IMAGES,
    ONLINE_ENTICEMENT,
    UNSOLICITED_OBSCENE_MATERIAL,
)

#: <fileRelevance>: "Reported" is the content that motivates the report; "Supplemental
#: Reported" is the rest of the communication (2258A(b)(5)).
REPORTED: Final = "Reported"
SUPPLEMENTAL: Final = "Supplemental Reported"

#: <ipCaptureEvent><eventName> takes Login, Registration, Purchase, Upload, Other or
#: Unknown. A chat socket's connection starts the chatter's session: the nearest is Login.
IP_EVENT_NAMES: Final[Mapping[str, str]] = {"connect": "Login", "upload": "Upload"}

#: Where NCMEC's schema lives; the documents name it as other reporters' do.
SCHEMA_LOCATION: Final = "https://report.cybertip.org/ispws/xsd"
TEST_ENVIRONMENT: Final = "https://exttest.cybertip.org/ispws"
PRODUCTION_ENVIRONMENT: Final = "https://report.cybertip.org/ispws"

AUTHENTICATION_REQUIRED: Final = 2000
NOT_AUTHORIZED: Final = frozenset({3000, 3100, 3300})
REPORT_ALREADY_RETRACTED: Final = 5101
REPORT_ALREADY_FINISHED: Final = 5102

#: API answers are short acknowledgements; anything longer is refused unread.
MAX_RESPONSE_BYTES: Final = 64 * 1024
_REPORT_ID: Final = re.compile(r"[0-9]{1,20}")
_FILE_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# Characters XML 1.0 cannot carry (a chatter's note could hold them).
_NOT_XML: Final = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


# The package


@dataclass(frozen=True)
class ReporterInfo:
    """The reporting person (the report's ``<reporter><reportingPerson>``, whose e-mail the
    schema requires) and the service's name (``<espService>``, ``<chatClient>``)."""

    name: str
    email: str
    service: str = "strangers"

    @classmethod
    def from_settings(cls, settings: CybertipSettings) -> ReporterInfo:
        """From ``STRANGERS_CYBERTIP_REPORTER_NAME`` and ``_EMAIL``; ``invalid`` when unset."""
        name = (settings.cybertip_reporter_name or "").strip()
        email = (settings.cybertip_reporter_email or "").strip()
        if not name or "@" not in email:
            raise RecordError(
                "invalid",
                "set STRANGERS_CYBERTIP_REPORTER_NAME and STRANGERS_CYBERTIP_REPORTER_EMAIL "
                "to file law-enforcement reports",
            )
        return cls(name=name, email=email)


class CybertipSettings(Protocol):
    """The settings this module reads (``strangers.gateway.settings.Settings``)."""

    cybertip_url: str
    cybertip_username: str | None
    cybertip_reporter_name: str | None
    cybertip_reporter_email: str | None

    @property
    def cybertip_password(self) -> Any: ...  # SecretStr | None


@dataclass(frozen=True)
class AddressSeen:
    """One ``<ipCaptureEvent>``: the reported chatter's raw address, when, and how."""

    address: str
    at: datetime
    event: str  # the documented event name (Login, Upload, Other)


@dataclass(frozen=True)
class ReportedPerson:
    """The chatter reported: its device id (the service's user id, ``<espIdentifier>``),
    its keyed network hash, and the addresses it was seen at, oldest first."""

    device: str
    network: str
    seen: tuple[AddressSeen, ...]


@dataclass(frozen=True)
class EvidenceFile:
    """One file of the report: a kept frame (JPEG, as the page posted it) or the
    transcript (text made from the kept lines)."""

    name: str
    data: bytes
    media_type: str
    relevance: str  # REPORTED or SUPPLEMENTAL
    description: str
    #: The SHA-256 recorded when the bytes were kept (a frame's), checked on build.
    original: bool

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ReportPackage:
    """What is reported for one escalated case: the report XML and its files."""

    case: str
    incident_type: str
    incident_at: datetime
    reporter: ReporterInfo
    reported: ReportedPerson
    files: tuple[EvidenceFile, ...]
    report_xml: bytes
    built_at: datetime

    def file_details_xml(self, report_id: str, file_id: str, file: EvidenceFile) -> bytes:
        """The ``<fileDetails>`` of ``file`` once uploaded as ``file_id`` to ``report_id``
        (documentation: *Submit File Details*). A frame carries the hashes of the bytes
        as posted (``<originalFileHash>``); the transcript is made here, so it has none.
        """
        root = _document("fileDetails")
        _add(root, "reportId", report_id)
        _add(root, "fileId", file_id)
        _add(root, "fileName", file.name)
        # A one-to-one chat between strangers: nothing of it was public.
        _add(root, "publiclyAvailable", "false")
        _add(root, "fileRelevance", file.relevance)
        if file.original:
            _add(root, "originalFileHash", file.md5, hashType="MD5")
            _add(root, "originalFileHash", file.sha256, hashType="SHA256")
        _add(root, "additionalInfo", file.description)
        return _serialise(root)

    def manifest(self) -> dict[str, Any]:
        """The package's table of contents: every file with its size, MD5 and SHA-256.
        It names no address (those are in the report alone)."""
        return {
            "case": self.case,
            "incident_type": self.incident_type,
            "incident_date_time": _xml_time(self.incident_at),
            "built_at": _xml_time(self.built_at),
            "report": _entry("report.xml", self.report_xml),
            "files": [
                {
                    **_entry(f"files/{file.name}", file.data),
                    "media_type": file.media_type,
                    "relevance": file.relevance,
                    "description": file.description,
                }
                for file in self.files
            ],
        }

    def to_zip(self) -> bytes:
        """The package as a ZIP: ``report.xml``, ``manifest.json`` and ``files/``. The same
        package gives the same bytes (entries are dated when it was built)."""
        stamp = self.built_at.astimezone(UTC).timetuple()[:6]
        entries: list[tuple[str, bytes]] = [
            ("report.xml", self.report_xml),
            ("manifest.json", json.dumps(self.manifest(), indent=2).encode() + b"\n"),
            *((f"files/{file.name}", file.data) for file in self.files),
        ]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16  # evidence: owner-only when unpacked
                archive.writestr(info, data)
        return buffer.getvalue()


def _entry(name: str, data: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "size": len(data),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


@dataclass(frozen=True)
class _CaseFacts:
    number: str
    pool: str
    kind: str  # the flag kind or the report reason
    automatic: bool
    match: str
    device: str
    network: str
    incident_at: datetime
    matched_at: datetime | None
    note: str


async def build_package(
    records: Records,
    case: str,
    *,
    reporter: ReporterInfo,
    now: datetime,
    incident_type: str | None = None,
) -> ReportPackage:
    """The CyberTipline report package of ``case``, read from the records.

    Only an escalated case is reported: any other is ``not_allowed`` (18 U.S.C. 2258A
    concerns apparent child sexual exploitation, which is what escalation marks). The
    incident type is ``incident_type`` when a moderator chose one of
    :data:`INCIDENT_TYPES`, else derived from the case (:func:`incident_type_for`). The
    reported person is the flag's subject or the report's reported side, with the raw
    addresses sealed in the case's "identifiers" evidence. The files are the kept frames
    (``frame-NN.jpg``, each checked against the SHA-256 recorded when it was kept) and the
    transcript (``transcript.txt``). ``unknown_case``, ``invalid`` (evidence that does
    not match its digest, a malformed capture), ``undecryptable``.
    """
    _check_time(now)
    if incident_type is not None and incident_type not in INCIDENT_TYPES:
        raise RecordError("invalid", "not an incident type of the CyberTipline")
    async with records.transaction() as session:
        row = await session.scalar(select(Case).where(Case.number == case))
        if row is None:
            raise RecordError("unknown_case", "there is no such case")
        if not row.escalated:
            raise RecordError(
                "not_allowed", "only an escalated case is reported to law enforcement"
            )
        flag = await session.scalar(
            select(FlagRow).where(FlagRow.case_id == row.id).order_by(FlagRow.id).limit(1)
        )
        report = await session.scalar(
            select(Report).where(Report.case_id == row.id).order_by(Report.id).limit(1)
        )
        sealed = (
            await session.execute(
                select(Evidence.kind, Evidence.ciphertext)
                .where(Evidence.case_id == row.id)
                .order_by(Evidence.id)
            )
        ).all()
        number, pool = row.number, row.pool
    evidence = [(kind, records.unseal(bytes(blob))) for kind, blob in sealed]
    identifiers = [item for kind, item in evidence if kind == "identifiers"]
    if flag is not None:
        facts = _CaseFacts(
            number=number,
            pool=pool,
            kind=flag.kind,
            automatic=True,
            match=flag.match,
            device=flag.subject_device,
            network=flag.subject_network,
            incident_at=flag.flagged_at,
            matched_at=_first_time(identifiers, "matched_at"),
            note="",
        )
    elif report is not None:
        facts = _CaseFacts(
            number=number,
            pool=pool,
            kind=report.reason,
            automatic=False,
            match=report.match,
            device=report.reported_device,
            network=report.reported_network,
            incident_at=report.reported_at,
            matched_at=report.matched_at,
            note=report.note,
        )
    else:  # pragma: no cover - every case is opened with its report or flag
        raise RecordError("invalid", "the case has neither a report nor a flag")
    reported = ReportedPerson(
        device=facts.device, network=facts.network, seen=_addresses_seen(identifiers, facts.device)
    )
    files = _evidence_files(evidence, facts)
    chosen = incident_type or incident_type_for(facts.kind, facts.pool)
    report_xml = _report_xml(facts, chosen, reporter, reported, files)
    return ReportPackage(
        case=number,
        incident_type=chosen,
        incident_at=facts.incident_at,
        reporter=reporter,
        reported=reported,
        files=files,
        report_xml=report_xml,
        built_at=now,
    )


def incident_type_for(kind: str, pool: str) -> str:
    """The closest documented incident type for a case's flag kind or report reason.

    A hash-list match is known abuse material, and nudity that was escalated is treated
    as apparent material of a minor: *Child Pornography*. An adult's age statement in the
    teen pool, grooming signals that added up, a report that someone looks under 18 (or
    adult in the teen pool): *Online Enticement*. Sexual content reported from the teen
    pool was sent to a child: *Unsolicited Obscene Material*; from the adult pool,
    escalation means a minor appeared in it. Anything else escalated is a child being
    approached in a chat: *Online Enticement*.
    """
    teen = pool.startswith("teen")
    if kind in (FlagKind.KNOWN_ABUSE, FlagKind.NUDITY):
        return CHILD_PORNOGRAPHY
    if kind == ReportReason.SEXUAL:
        return UNSOLICITED_OBSCENE_MATERIAL if teen else CHILD_PORNOGRAPHY
    return ONLINE_ENTICEMENT


def _check_time(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise RecordError("invalid", "times must be timezone-aware")


def _first_time(items: Sequence[Mapping[str, Any]], key: str) -> datetime | None:
    for item in items:
        value = item.get(key)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
    return None


def _addresses_seen(
    identifiers: Sequence[Mapping[str, Any]], device: str
) -> tuple[AddressSeen, ...]:
    """The subject's captures from every "identifiers" item: a flag's (the subject's by
    construction) and an escalation's (``device`` names whose address it is)."""
    seen: dict[tuple[str, datetime, str], AddressSeen] = {}
    for item in identifiers:
        owner = item.get("device") or (item.get("subject") or {}).get("device")
        if owner not in (None, device):
            continue
        for capture in item.get("captures") or ():
            try:
                address = str(ipaddress.ip_address(str(capture["address"]).split("%", 1)[0]))
                at = datetime.fromisoformat(str(capture["at"])).astimezone(UTC)
                event = IP_EVENT_NAMES.get(str(capture.get("event", "")), "Other")
            except (KeyError, TypeError, ValueError):
                raise RecordError("invalid", "a sealed address capture is malformed") from None
            key = (address, at, event)
            seen.setdefault(key, AddressSeen(address=address, at=at, event=event))
    return tuple(sorted(seen.values(), key=lambda capture: capture.at))


def _evidence_files(
    evidence: Sequence[tuple[str, Any]], facts: _CaseFacts
) -> tuple[EvidenceFile, ...]:
    files: list[EvidenceFile] = []
    frames = [
        frame for kind, item in evidence if kind == "frames" for frame in item.get("frames", ())
    ]
    # The side the case is about, as the evidence names it (records.py: a report's
    # evidence says "reported", a flag's "subject").
    about = "subject" if facts.automatic else "reported"
    for index, frame in enumerate(frames, start=1):
        try:
            jpeg = base64.b64decode(frame["jpeg"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise RecordError("invalid", f"kept frame {index} is unreadable") from None
        recorded = frame.get("sha256")
        if recorded is not None and hashlib.sha256(jpeg).hexdigest() != recorded:
            raise RecordError("invalid", f"kept frame {index} does not match its recorded digest")
        shows_subject = frame.get("shows") == about
        whose = "the reported chatter's camera" if shows_subject else "the other chatter's camera"
        files.append(
            EvidenceFile(
                name=f"frame-{index:02d}.jpg",
                data=jpeg,
                media_type="image/jpeg",
                relevance=REPORTED if shows_subject else SUPPLEMENTAL,
                description=(
                    f"Video frame kept by the service's frame checks, showing {whose}, "
                    f"{_offset(frame.get('at'))} after the match began."
                ),
                original=True,
            )
        )
    transcripts = [item for kind, item in evidence if kind == "transcript"]
    if transcripts:
        files.append(
            EvidenceFile(
                name="transcript.txt",
                data=_transcript_text(transcripts, facts, about),
                media_type="text/plain; charset=utf-8",
                relevance=SUPPLEMENTAL,
                description="Transcript of the match, both sides, as relayed by the service.",
                original=False,
            )
        )
    return tuple(files)


def _offset(seconds: Any) -> str:
    return f"{float(seconds):.1f} s" if isinstance(seconds, int | float) else "an unknown time"


def _transcript_text(
    transcripts: Sequence[Mapping[str, Any]], facts: _CaseFacts, about: str
) -> bytes:
    lines = [
        f"Case {facts.number}, match {facts.match}, pool {facts.pool}.",
        "Times are seconds since the match began; "
        "'reported' is the reported chatter, 'other' the chatter it was talking to.",
        "",
    ]
    for transcript in transcripts:
        for line in transcript.get("lines", ()):
            side = "reported" if line.get("side") == about else "other"
            text = str(line.get("text", "")).replace("\r", " ").replace("\n", "\n    ")
            lines.append(f"[{_offset(line.get('at'))}] {side}: {text}")
    return ("\n".join(lines) + "\n").encode()


# The XML documents


def _document(tag: str) -> ET.Element:
    return ET.Element(
        tag,
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": SCHEMA_LOCATION,
        },
    )


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attributes)
    if text is not None:
        child.text = _NOT_XML.sub("\ufffd", text)
    return child


def _serialise(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return document


def _xml_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _split_name(name: str) -> tuple[str, str | None]:
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, None)


def _report_xml(
    facts: _CaseFacts,
    incident_type: str,
    reporter: ReporterInfo,
    reported: ReportedPerson,
    files: Sequence[EvidenceFile],
) -> bytes:
    """The ``<report>`` (documentation: *Report Details Types*), children in the
    schema's order."""
    root = _document("report")
    summary = _add(root, "incidentSummary")
    _add(summary, "incidentType", incident_type)
    _add(summary, "incidentDateTime", _xml_time(facts.incident_at))
    by = "the service's automatic checks flagged it" if facts.automatic else "it was reported"
    began = f"The chat began {_xml_time(facts.matched_at)}; " if facts.matched_at else ""
    sentence = f"{began}{by} at this time."
    _add(summary, "incidentDateTimeDescription", sentence[0].upper() + sentence[1:])

    band, _, mode = facts.pool.partition("-")
    chat = _add(_add(root, "internetDetails"), "chatImIncident")
    _add(chat, "chatClient", reporter.service)
    _add(
        chat,
        "additionalInfo",
        f"Anonymous one-to-one {mode or 'text'} chat between strangers, "
        f"{'13-17' if band == 'teen' else 'adult'} pool; match {facts.match}.",
    )

    person = _add(_add(root, "reporter"), "reportingPerson")
    first, last = _split_name(reporter.name)
    _add(person, "firstName", first)
    if last:
        _add(person, "lastName", last)
    _add(person, "email", reporter.email)

    user = _add(root, "personOrUserReported")
    _add(user, "espIdentifier", reported.device)
    _add(user, "espService", reporter.service)
    for capture in reported.seen:
        event = _add(user, "ipCaptureEvent")
        _add(event, "ipAddress", capture.address)
        _add(event, "eventName", capture.event)
        _add(event, "dateTime", _xml_time(capture.at))
    _add(
        user,
        "additionalInfo",
        "The service has no accounts: the reported chatter is known by a device token "
        f"(above) and a keyed hash of its network address ({reported.network}; "
        "HMAC-SHA256 under the service's secret, IPv6 by /64). Raw addresses are kept only "
        "for escalated cases, as the IP capture events above.",
    )

    about = [
        f"Case {facts.number} of the {reporter.service} moderation records.",
        f"{'Automatic flag' if facts.automatic else 'Report by the other chatter'}: {facts.kind}.",
    ]
    if facts.note:
        about.append(f"The reporting chatter's note: {facts.note}")
    about.append(f"Files: {len(files)} ({', '.join(file.name for file in files) or 'none'}).")
    _add(root, "additionalInfo", " ".join(about))
    return _serialise(root)


# The client


class CyberTiplineError(Exception):
    """A CyberTipline call that failed. ``code`` is stable: ``auth`` (credentials
    refused), ``refused`` (a non-zero response code), ``http`` (an HTTP error without a
    usable answer), ``network`` (no answer), ``bad_response`` (an answer that is not what
    the documentation describes, a DOCTYPE, too large, or a hash that does not match),
    ``unexpected`` (anything else that broke :meth:`CyberTiplineClient.send`)."""

    def __init__(
        self,
        reason: str,
        *,
        code: str,
        response_code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.response_code = response_code
        self.http_status = http_status


class ReportNotFiled(CyberTiplineError):
    """:meth:`CyberTiplineClient.send` did not file the report. ``report_id`` is the
    report it opened (``None`` when it opened none); ``retracted`` says whether that
    report was withdrawn (``/retract``), so no finished partial report is left."""

    def __init__(
        self,
        reason: str,
        report_id: str | None,
        *,
        code: str,
        retracted: bool = False,
        response_code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(reason, code=code, response_code=response_code, http_status=http_status)
        self.report_id = report_id
        self.retracted = retracted


@dataclass(frozen=True)
class FinishedReport:
    """The answer to *finish the report*: its id and the file ids it holds."""

    report_id: str
    file_ids: tuple[str, ...]


@dataclass(frozen=True)
class FiledFile:
    name: str
    file_id: str
    md5: str
    sha256: str


@dataclass(frozen=True)
class FiledReport:
    """A report the CyberTipline finished: where it went, its id, its files."""

    case: str
    base_url: str
    report_id: str
    files: tuple[FiledFile, ...]


class CyberTiplineClient:
    """NCMEC's CyberTipline Reporting API at ``base_url`` (the test environment,
    :data:`TEST_ENVIRONMENT`, or :data:`PRODUCTION_ENVIRONMENT`), with HTTP Basic
    authentication. Answers are XML from another party: a document with a DOCTYPE (entity
    expansion, external entities) or over :data:`MAX_RESPONSE_BYTES` is refused unread.

    The URL must be HTTPS (the report carries evidence and raw addresses), except on the
    loopback interface, for a local test server. Use as an async context manager, or call
    :meth:`aclose`; an ``http`` client passed in is the caller's to close.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30,
    ) -> None:
        parts = urlsplit(base_url)
        loopback = (parts.hostname or "") in _LOOPBACK_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("the CyberTipline URL must be https:// (http:// on loopback only)")
        if not username or not password:
            raise ValueError("the CyberTipline needs a user name and a password")
        self.base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(username, password)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout

    @classmethod
    def from_settings(
        cls, settings: CybertipSettings, *, http: httpx.AsyncClient | None = None
    ) -> CyberTiplineClient:
        """From ``STRANGERS_CYBERTIP_URL``, ``_USERNAME`` and ``_PASSWORD``."""
        password = settings.cybertip_password
        secret = password.get_secret_value() if password is not None else ""
        return cls(settings.cybertip_url, settings.cybertip_username or "", secret, http=http)

    async def __aenter__(self) -> CyberTiplineClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # The documented calls, one each

    async def submit(self, xml: bytes) -> str:
        """*Submit a report*: open a report from a ``<report>`` document; its id."""
        answer = await self._call("submit", content=xml, headers=_XML_BODY)
        return _report_id(answer)

    async def upload(self, report_id: str, name: str, data: bytes) -> str:
        """*Upload a file* to ``report_id``; its file id. The MD5 the server answers must
        be that of ``data``: the whole file arrived."""
        _check_report_id(report_id)
        answer = await self._call(
            "upload",
            data={"id": report_id},
            files={"file": (name, data, "application/octet-stream")},
        )
        _same_report(answer, report_id)
        file_id = _text(answer, "fileId")
        if file_id is None or not _FILE_ID.fullmatch(file_id):
            raise CyberTiplineError("the upload answer has no file id", code="bad_response")
        received = _text(answer, "hash")
        sent = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if received is not None and received.lower() != sent:
            raise CyberTiplineError(
                f"the CyberTipline received other bytes for {name} than were sent",
                code="bad_response",
            )
        return file_id

    async def file_details(self, report_id: str, file_id: str, details_xml: bytes) -> None:
        """*Submit file details* (a ``<fileDetails>`` document) of ``file_id``."""
        _check_report_id(report_id)
        answer = await self._call("fileinfo", content=details_xml, headers=_XML_BODY)
        _same_report(answer, report_id)

    async def finish(self, report_id: str) -> FinishedReport:
        """*Finish the report*: it is complete and goes to NCMEC."""
        _check_report_id(report_id)
        answer = await self._call("finish", data={"id": report_id})
        _same_report(answer, report_id)
        files = answer.find("files")
        ids = () if files is None else tuple((e.text or "").strip() for e in files.iter("fileId"))
        return FinishedReport(report_id=report_id, file_ids=ids)

    async def retract(self, report_id: str) -> None:
        """*Cancel the report* (``/retract``): withdraw a report that is not finished."""
        _check_report_id(report_id)
        answer = await self._call("retract", data={"id": report_id})
        _same_report(answer, report_id)

    # The whole sequence

    async def send(self, package: ReportPackage) -> FiledReport:
        """File ``package``: submit, then upload each file and its details, then finish.

        Raises :class:`ReportNotFiled` on any failure. After submit, a failure (an HTTP
        error, a non-zero response code, the connection lost mid-upload, an answer refused)
        retracts the report first, so the CyberTipline is never left with a finished
        partial report; should the retraction answer that the report is already finished
        (the finish went through, its answer was lost), the report is filed and returned.
        """
        try:
            report_id = await self.submit(package.report_xml)
        except CyberTiplineError as exc:
            raise _not_filed(exc, None, retracted=False) from exc
        filed: list[FiledFile] = []
        try:
            for file in package.files:
                file_id = await self.upload(report_id, file.name, file.data)
                details = package.file_details_xml(report_id, file_id, file)
                await self.file_details(report_id, file_id, details)
                filed.append(FiledFile(file.name, file_id, file.md5, file.sha256))
            await self.finish(report_id)
        except Exception as exc:
            failure = (
                exc
                if isinstance(exc, CyberTiplineError)
                else CyberTiplineError(
                    f"unexpected failure: {type(exc).__name__}", code="unexpected"
                )
            )
            outcome = await self._withdraw(report_id)
            if outcome == "finished" and len(filed) == len(package.files):
                return FiledReport(package.case, self.base_url, report_id, tuple(filed))
            raise _not_filed(failure, report_id, retracted=outcome == "retracted") from exc
        return FiledReport(package.case, self.base_url, report_id, tuple(filed))

    async def _withdraw(self, report_id: str) -> str:
        """Retract after a failure: "retracted", "finished" (too late), or "unknown"."""
        try:
            await self.retract(report_id)
        except CyberTiplineError as exc:
            if exc.response_code == REPORT_ALREADY_RETRACTED:
                return "retracted"
            if exc.response_code == REPORT_ALREADY_FINISHED:
                return "finished"
            return "unknown"
        return "retracted"

    async def _call(self, endpoint: str, **request: Any) -> ET.Element:
        """POST to an endpoint; the answer's root, once its response code is 0."""
        url = f"{self.base_url}/{endpoint}"
        try:
            async with self._http.stream(
                "POST", url, auth=self._auth, timeout=self._timeout, **request
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise CyberTiplineError(
                            f"/{endpoint} answered more than {MAX_RESPONSE_BYTES} bytes",
                            code="bad_response",
                        )
                status = response.status_code
        except httpx.TimeoutException:
            raise CyberTiplineError(f"/{endpoint} did not answer in time", code="network") from None
        except httpx.HTTPError as exc:
            raise CyberTiplineError(
                f"/{endpoint} failed on the network: {type(exc).__name__}", code="network"
            ) from None
        if status in (401, 403):
            raise CyberTiplineError(
                f"the CyberTipline refused the credentials (HTTP {status} on /{endpoint})",
                code="auth",
                http_status=status,
            )
        try:
            answer = parse_answer(bytes(body))
        except CyberTiplineError as exc:
            if status != 200:
                raise CyberTiplineError(
                    f"/{endpoint} failed with HTTP {status}", code="http", http_status=status
                ) from None
            raise CyberTiplineError(f"/{endpoint}: {exc.reason}", code=exc.code) from None
        code = _response_code(answer)
        if code != 0:
            description = _text(answer, "responseDescription") or "no description"
            kind = (
                "auth" if code == AUTHENTICATION_REQUIRED or code in NOT_AUTHORIZED else ("refused")
            )
            raise CyberTiplineError(
                f"/{endpoint} refused: {description} (response code {code})",
                code=kind,
                response_code=code,
                http_status=status,
            )
        if status != 200:
            raise CyberTiplineError(
                f"/{endpoint} failed with HTTP {status}", code="http", http_status=status
            )
        return answer


_XML_BODY: Final = {"content-type": "text/xml; charset=utf-8"}
_ANSWER_ROOTS: Final = frozenset({"reportResponse", "reportDoneResponse"})


def _not_filed(exc: CyberTiplineError, report_id: str | None, *, retracted: bool) -> ReportNotFiled:
    reason = exc.reason
    if report_id is not None:
        outcome = "retracted" if retracted else "could not be retracted (it is not finished)"
        reason = f"{reason}; report {report_id} {outcome}"
    return ReportNotFiled(
        reason,
        report_id,
        code=exc.code,
        retracted=retracted,
        response_code=exc.response_code,
        http_status=exc.http_status,
    )


def _refuse_declarations(*_: object) -> None:
    raise CyberTiplineError("the answer declares a DOCTYPE or an entity", code="bad_response")


def parse_answer(body: bytes) -> ET.Element:
    """An API answer's root element (``reportResponse`` or ``reportDoneResponse``).

    The answer comes from the network: a document type declaration (the door to entity
    expansion and external entities) is refused before anything is built from it, and
    so is anything over :data:`MAX_RESPONSE_BYTES` or not well-formed. Raises
    :class:`CyberTiplineError` (``bad_response``).
    """
    if len(body) > MAX_RESPONSE_BYTES:
        raise CyberTiplineError("the answer is too large", code="bad_response")
    # expat reports the declaration in whatever encoding the body uses, before any
    # entity in it could be expanded.
    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = _refuse_declarations
    scanner.EntityDeclHandler = _refuse_declarations
    scanner.ExternalEntityRefHandler = _refuse_declarations  # type: ignore[assignment]
    try:
        scanner.Parse(body, True)
        root = ET.fromstring(body)
    except (expat.ExpatError, ET.ParseError):
        raise CyberTiplineError("the answer is not well-formed XML", code="bad_response") from None
    if root.tag not in _ANSWER_ROOTS:
        raise CyberTiplineError(f"unexpected answer <{root.tag}>", code="bad_response")
    return root


def _text(answer: ET.Element, tag: str) -> str | None:
    element = answer.find(tag)
    return None if element is None or element.text is None else element.text.strip()


def _response_code(answer: ET.Element) -> int:
    value = _text(answer, "responseCode")
    try:
        return int(value or "")
    except ValueError:
        raise CyberTiplineError("the answer has no response code", code="bad_response") from None


def _check_report_id(report_id: str) -> None:
    if not _REPORT_ID.fullmatch(report_id):
        raise CyberTiplineError("a report id is a number", code="bad_response")


def _report_id(answer: ET.Element) -> str:
    report_id = _text(answer, "reportId")
    if report_id is None or not _REPORT_ID.fullmatch(report_id):
        raise CyberTiplineError("the answer has no report id", code="bad_response")
    return report_id


def _same_report(answer: ET.Element, report_id: str) -> None:
    answered = _text(answer, "reportId")
    if answered is not None and answered != report_id:
        raise CyberTiplineError(
            f"the answer is about report {answered}, not {report_id}", code="bad_response"
        )


# The records


async def record_filing(
    records: Records, case: str, filed: FiledReport, *, actor: str, now: datetime
) -> None:
    """Record that ``case`` was reported: an audit entry "cybertip.filed" with the
    CyberTipline report id, where it went and the files' SHA-256 (never an address), and
    the case leaves the queue (status "actioned"; it stays escalated, so its evidence is
    kept its year). A case already recorded as filed is ``duplicate``."""
    _check_time(now)
    if filed.case != case:
        raise RecordError("invalid", "this filing is of another case")
    async with records.transaction() as session:
        row = await session.scalar(select(Case).where(Case.number == case))
        if row is None:
            raise RecordError("unknown_case", "there is no such case")
        if not row.escalated:
            raise RecordError(
                "not_allowed", "only an escalated case is reported to law enforcement"
            )
        if await _filing_detail(session, row.id) is not None:
            raise RecordError("duplicate", "this case was already reported")
        row.status = "actioned"
        records.audit(
            session,
            at=now,
            action="cybertip.filed",
            case_id=row.id,
            actor=actor,
            report_id=filed.report_id,
            endpoint=filed.base_url,
            files=[{"name": f.name, "sha256": f.sha256} for f in filed.files],
        )


async def filing_of(records: Records, case: str) -> str | None:
    """The CyberTipline report id ``case`` was filed as, if it was."""
    async with records.transaction() as session:
        case_id = await session.scalar(select(Case.id).where(Case.number == case))
        if case_id is None:
            raise RecordError("unknown_case", "there is no such case")
        detail = await _filing_detail(session, case_id)
    return None if detail is None else str(detail.get("report_id"))


async def record_download(
    records: Records, package: ReportPackage, *, actor: str, now: datetime
) -> None:
    """Audit that ``actor`` downloaded the report package of a case (it holds evidence
    and raw addresses): "cybertip.package_downloaded" with the report's SHA-256."""
    _check_time(now)
    async with records.transaction() as session:
        case_id = await session.scalar(select(Case.id).where(Case.number == package.case))
        if case_id is None:
            raise RecordError("unknown_case", "there is no such case")
        records.audit(
            session,
            at=now,
            action="cybertip.package_downloaded",
            case_id=case_id,
            actor=actor,
            report_sha256=hashlib.sha256(package.report_xml).hexdigest(),
            files=len(package.files),
        )


async def _filing_detail(session: Any, case_id: int) -> dict[str, Any] | None:
    detail = await session.scalar(
        select(Audit.detail)
        .where(Audit.case_id == case_id, Audit.action == "cybertip.filed")
        .order_by(Audit.id)
        .limit(1)
    )
    return None if detail is None else dict(json.loads(detail))
