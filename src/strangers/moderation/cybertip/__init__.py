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

The modules, by concern: :mod:`.model` (the vocabulary, who reports and who is reported,
the files), :mod:`.documents` (the XML), :mod:`.building` (the package of a case, from
the records), :mod:`.package` (the package, its manifest and its ZIP), :mod:`.client`
(the API), :mod:`.filings` (what the records keep of a filing). Callers use the names
this package re-exports.
"""

from strangers.moderation.cybertip.building import build_package
from strangers.moderation.cybertip.client import (
    AUTHENTICATION_REQUIRED,
    CYBERTIPLINE_CODES,
    MAX_RESPONSE_BYTES,
    NOT_AUTHORIZED,
    PRODUCTION_ENVIRONMENT,
    REPORT_ALREADY_FINISHED,
    REPORT_ALREADY_RETRACTED,
    TEST_ENVIRONMENT,
    CyberTiplineClient,
    CyberTiplineError,
    FiledFile,
    FiledReport,
    FinishedReport,
    ReportNotFiled,
    parse_answer,
)
from strangers.moderation.cybertip.documents import SCHEMA_LOCATION
from strangers.moderation.cybertip.filings import filing_of, record_download, record_filing
from strangers.moderation.cybertip.model import (
    CHILD_PORNOGRAPHY,
    CHILD_SEX_TOURISM,
    CHILD_SEX_TRAFFICKING,
    CHILD_SEXUAL_MOLESTATION,
    INCIDENT_TYPES,
    IP_EVENT_NAMES,
    MISLEADING_DOMAIN_NAME,
    MISLEADING_WORDS_OR_IMAGES,
    ONLINE_ENTICEMENT,
    REPORTED,
    SUPPLEMENTAL,
    UNSOLICITED_OBSCENE_MATERIAL,
    AddressSeen,
    CybertipSettings,
    EvidenceFile,
    ReportedPerson,
    ReporterInfo,
    incident_type_for,
)
from strangers.moderation.cybertip.package import ReportPackage

__all__ = [
    "AUTHENTICATION_REQUIRED",
    "CHILD_PORNOGRAPHY",
    "CHILD_SEXUAL_MOLESTATION",
    "CHILD_SEX_TOURISM",
    "CHILD_SEX_TRAFFICKING",
    "CYBERTIPLINE_CODES",
    "INCIDENT_TYPES",
    "IP_EVENT_NAMES",
    "MAX_RESPONSE_BYTES",
    "MISLEADING_DOMAIN_NAME",
    "MISLEADING_WORDS_OR_IMAGES",
    "NOT_AUTHORIZED",
    "ONLINE_ENTICEMENT",
    "PRODUCTION_ENVIRONMENT",
    "REPORTED",
    "REPORT_ALREADY_FINISHED",
    "REPORT_ALREADY_RETRACTED",
    "SCHEMA_LOCATION",
    "SUPPLEMENTAL",
    "TEST_ENVIRONMENT",
    "UNSOLICITED_OBSCENE_MATERIAL",
    "AddressSeen",
    "CyberTiplineClient",
    "CyberTiplineError",
    "CybertipSettings",
    "EvidenceFile",
    "FiledFile",
    "FiledReport",
    "FinishedReport",
    "ReportNotFiled",
    "ReportPackage",
    "ReportedPerson",
    "ReporterInfo",
    "build_package",
    "filing_of",
    "incident_type_for",
    "parse_answer",
    "record_download",
    "record_filing",
]
