"""Video safety: frame verdicts and the policy that turns them into effects (docs/design.md §6).

Pure and clock-free, like the rest of the core. The detectors (``strangers.safety``)
produce a :class:`FrameVerdict` for one sampled JPEG; :class:`FrameWatch` keeps, for
one viewer in one match, what the policy needs to remember (has a clean frame been
seen yet, how many checks in a row found no face), and :func:`judge` decides what a
verdict makes happen. The switchboard carries the decision out.

The rules, from docs/design.md §6 (Ofcom's Illegal Content Codes, measure ICU C5 on hash
matching of CSAM, and the Protection of Children Code's measures on age-appropriate
experiences):

- **safe start**: the viewer sees the stranger's video blurred until the first clean
  verdict of that match (a frame the viewer's own page sampled), and only while the
  sender's own page keeps its own camera checked (below);
- **own checks current**: the sender's page samples its own camera on the same
  schedule; a viewer's blur lifts only while a check of the sender's own camera came
  back within ``own_check_seconds``, else it is blurred "video not checked", so a
  sender cannot opt out of the checks by a page that posts nothing;
- **nudity**: blurred at the viewer at once, the match ends; from the sender's own
  camera, a strike (two in 24 h make a 24 h ban; in the teen pool a 7-day ban and a
  case for review); from the viewer's sampling of it, one viewer's word: a case for a
  moderator, and the sanction only once distinct viewers on distinct networks agree
  (:class:`~strangers.core.flags.Corroboration`);
- **no face** in ``no_face_blur`` checks in a row: blurred with "face not visible"
  and a prompt to the sender; ``no_face_end`` in a row: the match ends;
- **known abuse** (a PDQ hash-list match at Hamming distance ≤ 31 of 256) on the
  sender's own camera: at once a permanent ban, the evidence kept, a critical case
  marked for a law-enforcement report; on a frame the viewer sampled: the evidence
  kept and a critical case open for a moderator, with no ban and no escalation before
  a person looks (docs/safety.md, "Whose word counts").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

from .flags import PERMANENT, Corroboration, Enforcement, FlagKind
from .frames import CheckedFrame, FrameSource, FrameVerdict

#: Two strikes within this window make a ban of :data:`STRIKE_BAN_SECONDS`.
STRIKES_FOR_BAN: Final = 2
STRIKE_BAN_SECONDS: Final = 24 * 3600.0
#: A nudity flag in the teen pool bans at once, for this long, pending review.
TEEN_NUDITY_BAN_SECONDS: Final = 7 * 24 * 3600.0
#: A known-abuse match bans the device for good and its network hash for this long.
KNOWN_ABUSE_NETWORK_BAN_SECONDS: Final = 30 * 24 * 3600.0


#: Why the viewer's video is blurred after safe start lifted ("": it is not).
PartnerBlur = Literal["", "face_not_visible", "not_checked"]


@dataclass(slots=True)
class FrameWatch:
    """One session's memory of the frames it sampled in the current match, and of when
    its partner's page last had its own camera checked (``partner_own_at``, in this
    switchboard's clock, ``None`` before the first). ``partner_face``: the latest
    verdict on the partner's video was clean with a face, so a late own check may lift
    the blur."""

    partner_clean: bool = False  # safe start lifted
    partner_blurred: PartnerBlur = ""
    partner_no_face: int = 0
    partner_own_at: float | None = None
    partner_face: bool = False
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
    NOT_CHECKED = "not_checked"  # blur "video not checked": the sender's own checks lapsed
    END_NO_FACE = "end_no_face"  # no face for too long: the match ends
    NUDITY = "nudity"  # blur at once, the match ends, the sender is flagged
    KNOWN_ABUSE = "known_abuse"  # blur at once, the match ends, the sender is banned


@dataclass(frozen=True, slots=True)
class Judgement:
    outcome: Outcome
    prompt_sender: bool | None = None  # True: show "show your face"; False: clear it


def enforcement_for(kind: FlagKind, *, teen: bool) -> Enforcement:
    """docs/design.md §6: what a flag of ``kind`` does to the subject, by pool, on evidence the
    subject cannot deny (its own camera, or corroborated viewers)."""
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


def frame_flag_enforcement(
    kind: FlagKind,
    source: FrameSource,
    *,
    teen: bool,
    viewers: int = 3,
    window_seconds: float = 24 * 3600.0,
) -> tuple[Enforcement, Corroboration | None]:
    """What a flag from a frame does, by whose page sampled it (docs/safety.md, "Whose
    word counts").

    ``OWN``: the sender's page posted its own camera, the sender's own evidence:
    :func:`enforcement_for` at once. ``PARTNER``: the viewer's page sampled the
    sender's video, which that page could have forged, so the flag alone only opens a
    case for review (the match has already ended and the viewer is blurred). Nudity
    then takes the full enforcement once ``viewers`` independent viewers agree within
    ``window_seconds``; a hash-list hit never acts without a moderator (Ofcom ICU C5
    asks for the match to be dealt with, not for a ban on an uncorroborated frame).
    """
    full = enforcement_for(kind, teen=teen)
    if source is FrameSource.OWN:
        return full, None
    held = Enforcement(review=True)
    if kind is FlagKind.KNOWN_ABUSE:
        return held, None
    return held, Corroboration(full, viewers=viewers, window_seconds=window_seconds)


def ban_after_strikes(strikes_in_window: int) -> float | None:
    """Seconds of ban that ``strikes_in_window`` strikes in 24 h earn (docs/design.md §6)."""
    return STRIKE_BAN_SECONDS if strikes_in_window >= STRIKES_FOR_BAN else None


def judge(
    watch: FrameWatch,
    source: FrameSource,
    verdict: FrameVerdict,
    *,
    no_face_blur: int = 3,
    no_face_end: int = 6,
    own_current: bool = True,
    own_overdue: bool = True,
) -> Judgement:
    """Update ``watch`` with one verdict and say what it makes happen.

    Flags outrank everything and do not depend on the source: a page that samples
    its own camera and finds nudity ends the match as the viewer's page would (what
    the flag does to the sender does depend on it: :func:`frame_flag_enforcement`).
    The face rules and safe start count only what the viewer itself sampled of the
    partner, so a forged "own" frame cannot lift a viewer's blur; the sender's own
    samples only drive the prompt it sees.

    For a verdict on the partner's video, ``own_current`` says whether the sender's own
    camera was checked recently; without that the blur never lifts, and a video
    already shown is blurred "not checked". During safe start that blur is sent only
    once ``own_overdue`` (the sender had its time to post); until then safe start
    holds quietly, and :func:`own_checked` lifts it when the own check arrives.
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
    watch.partner_face = verdict.face
    if verdict.face:
        watch.partner_no_face = 0
    else:
        watch.partner_no_face += 1
        if watch.partner_no_face >= no_face_end:
            return Judgement(Outcome.END_NO_FACE)
    was = watch.partner_blurred
    # The face rule first: it also tells the sender what to fix.
    if watch.partner_no_face >= no_face_blur:
        if was == "face_not_visible":
            return Judgement(Outcome.NOTHING)
        watch.partner_blurred = "face_not_visible"
        return Judgement(Outcome.NO_FACE, prompt_sender=True)
    prompt_off = False if was == "face_not_visible" else None
    if not own_current:
        in_safe_start = not watch.partner_clean and not was
        if was == "not_checked" or (in_safe_start and not own_overdue):
            return Judgement(Outcome.NOTHING, prompt_sender=prompt_off)
        watch.partner_blurred = "not_checked"
        return Judgement(Outcome.NOT_CHECKED, prompt_sender=prompt_off)
    if verdict.face and (not watch.partner_clean or was):
        watch.partner_clean = True
        watch.partner_blurred = ""
        return Judgement(Outcome.UNBLUR, prompt_sender=prompt_off)
    return Judgement(Outcome.NOTHING)


def own_checked(watch: FrameWatch, now: float) -> Judgement:
    """The partner's page had its own camera checked (not flagged) at ``now``: record
    it, and lift the viewer's blur at once when only the missing own check held it
    (the latest verdict on the partner's video was clean with a face)."""
    watch.partner_own_at = now
    held = watch.partner_blurred == "not_checked" or (
        not watch.partner_clean and not watch.partner_blurred
    )
    if held and watch.partner_face:
        watch.partner_clean = True
        watch.partner_blurred = ""
        return Judgement(Outcome.UNBLUR)
    return Judgement(Outcome.NOTHING)


def own_current(watch: FrameWatch, now: float, window: float) -> bool:
    """Whether the partner's own camera was checked within ``window`` seconds."""
    return watch.partner_own_at is not None and now - watch.partner_own_at <= window


def keep_frame(watch: FrameWatch, frame: CheckedFrame, per_source: int) -> None:
    """Keep the newest ``per_source`` checked frames of each source (docs/design.md §6)."""
    watch.frames.append(frame)
    same = [f for f in watch.frames if f.shows is frame.shows]
    if len(same) > per_source:
        watch.frames.remove(same[0])
