"""The report's model: the CyberTipline's vocabulary (incident types, file relevance,
IP capture events), who reports, who is reported, the files, and the facts of a case
that the documents are built from (:mod:`.building`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from strangers.core.flags import FlagKind
from strangers.core.reports import ReportReason
from strangers.moderation.errors import RecordError

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
class CaseFacts:
    """What a report says of its case: the subject, the match, when it happened."""

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


def incident_type_for(kind: str, pool: str) -> str | None:
    """The incident type an escalation of a case defaults to, by its flag kind or report
    reason; None when no incident type follows from the kind alone and the moderator
    must choose one (docs/moderation.md, "Reports to law enforcement").

    A hash-list match is known abuse material, and nudity that was escalated is treated
    as apparent material of a minor: *Child Pornography*. Sexual content reported from
    the teen pool was sent to a child: *Unsolicited Obscene Material*; from the adult
    pool, escalation means a minor appeared in it: *Child Pornography*. An adult's age
    statement in the teen pool, grooming signals that added up, or a report that
    someone in the teen pool looks adult: an adult approaching children, *Online
    Enticement*. A report of someone who looks under 18, of harassment, spam or
    anything else says nothing of which crime it may be: no default, so that such a
    case is never labelled enticement of a child by default.
    """
    teen = pool.startswith("teen")
    if kind in (FlagKind.KNOWN_ABUSE, FlagKind.NUDITY):
        return CHILD_PORNOGRAPHY
    if kind == ReportReason.SEXUAL:
        return UNSOLICITED_OBSCENE_MATERIAL if teen else CHILD_PORNOGRAPHY
    if kind in (FlagKind.ADULT_IN_TEEN, FlagKind.TEXT_RISK, ReportReason.ADULT):
        return ONLINE_ENTICEMENT
    return None
