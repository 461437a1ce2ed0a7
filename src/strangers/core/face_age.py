"""Age from the camera: the challenge-age policy (docs/safety.md, "Age from the camera").

The age question is self-declared; a facial age estimate of the chatter's *own* camera
(``FrameVerdict.age``, on frames its page posts as ``own``) is a second opinion the
chatter cannot type away. An estimate is a number with an error of several years, so
one estimate does nothing: only ``checks`` estimates in a row on the same side of a
wide margin act (Ofcom's Protection of Children Codes, measure PCU B6, and its guidance
on highly effective age assurance: an estimate is used with a buffer, a "challenge
age", set for the method's error).

- **adult pool**: ``checks`` estimates in a row under ``challenge_age`` take the chatter
  out of the match and back to the age question, with the lock a minor's age statement
  gets (the median estimate, rounded down, locks like a stated age would). No case
  opens: a child is not a suspect.
- **teen pool**: ``checks`` estimates in a row at or over ``clearly_adult`` take the
  chatter out, bar the device from the teen pool and open a case for a moderator.
- Anything in between does nothing on its own; the session keeps the newest ``kept``
  estimates, as numbers, and a flag about the chatter carries them as ``face_age``
  signals for the moderator. They are dropped when the session ends.

Pure and clock-free like the rest of the core.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from .frames import AgeEstimate

#: The age at which a chatter counts as an adult.
ADULT: Final = 18


@dataclass(frozen=True, slots=True)
class FaceAgeRules:
    """Where the policy acts (settings ``STRANGERS_FACE_AGE_*``). The defaults leave a
    margin of two years under 18 and twelve over it: the model's estimates scatter by
    several years on one face (docs/safety.md, "What the model says"), and a wrong
    "child" costs an adult a day's lock while a wrong "adult" costs a teen the teen
    pool, so both sides act only well clear of 18."""

    challenge_age: float = 16.0
    clearly_adult: float = 30.0
    checks: int = 3
    kept: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.challenge_age <= ADULT <= self.clearly_adult:
            raise ValueError("need 0 < challenge_age <= 18 <= clearly_adult")
        if not 1 <= self.checks <= self.kept:
            raise ValueError("need 1 <= checks <= kept")


class FaceAgeOutcome(StrEnum):
    NOTHING = "nothing"
    UNDER_CHALLENGE = "under_challenge"  # adult pool: back to the age question
    CLEARLY_ADULT = "clearly_adult"  # teen pool: out, barred, a case


@dataclass(slots=True)
class FaceAgeWatch:
    """The newest estimates of one session's own face, in years (numbers only)."""

    estimates: list[float] = field(default_factory=list)

    def signals(self) -> tuple[tuple[str, float], ...]:
        """As signals for a moderator: ``("face_age", years)``, oldest first."""
        return tuple(("face_age", round(years, 1)) for years in self.estimates)


@dataclass(frozen=True, slots=True)
class FaceAgeJudgement:
    """What one estimate does; ``age``: the age it stands for when it acts (the median
    of the estimates that decided, rounded down), for the age state that follows;
    ``signals``: the session's estimates when it acted, for the case."""

    outcome: FaceAgeOutcome
    age: int | None = None
    signals: tuple[tuple[str, float], ...] = ()


def judge_face_age(
    watch: FaceAgeWatch, estimate: AgeEstimate, *, teen: bool, rules: FaceAgeRules
) -> FaceAgeJudgement:
    """Record ``estimate`` in ``watch`` and say what it makes happen (module docstring).
    Once it acts, the estimates that decided are cleared: the next decision needs
    ``checks`` new ones."""
    watch.estimates.append(estimate.years)
    del watch.estimates[: max(0, len(watch.estimates) - rules.kept)]
    last = watch.estimates[-rules.checks :]
    if len(last) < rules.checks:
        return FaceAgeJudgement(FaceAgeOutcome.NOTHING)
    age = math.floor(statistics.median(last))
    if not teen and all(years < rules.challenge_age for years in last):
        outcome, age = FaceAgeOutcome.UNDER_CHALLENGE, min(age, ADULT - 1)
    elif teen and all(years >= rules.clearly_adult for years in last):
        outcome, age = FaceAgeOutcome.CLEARLY_ADULT, max(age, ADULT)
    else:
        return FaceAgeJudgement(FaceAgeOutcome.NOTHING)
    signals = watch.signals()
    watch.estimates.clear()
    return FaceAgeJudgement(outcome, age, signals)
