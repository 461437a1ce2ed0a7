"""Text safety policy: signals add up per sender per match into a risk level (docs/design.md §6).

Pure, like the rest of the core. Each line a sender relays is scanned
(:class:`~strangers.core.text.TextScanner`); :func:`judge_line` adds its signals to the
sender's :class:`TextWatch` for this match and decides what the line does:

====================  ==================================================================
risk reached          effect
====================  ==================================================================
``nudge`` (1)         a short, calm notice to the recipient, once per kind per match;
                      a kind whose weight alone reaches this level earns its notice at
                      its first confident signal, whatever the risk so far
``mask`` (5)          lines that carry a signal reach the recipient hidden
``end`` (10)          the match ends (``ended``/``safety`` for both)
``case`` (12)         the match ends and a case opens with the transcript as evidence
====================  ==================================================================

The match ends at the line that reaches ``end``, so ``case`` is the risk *at that
line*: a conversation that escalates fast (several signals in one line) opens a case,
one that creeps up is ended before it gets there.

Pool rules, whatever the risk (docs/design.md §6; Ofcom's Protection of Children Code and its
Illegal Content Codes' grooming measures, which ask that children's contact details
are not shared with strangers):

- in the teen pool, contact details and links are always hidden; an adult age
  statement ends the match and opens a case;
- in the adult pool, a minor's age statement ends the match and sends that device back
  to the age question after a cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Literal

from .messages import TextNudge
from .text import CONTACT_KINDS, SignalKind, TextScan

ADULT_AGE: Final = 18

#: How much each kind adds to the sender's risk (contact details and moving elsewhere
#: weigh most: they are how grooming leaves the platform).
WEIGHTS: Final[dict[SignalKind, float]] = {
    SignalKind.PHONE: 3.0,
    SignalKind.EMAIL: 3.0,
    SignalKind.LINK: 2.0,
    SignalKind.HANDLE: 3.0,
    SignalKind.AGE: 0.0,
    SignalKind.ASKS_AGE: 1.0,
    SignalKind.ASKS_ALONE: 3.0,
    SignalKind.SECRECY: 4.0,
    SignalKind.ASKS_PICTURES: 4.0,
    SignalKind.ASKS_CAMERA: 3.0,
    SignalKind.BODY: 2.0,
    SignalKind.GIFTS: 3.0,
    SignalKind.MEET: 3.0,
    SignalKind.OTHER_APP: 3.0,
    SignalKind.PROFANITY: 0.5,
}

#: Contact details and invitations to another app: how grooming leaves the platform.
OFF_PLATFORM_KINDS: Final = CONTACT_KINDS | {SignalKind.OTHER_APP}

Nudge = TextNudge

#: The notice each kind earns the recipient (profanity and age statements earn none).
NUDGES: Final[dict[SignalKind, Nudge]] = {
    SignalKind.PHONE: "contact",
    SignalKind.EMAIL: "contact",
    SignalKind.LINK: "contact",
    SignalKind.HANDLE: "contact",
    SignalKind.ASKS_AGE: "asks_age",
    SignalKind.ASKS_ALONE: "asks_alone",
    SignalKind.SECRECY: "secrecy",
    SignalKind.ASKS_PICTURES: "asks_pictures",
    SignalKind.ASKS_CAMERA: "asks_camera",
    SignalKind.BODY: "body",
    SignalKind.GIFTS: "gifts",
    SignalKind.MEET: "meet",
    SignalKind.OTHER_APP: "other_app",
}


class RiskLevel(IntEnum):
    NONE = 0
    NUDGE = 1
    MASK = 2
    END = 3
    CASE = 4


@dataclass(frozen=True, slots=True)
class RiskThresholds:
    """The risk at which each level starts; limits in the constructor, safe defaults."""

    nudge: float = 1.0
    mask: float = 5.0
    end: float = 10.0
    case: float = 12.0
    min_score: float = 0.5  # signals below this confidence are ignored

    def __post_init__(self) -> None:
        if not 0 < self.nudge <= self.mask <= self.end <= self.case:
            raise ValueError("need 0 < nudge <= mask <= end <= case")

    def level(self, risk: float) -> RiskLevel:
        for level, start in (
            (RiskLevel.CASE, self.case),
            (RiskLevel.END, self.end),
            (RiskLevel.MASK, self.mask),
            (RiskLevel.NUDGE, self.nudge),
        ):
            if risk >= start:
                return level
        return RiskLevel.NONE


@dataclass(slots=True)
class TextWatch:
    """One sender's risk in the current match, and the notices already given."""

    risk: float = 0.0
    nudged: set[str] = field(default_factory=set)
    signals: list[tuple[str, float]] = field(default_factory=list)  # for the case page


Hidden = Literal["contact", "risk"]


@dataclass(frozen=True, slots=True)
class LineDecision:
    """What one line does. ``hidden``: why the recipient gets it hidden (``None``: as
    sent). ``case``: open a case (``"text_risk"`` or ``"adult_in_teen"``). ``restage``:
    the sender stated this age in the adult pool and goes back to the age question."""

    hidden: Hidden | None = None
    nudges: tuple[Nudge, ...] = ()
    end: bool = False
    case: Literal["text_risk", "adult_in_teen"] | None = None
    restage: int | None = None
    level: RiskLevel = RiskLevel.NONE


def judge_line(
    watch: TextWatch,
    scan: TextScan,
    *,
    teen: bool,
    thresholds: RiskThresholds | None = None,
) -> LineDecision:
    """Add one line's signals to ``watch`` and decide what the line does."""
    thresholds = thresholds or RiskThresholds()
    kinds = {s.kind for s in scan.signals if s.score >= thresholds.min_score}
    if scan.age is not None:
        if teen and scan.age >= ADULT_AGE:
            return LineDecision(hidden="risk", end=True, case="adult_in_teen")
        if not teen and scan.age < ADULT_AGE:
            return LineDecision(end=True, restage=scan.age)
    # A line's ways off the platform (contact details, another app) are one act: "add me
    # on snap: coolkid_22" is a handle and an invitation to another app, and counting both
    # made one adult's line weigh as two and reach the masking level alone. They count
    # once, at the heaviest; each is still recorded and earns its own notice.
    route = 0.0
    for signal in scan.signals:
        if signal.score >= thresholds.min_score and WEIGHTS[signal.kind]:
            weight = WEIGHTS[signal.kind] * signal.score
            if signal.kind in OFF_PLATFORM_KINDS:
                route = max(route, weight)
            else:
                watch.risk += weight
            watch.signals.append((str(signal.kind), round(signal.score, 3)))
    watch.risk += route
    level = thresholds.level(watch.risk)
    contact = bool(kinds & CONTACT_KINDS)
    hidden: Hidden | None = None
    if teen and contact:
        hidden = "contact"
    elif level >= RiskLevel.MASK and any(WEIGHTS[k] >= 1.0 for k in kinds):
        hidden = "contact" if contact else "risk"
    nudges: list[Nudge] = []
    for kind in sorted(kinds):
        # A kind heavy enough to reach the notice level alone earns its notice at its
        # first confident signal: weighing it by the detector's confidence (0.9 for a
        # plain "how old are you?") left a lone age question short of the level forever.
        if level >= RiskLevel.NUDGE or hidden is not None or WEIGHTS[kind] >= thresholds.nudge:
            nudge = NUDGES.get(kind)
            if nudge is not None and nudge not in watch.nudged and nudge not in nudges:
                nudges.append(nudge)
    watch.nudged.update(nudges)
    return LineDecision(
        hidden=hidden,
        nudges=tuple(nudges),
        end=level >= RiskLevel.END,
        case="text_risk" if level >= RiskLevel.CASE else None,
        level=level,
    )
