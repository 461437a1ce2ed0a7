"""The XML documents of the CyberTipline Reporting API: the ``<report>`` of a case and
the ``<fileDetails>`` of each uploaded file, children in the schema's order, text
stripped of what XML 1.0 cannot carry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final
from xml.etree import ElementTree as ET

from strangers.moderation.cybertip.model import (
    CaseFacts,
    EvidenceFile,
    ReportedPerson,
    ReporterInfo,
)

#: Where NCMEC's schema lives; the documents name it as other reporters' do.
SCHEMA_LOCATION: Final = "https://report.cybertip.org/ispws/xsd"
# Characters XML 1.0 cannot carry (a chatter's note could hold them).
_NOT_XML: Final = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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


def xml_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _split_name(name: str) -> tuple[str, str | None]:
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, None)


def report_xml(
    facts: CaseFacts,
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
    _add(summary, "incidentDateTime", xml_time(facts.incident_at))
    by = "the service's automatic checks flagged it" if facts.automatic else "it was reported"
    began = f"The chat began {xml_time(facts.matched_at)}; " if facts.matched_at else ""
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
        _add(event, "dateTime", xml_time(capture.at))
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


def file_details_xml(report_id: str, file_id: str, file: EvidenceFile) -> bytes:
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
