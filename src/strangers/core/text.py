"""Text signals: what the signal engine finds in a chat line (docs/design.md §6, text).

The engine (``strangers.safety.text``) turns one message into a :class:`TextScan`; the
policy in :mod:`strangers.core.text_policy` adds the signals up per sender per match and
decides. These types are all the core knows of the engine: a :class:`TextScanner` is
any object with ``scan``, so a test can inject a scan and the switchboard stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class SignalKind(StrEnum):
    """What a line may show. Contact details and links are masked in the teen pool;
    the grooming and solicitation kinds follow the signs Ofcom's Illegal Content
    Codes (ICU grooming measures) and the NSPCC describe."""

    # contact details
    PHONE = "phone"  # a phone number, in digits or in words
    EMAIL = "email"
    LINK = "link"  # a URL or a bare domain
    HANDLE = "handle"  # a social handle or an app name with "add me"-style phrasing
    # what someone says of themselves
    AGE = "age"  # an age statement: "im 14", "15yo", "j'ai 13 ans"; see TextScan.age
    # grooming and solicitation
    ASKS_AGE = "asks_age"  # "how old are you", "asl"
    ASKS_ALONE = "asks_alone"  # "are you alone", "where are your parents"
    SECRECY = "secrecy"  # "don't tell anyone", "our secret"
    ASKS_PICTURES = "asks_pictures"  # "send me a pic"
    ASKS_CAMERA = "asks_camera"  # "turn on your cam", "show me …"
    BODY = "body"  # compliments on the body
    GIFTS = "gifts"  # gifts, money, gift cards, game currency
    MEET = "meet"  # meeting up in person
    OTHER_APP = "other_app"  # moving to another app or a private place
    PROFANITY = "profanity"  # a weak signal only


#: The grooming and solicitation kinds, in the order reports list them.
GROOMING_KINDS: tuple[SignalKind, ...] = (
    SignalKind.ASKS_AGE,
    SignalKind.ASKS_ALONE,
    SignalKind.SECRECY,
    SignalKind.ASKS_PICTURES,
    SignalKind.ASKS_CAMERA,
    SignalKind.BODY,
    SignalKind.GIFTS,
    SignalKind.MEET,
    SignalKind.OTHER_APP,
)

#: The contact-detail kinds, masked in the teen pool whatever the risk.
CONTACT_KINDS = frozenset({SignalKind.PHONE, SignalKind.EMAIL, SignalKind.LINK, SignalKind.HANDLE})


@dataclass(frozen=True, slots=True)
class TextSignal:
    """One finding: its kind and a confidence in 0–1."""

    kind: SignalKind
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class TextScan:
    """Everything the engine found in one line. ``age`` is the age the sender states
    about themselves (``None``: no statement), set together with an ``AGE`` signal."""

    signals: tuple[TextSignal, ...] = ()
    age: int | None = None

    def kinds(self) -> frozenset[SignalKind]:
        return frozenset(signal.kind for signal in self.signals)


class TextScanner(Protocol):
    """Pure and fast (docs/design.md §6: p99 under 1 ms): no I/O, no clock, never raises on
    any ``str`` (lone surrogates, control and bidirectional characters included)."""

    def scan(self, text: str) -> TextScan: ...


class NoScanner:
    """Finds nothing: for a switchboard built without an engine (tests of other parts)."""

    def scan(self, text: str) -> TextScan:
        return TextScan()
