"""Video safety: frame verdicts and the policy that turns them into effects (design §6).

Pure and clock-free, like the rest of the core. The detectors (``strangers.safety``)
produce a :class:`FrameVerdict` for one sampled JPEG; :class:`FrameWatch` keeps, for
one viewer in one match, what the policy needs to remember (has a clean frame been
seen yet, how many checks in a row found no face), and :func:`judge` decides what a
verdict makes happen. The switchboard carries the decision out.

The rules, from design §6 (Ofcom's Illegal Content Codes, measure ICU C5 on hash
matching of CSAM, and the Protection of Children Code's measures on age-appropriate
experiences):

- **safe start**: the viewer sees the stranger's video blurred until the first clean
  verdict of that match (a frame the viewer's own page sampled);
- **nudity**: blurred at the viewer at once, the match ends, a strike on the sender;
  two strikes in 24 h make a 24 h ban; in the teen pool, a ban and a case for review;
- **no face** in ``no_face_blur`` checks in a row: blurred with "face not visible"
  and a prompt to the sender; ``no_face_end`` in a row: the match ends;
- **known abuse** (a PDQ hash-list match at Hamming distance ≤ 31 of 256): at once a
  permanent ban, the evidence kept, a critical case marked for a law-enforcement
  report, with no person having to look first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

from .flags import PERMANENT, Enforcement, FlagKind
from .frames import CheckedFrame, FrameSource, FrameVerdict

#: Two strikes within this window make a ban of :data:`STRIKE_BAN_SECONDS`.
STRIKES_FOR_BAN: Final = 2
STRIKE_BAN_SECONDS: Final = 24 * 3600.0
#: A nudity flag in the teen pool bans at once, for this long, pending review.
TEEN_NUDITY_BAN_SECONDS: Final = 7 * 24 * 3600.0
#: A known-abuse match bans the device for good and its network hash for this long.
KNOWN_ABUSE_NETWORK_BAN_SECONDS: Final = 30 * 24 * 3600.0


@dataclass(slots=True)
class FrameWatch:
    """One session's memory of the frames it sampled in the current match."""

    partner_clean: bool = False  # safe start lifted
    partner_blurred: Literal["", "face_not_visible"] = ""
    partner_no_face: int = 0
    own_no_face: int = 0
    own_prompted: bool = False
    frames: list[CheckedFrame] = field(default_factory=list)
    checks: int = 0
    posts: int = 0


class Outcome(StrEnum):
    """What one verdict does to the match."""

    NOTHING = "nothing"
    UNBLUR = "unblur"  # the viewer's blur lifts (safe start or face seen again)
    NO_FACE = "no_face"  # blur "face not visible" at the viewer, prompt the sender
    END_NO_FACE = "end_no_face"  # no face for too long: the match ends
    NUDITY = "nudity"  # blur at once, the match ends, the sender is flagged
    KNOWN_ABUSE = "known_abuse"  # blur at once, the match ends, the sender is banned


@dataclass(frozen=True, slots=True)
class Judgement:
    outcome: Outcome
    prompt_sender: bool | None = None  # True: show "show your face"; False: clear it


def enforcement_for(kind: FlagKind, *, teen: bool) -> Enforcement:
    """Design §6: what a flag of ``kind`` does to the subject, by pool."""
    if kind is FlagKind.KNOWN_ABUSE:
        return Enforcement(
            ban_seconds=PERMANENT,
            network_ban_seconds=KNOWN_ABUSE_NETWORK_BAN_SECONDS,
            review=True,
            escalate=True,
        )
    if teen:
        return Enforcement(strike=True, ban_seconds=TEEN_NUDITY_BAN_SECONDS, review=True)
    return Enforcement(strike=True)


def ban_after_strikes(strikes_in_window: int) -> float | None:
    """Seconds of ban that ``strikes_in_window`` strikes in 24 h earn (design §6)."""
    return STRIKE_BAN_SECONDS if strikes_in_window >= STRIKES_FOR_BAN else None


def judge(
    watch: FrameWatch,
    source: FrameSource,
    verdict: FrameVerdict,
    *,
    no_face_blur: int = 3,
    no_face_end: int = 6,
) -> Judgement:
    """Update ``watch`` with one verdict and say what it makes happen.

    Flags outrank everything and do not depend on the source: a page that samples
    its own camera and finds nudity ends the match as the viewer's page would. The
    face rules and safe start count only what the viewer itself sampled of the
    partner, so a forged "own" frame cannot lift a viewer's blur; the sender's own
    samples only drive the prompt it sees.
    """
    if not 0 < no_face_blur <= no_face_end:
        raise ValueError("need 0 < no_face_blur <= no_face_end")
    watch.checks += 1
    if verdict.hash_hit is not None:
        return Judgement(Outcome.KNOWN_ABUSE)
    if verdict.nudity:
        return Judgement(Outcome.NUDITY)
    if source is FrameSource.OWN:
        if verdict.face:
            watch.own_no_face = 0
            if watch.own_prompted:
                watch.own_prompted = False
                return Judgement(Outcome.NOTHING, prompt_sender=False)
            return Judgement(Outcome.NOTHING)
        watch.own_no_face += 1
        if watch.own_no_face >= no_face_blur and not watch.own_prompted:
            watch.own_prompted = True
            return Judgement(Outcome.NOTHING, prompt_sender=True)
        return Judgement(Outcome.NOTHING)
    if verdict.face:
        watch.partner_no_face = 0
        if not watch.partner_clean or watch.partner_blurred:
            was_blurred = bool(watch.partner_blurred)
            watch.partner_clean = True
            watch.partner_blurred = ""
            return Judgement(Outcome.UNBLUR, prompt_sender=False if was_blurred else None)
        return Judgement(Outcome.NOTHING)
    watch.partner_no_face += 1
    if watch.partner_no_face >= no_face_end:
        return Judgement(Outcome.END_NO_FACE)
    if watch.partner_no_face >= no_face_blur and not watch.partner_blurred:
        watch.partner_blurred = "face_not_visible"
        return Judgement(Outcome.NO_FACE, prompt_sender=True)
    return Judgement(Outcome.NOTHING)


def keep_frame(watch: FrameWatch, frame: CheckedFrame, per_source: int) -> None:
    """Keep the newest ``per_source`` checked frames of each source (design §6)."""
    watch.frames.append(frame)
    same = [f for f in watch.frames if f.shows is frame.shows]
    if len(same) > per_source:
        watch.frames.remove(same[0])
