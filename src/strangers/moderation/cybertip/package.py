"""The report package of one escalated case: the report XML and its files, with a
manifest, as a ZIP a moderator can download or :mod:`.client` files.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from strangers.moderation.cybertip import documents
from strangers.moderation.cybertip.model import EvidenceFile, ReportedPerson, ReporterInfo


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
        return documents.file_details_xml(report_id, file_id, file)

    def manifest(self) -> dict[str, Any]:
        """The package's table of contents: every file with its size, MD5 and SHA-256.
        It names no address (those are in the report alone)."""
        return {
            "case": self.case,
            "incident_type": self.incident_type,
            "incident_date_time": documents.xml_time(self.incident_at),
            "built_at": documents.xml_time(self.built_at),
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
