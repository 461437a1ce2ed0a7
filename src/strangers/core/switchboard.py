"""The switchboard: a node's sessions, and what each input makes happen.

Sans-I/O in the manner of python-websockets' ``protocol.py`` and h11: every
method takes an input (a decoded client message, an event from a partner, a
pair from the matchmaker, a closed socket) and the time, updates the sessions
and returns a list of :data:`Effect` for the adapters to carry out. It never
sends, sleeps or reads a clock.

A request the current state does not allow raises a
:class:`~strangers.core.errors.StrangersError` *before* anything changes, so a
refused request leaves no partial state.

Partners talk only through :class:`PeerEvent` values that carry the match and
the sender; an event whose match or sender is not the recipient's current
ones is dropped, so nobody but the current partner can reach a chatter, and
nothing from an ended match arrives late (docs/design.md §4).

Every chat line passes the text signal engine before it is relayed; the policy of
:mod:`strangers.core.text_policy` decides whether it goes as sent or hidden, which
notices the recipient gets, and whether the match ends, a case opens or the sender goes
back to the age question.

Video frames come in two steps around the detectors' I/O: :meth:`Switchboard.frame_posted`
admits a post (the token's match must still be current, within the frame rate) and
snapshots both sides' identifiers; :meth:`Switchboard.frame_checked` applies the verdict
through the policy of :mod:`strangers.core.video` (blur, prompt, end, flag).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .bans import network_banned_message
from .errors import LimitExceeded, MatchOver, NotRecent, StateError
from .face_age import FaceAgeOutcome, FaceAgeRules, judge_face_age
from .flags import Enforcement, Flag, FlagKind
from .frame_tokens import FrameTokens
from .frames import AgeEstimate, CheckedFrame, FrameSource, FrameVerdict
from .ice import relay_candidate, relay_only_sdp
from .limits import Limits
from .matching import MatchRules, Pair, Ticket, WaitNote
from .messages import (
    AgeBand,
    Banned,
    Blur,
    ClientMessage,
    Ended,
    Find,
    Hello,
    LimitsInfo,
    Matched,
    Message,
    Mode,
    Notice,
    PartnerLeft,
    PartnerSignal,
    PartnerTyping,
    Ping,
    Pong,
    QueueState,
    Refused,
    Report,
    SendText,
    ServerMessage,
    Signal,
    Skip,
    Stop,
    Typing,
    Waiting,
)
from .network import UNKNOWN_NETWORK
from .pools import pool_for
from .reports import Filing, Line, Party, RecentMatch
from .session import Session, State
from .text import NoScanner, TextScanner
from .text_policy import Hidden, RiskThresholds, TextWatch, judge_line
from .video import (
    FrameWatch,
    Outcome,
    frame_flag_enforcement,
    judge,
    keep_frame,
    own_checked,
    own_current,
)

#: Why a match was ended by the server's checks rather than by a chatter.
EndReason = Literal["safety", "no_face"]

# --- effects ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``message`` to the socket of ``session`` (a session on this node)."""

    session: str
    message: ServerMessage


@dataclass(frozen=True, slots=True)
class PeerText:
    """A line from the partner; ``hidden``: the recipient gets it withheld (the text is
    still carried, as the evidence a report of this match would keep)."""

    match: str
    sender: str
    text: str
    hidden: Hidden | None = None


@dataclass(frozen=True, slots=True)
class PeerTyping:
    match: str
    sender: str
    active: bool


@dataclass(frozen=True, slots=True)
class PeerLeft:
    """The sender left the match; ``reason`` when the server's checks ended it."""

    match: str
    sender: str
    reason: EndReason | None = None


@dataclass(frozen=True, slots=True)
class PeerSignal:
    match: str
    sender: str
    signal: PartnerSignal


@dataclass(frozen=True, slots=True)
class PeerNotify:
    """A message the policy sends to the sender's partner (a blur, a prompt)."""

    match: str
    sender: str
    message: Blur | Notice


@dataclass(frozen=True, slots=True)
class PeerOwnChecked:
    """The sender's page had its own camera checked, and nothing was flagged: the
    viewer's blur may lift while such checks keep coming (docs/safety.md, "Whose word
    counts"). It carries no time: the receiver stamps it with its own clock, as clocks
    of two hosts do not compare."""

    match: str
    sender: str


PeerEvent = PeerText | PeerTyping | PeerLeft | PeerSignal | PeerNotify | PeerOwnChecked


@dataclass(frozen=True, slots=True)
class Relay:
    """Hand ``event`` to the switchboard that holds session ``to`` (maybe another node)."""

    to: str
    event: PeerEvent


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Put ``ticket`` in the matchmaker's queue for its pool."""

    ticket: Ticket


@dataclass(frozen=True, slots=True)
class Dequeue:
    """Take ``session`` out of the matchmaker's queue."""

    session: str


@dataclass(frozen=True, slots=True)
class BlockPair:
    """Never pair these two devices again (a report was filed)."""

    device_a: str
    device_b: str


@dataclass(frozen=True, slots=True)
class FileReport:
    """Commit ``filing``, then tell its reporter ``reported``. The filing's times are
    in the switchboard's clock; the gateway rebases them to Unix time."""

    filing: Filing


@dataclass(frozen=True, slots=True)
class EnforceFlag:
    """Commit ``flag`` as a case with its evidence and carry out its enforcement
    (strike, bans); times are in the switchboard's clock, as for :class:`FileReport`."""

    flag: Flag


@dataclass(frozen=True, slots=True)
class Kick:
    """Close the socket of ``session`` once what was sent to it is written (a ban)."""

    session: str


@dataclass(frozen=True, slots=True)
class Restage:
    """The sender of session ``session`` stated ``age`` in a pool that does not admit
    it (docs/design.md §6, docs/safety.md "Age"): under 18 in the adult pool, its device goes
    back to the age question after a cooldown; 18 or over in the teen pool, its device
    is barred from the teen pool. Either way every open session of the device, on
    every gateway, is held to the new state (:meth:`Switchboard.send_to_age_question`).
    """

    session: str
    device: str
    age: int


Effect = Send | Relay | Enqueue | Dequeue | BlockPair | FileReport | EnforceFlag | Kick | Restage


@dataclass(frozen=True, slots=True)
class FramePost:
    """A frame post admitted for checking. Both sides' identifiers are taken when it is
    admitted, so a flag is enforced even if the match ends while the check runs.
    ``first``: among the first frames of the match, which are checked first under load
    (docs/design.md §6), as are the teen pool's."""

    session: str
    match: str
    source: FrameSource
    pool: str
    teen: bool
    first: bool
    sampler: Party
    partner: Party
    matched_at: float

    @property
    def priority(self) -> int:
        """0 goes first: first frames in the teen pool, first frames, the teen pool, rest."""
        return (0 if self.first else 2) + (0 if self.teen else 1)


class Switchboard:
    """The sessions of one node and their transitions."""

    def __init__(
        self,
        limits: Limits | None = None,
        rules: MatchRules | None = None,
        *,
        video: bool = True,
        relay_only: bool = True,
        frame_tokens: FrameTokens | None = None,
        scanner: TextScanner | None = None,
        risk: RiskThresholds | None = None,
        face_age: FaceAgeRules | None = None,
    ) -> None:
        """``video``: whether video chat is offered at all (not in production without
        TURN). ``relay_only``: whether signalling is filtered to relay candidates (TURN
        configured); off only in development without TURN. ``frame_tokens``: issues each
        side of a video match its token for posting frames to be checked. ``scanner``:
        the text signal engine every line passes; ``risk``: where its levels start;
        ``face_age``: the challenge-age policy on estimates of the chatters' own faces."""
        self.limits = limits or Limits()
        self.rules = rules or MatchRules()
        self.video = video
        self.relay_only = relay_only
        self.frame_tokens = frame_tokens
        self.scanner: TextScanner = scanner or NoScanner()
        self.risk = risk or RiskThresholds()
        self.face_age = face_age or FaceAgeRules()
        self.sessions: dict[str, Session] = {}

    def limits_info(self) -> LimitsInfo:
        return LimitsInfo(
            message_chars=self.limits.message_chars,
            messages_per_second=self.limits.messages_per_second,
            message_burst=self.limits.message_burst,
            skips_per_minute=self.limits.skips_per_minute,
            interest_timeout=self.rules.interest_timeout,
        )

    # --- inputs ------------------------------------------------------------------------

    def open(
        self,
        session: str,
        device: str,
        band: AgeBand,
        language: str,
        now: float,
        *,
        network: str = UNKNOWN_NETWORK,
    ) -> Session:
        """Start a session admitted by the age gate; it begins idle."""
        if session in self.sessions:
            raise ValueError("session ids must be unique")
        opened = Session.open(session, device, network, band, language, self.limits, now)
        self.sessions[session] = opened
        return opened

    def receive(self, session_id: str, message: ClientMessage, now: float) -> list[Effect]:
        """Apply a client message. Raises ``StateError`` or ``LimitExceeded`` without
        changing anything when the message is refused."""
        session = self.sessions[session_id]
        # The oldest recent match is forgotten first: checking it alone keeps lines cheap.
        if session.recent and self._expired(session.recent[0], now):
            self._forget_old(session, now)
        match message:
            case SendText(text=text):
                return self._send_text(session, text, now)
            case Typing(active=active):
                return self._typing(session, active, now)
            case Find():
                return self._find(session, message, now)
            case Skip():
                return self._skip(session, now)
            case Stop():
                return self._stop(session, now)
            case Report():
                return self._report(session, message, now)
            case Signal():
                return self._signal(session, message, now)
            case Ping(id=ping_id):
                return [Send(session.id, Pong(id=ping_id))]
            case Hello():
                raise StateError("The session has already started.")
        raise StateError()  # pragma: no cover - the union above is exhaustive

    def from_peer(self, session_id: str, event: PeerEvent, now: float) -> list[Effect]:
        """Apply an event from a partner; anything not from the current partner
        of the current match is dropped."""
        session = self.sessions.get(session_id)
        if (
            session is None
            or session.state is not State.CHATTING
            or session.match != event.match
            or session.partner != event.sender
        ):
            return []
        match event:
            case PeerText(text=text, hidden=hidden):
                self._record(session, "reported", text, now)
                return [Send(session.id, Message(text="" if hidden else text, hidden=hidden))]
            case PeerTyping(active=active):
                return [Send(session.id, PartnerTyping(active=active))]
            case PeerLeft(match=match_id, reason=reason):
                self._end(session, now)
                if reason is not None:
                    # The sender's checks ended it: a missing face was this side's own.
                    face: Literal["own"] | None = "own" if reason == "no_face" else None
                    return [Send(session.id, Ended(reason=reason, match=match_id, face=face))]
                return [Send(session.id, PartnerLeft(match=match_id))]
            case PeerSignal(signal=signal):
                return [Send(session.id, signal)]
            case PeerNotify(message=notify):
                return [Send(session.id, notify)]
            case PeerOwnChecked(match=match_id):
                if own_checked(session.watch, now).outcome is Outcome.UNBLUR:
                    return [Send(session.id, Blur(on=False, reason="clear", match=match_id))]
                return []
        return []  # pragma: no cover

    def paired(self, pair: Pair, now: float) -> list[Effect]:
        """Start the chat the matchmaker paired, for the sides on this node.

        A side that is no longer waiting for that very ticket (it stopped, or
        went away, while the pair was in flight) voids the pair; the other
        side goes back to the queue with its original ticket, keeping its place,
        or, when another node holds it, is told its partner left.
        """
        local = [t for t in (pair.a, pair.b) if t.session in self.sessions]
        stale = [t for t in local if not self._waits_for(t)]
        if stale:
            voided: list[Effect] = [Enqueue(t) for t in local if t not in stale]
            # A partner held by another node starts this match when its own copy of the
            # pair arrives there: tell it at once that this side is gone.
            for ticket, other in ((pair.a, pair.b), (pair.b, pair.a)):
                if ticket in stale and other.session not in self.sessions:
                    voided.append(Relay(other.session, PeerLeft(pair.match, ticket.session)))
            return voided
        effects: list[Effect] = []
        for ticket, other in ((pair.a, pair.b), (pair.b, pair.a)):
            session = self.sessions.get(ticket.session)
            if session is None:
                continue
            session.state = State.CHATTING
            session.match = pair.match
            session.partner = other.session
            session.partner_device = other.device
            session.partner_network = other.network
            session.matched_at = now
            session.watch = FrameWatch()
            session.text_watch = TextWatch()
            token = None
            if ticket.pool.mode is Mode.VIDEO and self.frame_tokens is not None:
                token = self.frame_tokens.issue(pair.match, session.id)
            effects.append(
                Send(
                    session.id,
                    Matched(
                        match=pair.match,
                        mode=ticket.pool.mode,
                        interests=pair.common,
                        fallback=pair.fallback_for(ticket),
                        frame_token=token,
                    ),
                )
            )
        return effects

    def wait_note(self, note: WaitNote) -> list[Effect]:
        """Tell a waiting chatter why it still waits (``queue``, docs/protocol.md), if
        the note is for its current wait; a note for an earlier wait, or for a session
        that has since been paired, stopped or gone, is dropped."""
        session = self.sessions.get(note.session)
        if (
            session is None
            or session.state is not State.WAITING
            or session.serial != note.serial
            or session.mode is None
        ):
            return []
        minutes = None
        if note.state == "met_recently":
            minutes = max(1, round(self.rules.repair_cooldown / 60))
        message = QueueState(mode=session.mode, state=note.state, repair_minutes=minutes)
        return [Send(session.id, message)]

    def frame_posted(
        self, session_id: str, match: str, source: FrameSource, now: float
    ) -> FramePost:
        """Admit a frame posted with a token for ``match``: raises ``MatchOver`` unless
        the session is in that very match (of video), ``LimitExceeded`` past its frame
        rate. Nothing changes when it raises."""
        session = self.sessions.get(session_id)
        if (
            session is None
            or session.state is not State.CHATTING
            or session.match != match
            or session.mode is not Mode.VIDEO
        ):
            raise MatchOver()
        wait = session.frame_rate.take(now)
        if wait:
            raise LimitExceeded("Too many frames in a short time.", retry_after=round(wait, 3))
        assert session.partner is not None
        session.watch.posts += 1
        pool = pool_for(session.band, session.mode)
        return FramePost(
            session=session.id,
            match=match,
            source=source,
            pool=pool.key,
            teen=session.band is AgeBand.TEEN,
            first=session.watch.posts <= 2,
            sampler=Party(session.device, session.network, session.id),
            partner=Party(session.partner_device, session.partner_network, session.partner),
            matched_at=session.matched_at,
        )

    def frame_checked(
        self, post: FramePost, verdict: FrameVerdict, jpeg: bytes, now: float
    ) -> list[Effect]:
        """Apply a frame's verdict (docs/design.md §6, video). A flag on a frame whose match has
        ended meanwhile is still enforced; anything else about it is moot. A check of
        the sender's own camera that flags nothing is relayed to the partner
        (:class:`PeerOwnChecked`): the partner's blur lifts only while such checks are
        at most ``limits.own_check_seconds`` old (docs/safety.md, "Whose word counts")."""
        session = self.sessions.get(post.session)
        current = (
            session is not None and session.state is State.CHATTING and session.match == post.match
        )
        if session is None or not current:
            if verdict.hash_hit is None and not verdict.nudity:
                return []
            frame = CheckedFrame(round(now - post.matched_at, 3), post.source, jpeg, verdict)
            return [EnforceFlag(self._flag(post, verdict, now, (frame,), ()))]
        assert session.match is not None and session.partner is not None
        watch = session.watch
        keep_frame(
            watch,
            CheckedFrame(round(now - session.matched_at, 3), post.source, jpeg, verdict),
            self.limits.evidence_frames,
        )
        window = self.limits.own_check_seconds
        judgement = judge(
            watch,
            post.source,
            verdict,
            no_face_blur=self.limits.no_face_blur,
            no_face_end=self.limits.no_face_end,
            own_current=own_current(watch, now, window),
            own_overdue=now - session.matched_at >= window,
        )
        match_id, partner = session.match, session.partner
        effects: list[Effect] = []
        flagged = judgement.outcome in (Outcome.NUDITY, Outcome.KNOWN_ABUSE)
        if post.source is FrameSource.OWN and not flagged:
            # The sender's own camera is checked: the partner's view of it may show.
            effects.append(Relay(partner, PeerOwnChecked(match_id, session.id)))
        if judgement.prompt_sender is not None:
            prompt = Notice(kind="show_face", active=judgement.prompt_sender, match=match_id)
            if post.source is FrameSource.OWN:
                effects.append(Send(session.id, prompt))
            else:
                effects.append(Relay(partner, PeerNotify(match_id, session.id, prompt)))
        match judgement.outcome:
            case Outcome.UNBLUR:
                effects.append(Send(session.id, Blur(on=False, reason="clear", match=match_id)))
            case Outcome.NO_FACE:
                blur = Blur(on=True, reason="face_not_visible", match=match_id)
                effects.append(Send(session.id, blur))
            case Outcome.NOT_CHECKED:
                blur = Blur(on=True, reason="not_checked", match=match_id)
                effects.append(Send(session.id, blur))
            case Outcome.END_NO_FACE:
                effects += self._end_by_checks(session, "no_face", now)
            case Outcome.NUDITY | Outcome.KNOWN_ABUSE:
                reason: Literal["nudity", "known_abuse"] = (
                    "nudity" if judgement.outcome is Outcome.NUDITY else "known_abuse"
                )
                blur = Blur(on=True, reason=reason, match=match_id)
                # The viewer is blurred first, then the match ends: in that order on
                # the wire too (docs/design.md §6: "blur at the viewer at once").
                if post.source is FrameSource.PARTNER:
                    effects.append(Send(session.id, blur))
                else:
                    effects.append(Relay(partner, PeerNotify(match_id, session.id, blur)))
                flag = self._flag(
                    post, verdict, now, tuple(watch.frames), tuple(session.transcript)
                )
                effects += self._end_by_checks(session, "safety", now)
                effects.append(EnforceFlag(flag))
                return effects
        if post.source is FrameSource.OWN and verdict.age is not None and session.mode:
            effects += self._face_age(session, verdict, verdict.age, now)
        return effects

    def _face_age(
        self, session: Session, verdict: FrameVerdict, estimate: AgeEstimate, now: float
    ) -> list[Effect]:
        """An estimate of the session's own face (:mod:`.face_age`): in the adult pool,
        estimates under the challenge age end the match and send the device back to
        the age question as a minor's statement would (no case); in the teen pool,
        clearly adult ones end it, open a case and bar the device from the teen pool
        (both through :class:`Restage`, on every session of the device)."""
        teen = session.band is AgeBand.TEEN
        judged = judge_face_age(session.face_ages, estimate, teen=teen, rules=self.face_age)
        if judged.outcome is FaceAgeOutcome.NOTHING or judged.age is None:
            return []
        assert session.match is not None and session.partner is not None and session.mode
        effects: list[Effect] = []
        if judged.outcome is FaceAgeOutcome.CLEARLY_ADULT:
            me = Party(session.device, session.network, session.id)
            effects.append(
                EnforceFlag(
                    Flag(
                        kind=FlagKind.ADULT_IN_TEEN,
                        match=session.match,
                        pool=pool_for(session.band, session.mode).key,
                        subject=me,
                        sampler=me,
                        verdict=verdict,
                        enforcement=Enforcement(review=True),
                        matched_at=session.matched_at,
                        flagged_at=now,
                        frames=tuple(f for f in session.watch.frames if f.shows is FrameSource.OWN),
                        transcript=_as_subject(tuple(session.transcript)),
                        signals=judged.signals,
                    )
                )
            )
        effects = self._end_by_checks(session, "safety", now) + effects
        effects.append(Restage(session.id, session.device, judged.age))
        return effects

    def ban(self, device: str, network: str | None, notice: Banned) -> list[Effect]:
        """A ban just made: every session of ``device`` (or of ``network``, when the ban
        covers it) on this node leaves its wait or chat, is told, and is closed. A
        session already banned is not told twice. A session reached only through the
        network is told that it is the network's ban and until when, never the banned
        device's reason, case or note (:func:`~strangers.core.bans.network_banned_message`)."""
        effects: list[Effect] = []
        shared: Banned | None = None
        for session in list(self.sessions.values()):
            on_network = network not in (None, UNKNOWN_NETWORK) and session.network == network
            if session.state is State.BANNED or (session.device != device and not on_network):
                continue  # told already, or not concerned
            effects += self._leave(session)
            session.state = State.BANNED
            told = notice
            if session.device != device:
                shared = shared or network_banned_message(notice)
                told = shared
            effects += [Send(session.id, told), Kick(session.id)]
        return effects

    def send_to_age_question(
        self, device: str, band: AgeBand, notice: Refused, now: float
    ) -> list[Effect]:
        """The age state of ``device`` no longer admits ``band`` (docs/safety.md, "Age"):
        each of its sessions in that band on this node leaves its wait or chat (the
        partner is told ``partner_left``), is sent ``notice`` and is closed. A session
        already banned or sent back is not told twice."""
        effects: list[Effect] = []
        for session in list(self.sessions.values()):
            if (
                session.device != device
                or session.band is not band
                or session.state in (State.BANNED, State.AGE_CHECK)
            ):
                continue
            effects += self._leave(session, now=now)
            session.state = State.AGE_CHECK
            effects += [Send(session.id, notice), Kick(session.id)]
        return effects

    def close(self, session_id: str) -> list[Effect]:
        """The socket is gone: leave the queue, tell the partner, forget the session."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return []
        return self._leave(session)

    # --- transitions -------------------------------------------------------------------

    def _waits_for(self, ticket: Ticket) -> bool:
        session = self.sessions.get(ticket.session)
        return (
            session is not None
            and session.state is State.WAITING
            and session.serial == ticket.serial
        )

    def _send_text(self, session: Session, text: str, now: float) -> list[Effect]:
        if session.state is not State.CHATTING:
            raise StateError("You are not chatting with anyone.")
        wait = session.message_rate.take(now)
        if wait:
            raise LimitExceeded(retry_after=round(wait, 3))
        assert session.match is not None and session.partner is not None
        scan = self.scanner.scan(text)
        decision = judge_line(
            session.text_watch, scan, teen=session.band is AgeBand.TEEN, thresholds=self.risk
        )
        self._record(session, "reporter", text, now)
        match_id, partner = session.match, session.partner
        effects: list[Effect] = []
        if decision.restage is not None:
            effects += self._end_by_checks(session, "safety", now)
            effects.append(Restage(session.id, session.device, decision.restage))
            return effects
        if decision.case != "adult_in_teen":
            effects.append(Relay(partner, PeerText(match_id, session.id, text, decision.hidden)))
        for nudge in decision.nudges:
            notice = Notice(kind=nudge, match=match_id)
            effects.append(Relay(partner, PeerNotify(match_id, session.id, notice)))
        if decision.case is not None:
            flag = self._text_flag(session, FlagKind(decision.case), now)
            effects += self._end_by_checks(session, "safety", now)
            effects.append(EnforceFlag(flag))
            if decision.case == "adult_in_teen" and scan.age is not None:
                effects.append(Restage(session.id, session.device, scan.age))
        elif decision.end:
            effects += self._end_by_checks(session, "safety", now)
        return effects

    def _text_flag(self, session: Session, kind: FlagKind, now: float) -> Flag:
        """A case about ``session``'s lines, observed by its partner."""
        assert session.match is not None and session.partner is not None and session.mode
        return Flag(
            kind=kind,
            match=session.match,
            pool=pool_for(session.band, session.mode).key,
            subject=Party(session.device, session.network, session.id),
            sampler=Party(session.partner_device, session.partner_network, session.partner),
            verdict=None,
            enforcement=Enforcement(review=True),
            matched_at=session.matched_at,
            flagged_at=now,
            transcript=_as_subject(tuple(session.transcript)),
            # The face-age estimates of the sender too: age signals a moderator weighs.
            signals=tuple(session.text_watch.signals) + session.face_ages.signals(),
        )

    def _typing(self, session: Session, active: bool, now: float) -> list[Effect]:
        # Typing notices race with the end of a chat and carry nothing: drop, never refuse.
        if session.state is not State.CHATTING or session.typing_rate.take(now):
            return []
        assert session.match is not None and session.partner is not None
        return [Relay(session.partner, PeerTyping(session.match, session.id, active))]

    def _find(self, session: Session, find: Find, now: float) -> list[Effect]:
        if session.state is State.CHATTING:
            raise StateError("Finish this chat before looking for another.")
        if session.state is State.WAITING:
            raise StateError("Already looking for someone.")
        if session.state is State.BANNED:
            raise StateError("This device is banned.")
        if session.state is State.AGE_CHECK:
            raise StateError("Answer the age question again first.")
        if find.mode is Mode.VIDEO and not self.video:
            raise StateError("Video chat is not available on this server.")
        self._take_skip(session, now)
        session.mode = find.mode
        session.interests = frozenset(find.interests)
        return self._wait(session, now)

    def _skip(self, session: Session, now: float) -> list[Effect]:
        if session.state is State.BANNED:
            raise StateError("This device is banned.")
        if session.state is State.AGE_CHECK:
            raise StateError("Answer the age question again first.")
        if session.state is State.WAITING:
            return [Send(session.id, Waiting(mode=self._mode(session)))]
        if session.mode is None:
            raise StateError("Send find first.")
        self._take_skip(session, now)
        match_id = session.match
        effects = self._leave(session, now=now)
        if match_id is not None:
            effects.append(Send(session.id, Ended(reason="skip", match=match_id)))
        effects.extend(self._wait(session, now))
        return effects

    def _stop(self, session: Session, now: float) -> list[Effect]:
        if session.state not in (State.WAITING, State.CHATTING):
            return []
        match_id = session.match
        effects = self._leave(session, now=now)
        effects.append(Send(session.id, Ended(reason="stop", match=match_id)))
        return effects

    def _signal(self, session: Session, signal: Signal, now: float) -> list[Effect]:
        """Relay signalling to the partner of a video chat, relay candidates only when
        ``relay_only`` (docs/design.md §6: no peer learns another's address)."""
        if session.state is not State.CHATTING:
            # Late candidates race with the end of a match and carry nothing: drop them.
            return []
        if session.mode is not Mode.VIDEO:
            raise StateError("Signalling is for video chats.")
        wait = session.signal_rate.take(now)
        if wait:
            raise LimitExceeded("Too many signals in a short time.", retry_after=round(wait, 3))
        sdp, candidate = signal.sdp, signal.candidate
        if self.relay_only:
            if candidate:
                candidate = relay_candidate(candidate)
                if candidate is None:
                    return []
            if sdp is not None:
                sdp = relay_only_sdp(sdp)
        assert session.match is not None and session.partner is not None
        relayed = PartnerSignal(
            kind=signal.kind,
            sdp=sdp,
            candidate=candidate,
            sdp_mid=signal.sdp_mid,
            sdp_mline_index=signal.sdp_mline_index,
        )
        return [Relay(session.partner, PeerSignal(session.match, session.id, relayed))]

    def _report(self, session: Session, report: Report, now: float) -> list[Effect]:
        """Report the current stranger, or, when ``report.match`` names another match,
        a recent one (:meth:`_report_recent`)."""
        if report.match is not None and report.match != session.match:
            return self._report_recent(session, report, now)
        if session.state is not State.CHATTING:
            raise StateError("There is no chat to report.")
        wait = session.report_rate.take(now)
        if wait:
            raise LimitExceeded("Too many reports in a short time.", retry_after=round(wait, 3))
        assert session.match is not None and session.partner is not None and session.mode
        match_id = session.match
        filing = Filing(
            match=match_id,
            pool=pool_for(session.band, session.mode).key,
            reason=report.reason,
            note=report.note,
            reporter=Party(session.device, session.network, session.id),
            reported=Party(session.partner_device, session.partner_network, session.partner),
            matched_at=session.matched_at,
            reported_at=now,
            transcript=tuple(session.transcript),
            frames=tuple(session.watch.frames),
        )
        block = BlockPair(session.device, session.partner_device)
        effects = self._leave(session, now=now)
        for recent in session.recent:
            if recent.match == match_id:
                _reported(recent)
        effects += [
            block,
            FileReport(filing),
            Send(session.id, Ended(reason="report", match=match_id)),
        ]
        return effects

    def _report_recent(self, session: Session, report: Report, now: float) -> list[Effect]:
        """Report the stranger of a match that has ended, one of the session's recent
        ones (docs/design.md §6; docs/safety.md, "Evidence"): the filing carries what this
        session kept of that match, the pair is blocked, and nothing else changes. The
        stranger need not be reachable, or online at all: everything is local.

        Raises ``NotRecent`` for a match that is not among them (too old, another
        session's, made up) or was reported already, ``LimitExceeded`` past the report
        rate; either way nothing changes."""
        if session.state is State.BANNED:
            raise StateError("This device is banned.")
        self._forget_old(session, now)
        recent = next(
            (kept for kept in session.recent if kept.match == report.match and not kept.reported),
            None,
        )
        if recent is None:
            raise NotRecent()
        wait = session.report_rate.take(now)
        if wait:
            raise LimitExceeded("Too many reports in a short time.", retry_after=round(wait, 3))
        filing = Filing(
            match=recent.match,
            pool=recent.pool,
            reason=report.reason,
            note=report.note,
            reporter=Party(session.device, session.network, session.id),
            reported=recent.stranger,
            matched_at=recent.matched_at,
            reported_at=now,
            transcript=recent.transcript,
            frames=recent.frames,
        )
        _reported(recent)
        return [BlockPair(session.device, recent.stranger.device), FileReport(filing)]

    def _expired(self, kept: RecentMatch, now: float) -> bool:
        """Whether ``kept`` is past its window, or ended without the time at hand."""
        return kept.ended_at is None or kept.ended_at < now - self.limits.recent_seconds

    def _forget_old(self, session: Session, now: float) -> None:
        """Forget the recent matches that ended more than ``recent_seconds`` ago, and
        all but the newest ``recent_matches`` (docs/design.md §6: evidence is kept only while a
        report may still need it). Pruned on access, without timers: every client
        message (the page pings every 25 s) and every match's end."""
        recent = session.recent
        for kept in recent:
            if kept.ended_at is None:
                kept.ended_at = now
        since = now - self.limits.recent_seconds
        fresh = [kept for kept in recent if kept.ended_at is not None and kept.ended_at >= since]
        keep = self.limits.recent_matches
        session.recent = fresh[max(0, len(fresh) - keep) :] if keep else []

    def _record(
        self, session: Session, side: Literal["reporter", "reported"], text: str, now: float
    ) -> None:
        """Keep a line of the match, newest ``transcript_lines`` only, in this session's
        view: its own lines are the reporter's if it ever reports."""
        transcript = session.transcript
        transcript.append(Line(round(now - session.matched_at, 3), side, text))
        if len(transcript) > self.limits.transcript_lines:
            del transcript[0]

    @staticmethod
    def _take_skip(session: Session, now: float) -> None:
        wait = session.skip_rate.take(now)
        if wait:
            raise LimitExceeded("Too many new chats in a short time.", retry_after=round(wait, 3))

    @staticmethod
    def _mode(session: Session) -> Mode:
        assert session.mode is not None
        return session.mode

    def _wait(self, session: Session, now: float) -> list[Effect]:
        session.serial += 1
        session.state = State.WAITING
        session.waiting_since = now
        mode = self._mode(session)
        ticket = Ticket(
            session=session.id,
            device=session.device,
            pool=pool_for(session.band, mode),
            language=session.language,
            interests=session.interests,
            joined_at=now,
            serial=session.serial,
            network=session.network,
        )
        return [Send(session.id, Waiting(mode=mode)), Enqueue(ticket)]

    def _leave(
        self, session: Session, reason: EndReason | None = None, now: float | None = None
    ) -> list[Effect]:
        """End the session's wait or chat; it becomes idle (unless banned). ``now``: when,
        for the window in which the ended match may still be reported (see ``_end``)."""
        effects: list[Effect] = []
        if session.state is State.WAITING:
            effects.append(Dequeue(session.id))
        elif session.state is State.CHATTING:
            assert session.match is not None and session.partner is not None
            effects.append(Relay(session.partner, PeerLeft(session.match, session.id, reason)))
        self._end(session, now)
        return effects

    def _end_by_checks(
        self, session: Session, reason: EndReason, now: float | None = None
    ) -> list[Effect]:
        match_id = session.match
        effects = self._leave(session, reason, now)
        # ``session`` sampled the partner's video: a missing face was the partner's.
        face: Literal["partner"] | None = "partner" if reason == "no_face" else None
        effects.append(Send(session.id, Ended(reason=reason, match=match_id, face=face)))
        return effects

    def _flag(
        self,
        post: FramePost,
        verdict: FrameVerdict,
        now: float,
        frames: tuple[CheckedFrame, ...],
        lines: tuple[Line, ...],
    ) -> Flag:
        """The flag of a verdict on ``post``'s frame. The transcript comes in the
        sampler's view; it is turned so that "reported" always marks the subject. What
        it does depends on whose page sampled the frame (:func:`frame_flag_enforcement`):
        a frame of the sender's own camera acts at once; one a viewer sampled opens a
        case, and sanctions only with corroboration."""
        own = post.source is FrameSource.OWN
        if own:
            lines = _as_subject(lines)
        kind = FlagKind.KNOWN_ABUSE if verdict.hash_hit is not None else FlagKind.NUDITY
        # One viewer's word never sanctions by itself (docs/safety.md, "Whose word counts").
        enforcement, corroboration = frame_flag_enforcement(
            kind,
            post.source,
            teen=post.teen,
            viewers=self.limits.flag_viewers,
            window_seconds=self.limits.flag_window_seconds,
        )
        return Flag(
            kind=kind,
            match=post.match,
            pool=post.pool,
            subject=post.sampler if own else post.partner,
            sampler=post.sampler,
            verdict=verdict,
            enforcement=enforcement,
            matched_at=post.matched_at,
            flagged_at=now,
            frames=frames,
            transcript=lines,
            corroboration=corroboration,
        )

    def _end(self, session: Session, now: float | None = None) -> None:
        """The session's match (if any) is over: what it kept of it moves to the
        session's recent matches, so the stranger can still be reported after leaving
        (docs/design.md §6; docs/safety.md, "Evidence"); ``now=None`` (a path without the time
        at hand) lets the next access stamp when it ended."""
        if session.match is not None and session.partner is not None and session.mode:
            session.recent.append(
                RecentMatch(
                    match=session.match,
                    pool=pool_for(session.band, session.mode).key,
                    stranger=Party(
                        session.partner_device, session.partner_network, session.partner
                    ),
                    matched_at=session.matched_at,
                    ended_at=now,
                    transcript=tuple(session.transcript),
                    frames=tuple(session.watch.frames),
                )
            )
            if now is not None:
                self._forget_old(session, now)
            elif len(session.recent) > self.limits.recent_matches:
                del session.recent[: len(session.recent) - self.limits.recent_matches]
        if session.state not in (State.BANNED, State.AGE_CHECK):
            session.state = State.IDLE
        session.match = None
        session.partner = None
        session.partner_device = session.partner_network = ""
        session.transcript = []
        session.watch = FrameWatch()
        session.text_watch = TextWatch()


def _as_subject(lines: tuple[Line, ...]) -> tuple[Line, ...]:
    """Lines kept in the subject's own view ("reporter" = its own), turned so that
    "reported" marks the subject, as every case's evidence does."""
    swap: dict[str, Literal["reporter", "reported"]] = {
        "reporter": "reported",
        "reported": "reporter",
    }
    return tuple(Line(line.at, swap[line.side], line.text) for line in lines)


def _reported(recent: RecentMatch) -> None:
    """A recent match was reported: its evidence is in the filing now, so the copy in
    memory goes, and the match cannot be reported again."""
    recent.reported = True
    recent.transcript = ()
    recent.frames = ()
