"""Protocol messages: one typed model per message, and the codec.

The wire format (docs/design.md §3, ``docs/protocol.md``): one websocket per chatter,
UTF-8 JSON text frames (RFC 6455 §5.6), each an object with a ``type``. The
server's first message is ``challenge``; the first client message is ``hello``
with :data:`PROTOCOL_VERSION` and the ``proof`` of work for that challenge
(see ``core/admission.py``).

:class:`Codec` turns a frame into a :data:`ClientMessage` or raises a
:class:`~strangers.core.errors.ProtocolError`; it never lets another exception
escape, whatever the bytes (OWASP ASVS 5.0 V1.5: input decoded against a
strict schema, unknown fields refused). Server messages are encoded with
:func:`encode`.

The pydantic models are the schema; the hot frames take a faster road to the same
result (issue 18). msgspec checks a ``message``, ``typing``, ``ping``, ``find``, ``skip``
or ``stop`` frame against a mirror of its model (the same types, bounds, validators,
unknown fields refused) and the model is then built without checking it twice; a frame
the mirror does not vouch for, for whatever reason, goes to pydantic, which accepts it
or says what is wrong exactly as before (``hello``, ``signal`` and ``report`` always
do: for them a mirror costs more than it saves). So a mirror may refuse more than its
model, never accept more, and never build another value
(``tests/core/test_codec_agreement.py``, ``tests/adversarial/test_codec_paths.py``).
The hot server messages are written by msgspec from the model's fields, byte for byte
what pydantic writes.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeVar, get_args

import annotated_types
import msgspec
from msgspec import UNSET, Meta, UnsetType
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from .admission import MAX_CHALLENGE_CHARS, MAX_NONCE_CHARS
from .errors import (
    InvalidField,
    Malformed,
    ProtocolError,
    TooLarge,
    UnknownType,
    UnsupportedVersion,
)
from .limits import Limits
from .reports import MAX_NOTE_CHARS, ReportReason

#: 2: ``hello`` carries the proof of work for the server's ``challenge`` (issue 9).
PROTOCOL_VERSION: Final = 2

#: Hard ceilings of the schema; the configurable limits in :class:`Limits` sit below them.
MAX_TEXT_CHARS: Final = 4000
MAX_INTERESTS: Final = 10
MAX_INTEREST_CHARS: Final = 32
MAX_TOKEN_CHARS: Final = 512
MAX_SDP_CHARS: Final = 16_000
MAX_CANDIDATE_CHARS: Final = 1_000


class Mode(StrEnum):
    """How two strangers talk: text only, or webcam video with text beside it."""

    TEXT = "text"
    VIDEO = "video"


class AgeBand(StrEnum):
    """The pools that never mix (docs/design.md §4). Under-13s are refused, not banded."""

    TEEN = "teen"
    ADULT = "adult"


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --- client → server -------------------------------------------------------------------


class Proof(_Message):
    """The proof of work for this connection's ``challenge``: the challenge string as
    it came, and a ``nonce`` such that SHA-256 of the UTF-8 bytes of
    ``challenge + ":" + nonce`` starts with at least ``bits`` zero bits."""

    challenge: str = Field(min_length=1, max_length=MAX_CHALLENGE_CHARS)
    nonce: str = Field(min_length=1, max_length=MAX_NONCE_CHARS)


class Hello(_Message):
    """Opens the session: protocol version, the proof of work for the server's
    ``challenge`` (without it: ``proof_required``; not for this connection's challenge,
    expired or short of bits: ``proof_invalid``; either closes the socket with 1008), the
    device token the server issued before (if any), the neutral age answer (month and
    year of birth) and the language."""

    type: Literal["hello"] = "hello"
    version: int = Field(ge=1, le=1000)
    proof: Proof | None = None
    device: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)
    birth_year: int = Field(ge=1900, le=2100)
    birth_month: int = Field(ge=1, le=12)
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


class Find(_Message):
    """Look for a stranger in ``mode``; ``interests`` are preferred, not required."""

    type: Literal["find"] = "find"
    mode: Mode = Mode.TEXT
    interests: tuple[str, ...] = Field(default=(), max_length=MAX_INTERESTS)

    @field_validator("interests", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("interests")
    @classmethod
    def _normalise(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _normalised_interests(value)


def _normalised_interests(value: tuple[str, ...]) -> tuple[str, ...]:
    """Each interest case-folded, its whitespace runs made one space, duplicates dropped
    (first kept); ``ValueError`` if one is empty or longer than ``MAX_INTEREST_CHARS``."""
    seen: dict[str, None] = {}
    for raw in value:
        tag = " ".join(raw.casefold().split())
        if not 1 <= len(tag) <= MAX_INTEREST_CHARS:
            raise ValueError(f"each interest is 1 to {MAX_INTEREST_CHARS} characters")
        seen[tag] = None
    return tuple(seen)


class Typing(_Message):
    """Whether the chatter is typing; relayed to the partner."""

    type: Literal["typing"] = "typing"
    active: bool


#: C0 and C1 controls but tab and newline, and the bidirectional formatting characters
#: (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI).
_UNDISPLAYABLE: Final = dict.fromkeys(
    [
        *(c for c in range(0x20) if c not in (0x09, 0x0A)),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)
#: The same characters as a pattern: ``re.sub`` removes them several times faster than
#: ``str.translate``, which looks every character of the line up in the dict.
_UNDISPLAYABLE_PATTERN: Final = re.compile(f"[{''.join(map(chr, _UNDISPLAYABLE))}]")


class SendText(_Message):
    """A chat line for the current partner. Control characters (but newline and tab)
    and bidirectional embedding, override and isolate characters are removed before it
    goes anywhere: they can make a line display as something else than it says
    (Unicode TR36 §2.1; a reversed link, a hidden word). A line with nothing left is
    refused."""

    type: Literal["message"] = "message"
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)

    @field_validator("text")
    @classmethod
    def _displayable(cls, text: str) -> str:
        return _displayable_line(text)


def _displayable_line(text: str) -> str:
    """The line without its undisplayable characters (:class:`SendText`); ``ValueError``
    if nothing but whitespace is left."""
    text = _UNDISPLAYABLE_PATTERN.sub("", text)
    if not text.strip():
        raise ValueError("the message is empty")
    return text


class Skip(_Message):
    """End the current chat (or the wait) and look for the next stranger at once."""

    type: Literal["skip"] = "skip"


class Stop(_Message):
    """End the current chat or leave the queue, and stay idle."""

    type: Literal["stop"] = "stop"


class Report(_Message):
    """Report the current stranger: ends the chat and blocks the pair for good. The
    server answers ``reported`` once the report is stored, never before.

    ``match`` names a match already ended, one of this session's last 3 of the last 10
    minutes (a stranger who skipped, stopped, left or was ended by the checks): that
    stranger is reported with that match's evidence and the pair is blocked, and
    nothing else changes (the current chat, if any, goes on). Absent, or naming the
    current match: the current stranger. Any other match is refused with
    ``not_recent``, as is a second report of the same match (docs/safety.md,
    "Evidence")."""

    type: Literal["report"] = "report"
    reason: ReportReason
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)
    match: str | None = Field(default=None, min_length=1, max_length=64)


class Signal(_Message):
    """WebRTC signalling for the current video match (RFC 8829 JSEP): an ``offer`` or
    ``answer`` with its ``sdp``, or a trickled ``candidate`` (empty: end of
    candidates) with its media section. Relayed only to the current partner; with
    TURN configured, only relay candidates pass (see ``core/ice.py``)."""

    type: Literal["signal"] = "signal"
    kind: Literal["offer", "answer", "candidate"]
    sdp: str | None = Field(default=None, max_length=MAX_SDP_CHARS)
    candidate: str | None = Field(default=None, max_length=MAX_CANDIDATE_CHARS)
    sdp_mid: str | None = Field(default=None, max_length=64)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=64)

    @model_validator(mode="after")
    def _payload_matches_kind(self) -> Signal:
        if (self.kind == "candidate") != (self.candidate is not None) or (
            self.kind != "candidate" and self.sdp is None
        ):
            raise ValueError("an offer or answer carries sdp; a candidate carries candidate")
        return self


class Ping(_Message):
    """Liveness probe; answered with ``pong`` carrying the same ``id``."""

    type: Literal["ping"] = "ping"
    id: int | None = Field(default=None, ge=0, le=2**53)


ClientMessage = Annotated[
    Hello | Find | Typing | SendText | Skip | Stop | Report | Signal | Ping,
    Field(discriminator="type"),
]
CLIENT_MESSAGES: Final[tuple[type[_Message], ...]] = (
    Hello,
    Find,
    Typing,
    SendText,
    Skip,
    Stop,
    Report,
    Signal,
    Ping,
)


# --- server → client -------------------------------------------------------------------


class Challenge(_Message):
    """Sent first, right after the socket opens (docs/design.md §3; OWASP ASVS 5.0 V2.4
    anti-automation). ``hello`` must carry a ``proof`` for it within ``expires_in``
    seconds: a ``nonce`` such that SHA-256 of the UTF-8 bytes of
    ``challenge + ":" + nonce`` has at least ``bits`` leading zero bits. The challenge
    (random, base64url) is this connection's only: a proof is good once, here. ``bits``
    rises with the server's load and with the connections the same network opened
    recently; 0 (benchmarks only) still needs the challenge echoed with a nonce."""

    type: Literal["challenge"] = "challenge"
    challenge: str
    bits: int
    expires_in: float


class LimitsInfo(_Message):
    """The limits in force for this session, so the page can respect them up front."""

    message_chars: int
    messages_per_second: float
    message_burst: int
    skips_per_minute: int
    interest_timeout: float


class IceServer(_Message):
    """A STUN/TURN server for ``RTCPeerConnection`` (``RTCIceServer``)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


class Welcome(_Message):
    """The session is open. ``device`` is the signed device token to send in the
    next ``hello``; ``band`` is the pool the age answer admits. For video:
    ``ice_servers`` with short-lived TURN credentials, and ``relay_only`` — false
    only on a server without TURN (development), where peers can see each
    other's address and the page says so."""

    type: Literal["welcome"] = "welcome"
    version: int = PROTOCOL_VERSION
    session: str
    device: str
    band: AgeBand
    limits: LimitsInfo
    ice_servers: tuple[IceServer, ...] = ()
    relay_only: bool = True
    video: bool = True


class Refused(_Message):
    """The age answer does not admit this device: ``too_young`` (under 13) or
    ``adults_only`` (13–17 while the teen pool is off); or ``age_check``: the chatter
    stated an age under 18 in the adult pool, and must answer the age question again
    once ``until`` has passed. ``until`` is the Unix time before which the same device
    is refused again; the socket closes after this."""

    type: Literal["refused"] = "refused"
    reason: Literal["too_young", "adults_only", "age_check"]
    until: int
    device: str


class Waiting(_Message):
    """Looking for a stranger in ``mode``."""

    type: Literal["waiting"] = "waiting"
    mode: Mode


class QueueState(_Message):
    """Why this chatter, looking in ``mode``, still waits (sent after it has waited a few
    seconds, ``quiet_after``, and again whenever the answer changes; its pool only, never
    another pool's): ``nobody``: nobody else is looking right now, and the chatter is
    paired as soon as someone arrives; ``met_recently``: the only others looking are
    strangers it met in the last ``repair_cooldown`` seconds (30 minutes by default),
    whom it is not paired with again before then (docs/design.md §4); ``others``:
    someone else is looking, and a pairing may follow once the interest or language
    preference opens. A stranger blocked by a report is never counted: whether they
    are online is not told."""

    type: Literal["queue"] = "queue"
    mode: Mode
    state: Literal["nobody", "met_recently", "others"]
    repair_minutes: int | None = None


class Matched(_Message):
    """Paired with a stranger. ``interests`` are the ones both share; ``fallback``
    is true when interests were given but none were shared (the timeout passed)."""

    type: Literal["matched"] = "matched"
    match: str
    mode: Mode
    interests: tuple[str, ...] = ()
    fallback: bool = False
    #: Video only: the bearer token for ``POST /v1/frames``, held by this side of this
    #: match alone and void once the match ends (docs/design.md §6, video).
    frame_token: str | None = None


class Message(_Message):
    """A chat line from the partner. ``hidden``: the line was withheld by the safety
    checks (``contact``: it carried contact details or a link; ``risk``: the partner's
    messages have become risky) and ``text`` is empty (docs/design.md §6, text)."""

    type: Literal["message"] = "message"
    text: str
    hidden: Literal["contact", "risk"] | None = None


class PartnerTyping(_Message):
    """Whether the partner is typing."""

    type: Literal["typing"] = "typing"
    active: bool


class PartnerLeft(_Message):
    """The partner ended the chat or went away."""

    type: Literal["partner_left"] = "partner_left"
    match: str


class Ended(_Message):
    """This chatter's own chat (or wait) ended: by ``skip``, ``stop`` or ``report``, or by
    the server's checks (``safety``: a frame was flagged; ``no_face``: no face was seen
    for too long). With ``no_face``, ``face`` says whose face was not seen, from this
    chatter's side: ``own`` (the stranger's page stopped seeing this chatter's face) or
    ``partner`` (this chatter's page stopped seeing the stranger's), so the page can say
    which of the two has to stay in view (docs/design.md §6, video)."""

    type: Literal["ended"] = "ended"
    reason: Literal["skip", "stop", "report", "safety", "no_face"]
    match: str | None = None
    face: Literal["own", "partner"] | None = None


class Reported(_Message):
    """The report is stored (committed) under case number ``case``."""

    type: Literal["reported"] = "reported"
    case: str
    match: str


class Banned(_Message):
    """This device or network is banned: the reason, the case number, when it ends
    (Unix time; absent for a permanent ban), and where to appeal (DSA art. 17 and 20:
    a statement of reasons and a way to contest it). ``note`` is the moderator's own
    words on the decision (plain text, at most 500 characters; show it as text, never
    as markup), absent when there are none. The socket closes after this."""

    type: Literal["banned"] = "banned"
    reason: str
    case: str | None = None
    until: int | None = None
    appeal: str = "/v1/appeals"
    note: str | None = None


class Error(_Message):
    """A request was refused. ``code`` is from ``ERROR_CODES``; ``retry_after`` is
    set on ``rate_limited``; ``field`` names the offending field when known."""

    type: Literal["error"] = "error"
    code: str
    text: str
    retry_after: float | None = None
    field: str | None = None


class PartnerSignal(_Message):
    """WebRTC signalling from the partner (see the client's ``signal``)."""

    type: Literal["signal"] = "signal"
    kind: Literal["offer", "answer", "candidate"]
    sdp: str | None = None
    candidate: str | None = None
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


class Pong(_Message):
    """Answer to ``ping``."""

    type: Literal["pong"] = "pong"
    id: int | None = None


class Blur(_Message):
    """Blur the stranger's video (``on``) or show it (docs/design.md §6, video). The page starts
    every video match blurred (safe start); the first clean check lifts it.
    ``reason`` when on: ``nudity``, ``face_not_visible``, ``known_abuse`` or
    ``not_checked`` (the stranger's page has not had its own camera checked lately, so
    the video is not shown: docs/safety.md); when off: ``clear``."""

    type: Literal["blur"] = "blur"
    on: bool
    reason: Literal["nudity", "face_not_visible", "known_abuse", "not_checked", "clear"]
    match: str


#: The safety nudges about what a stranger wrote (docs/design.md §6, text).
TextNudge = Literal[
    "contact",
    "asks_age",
    "asks_alone",
    "secrecy",
    "asks_pictures",
    "asks_camera",
    "body",
    "gifts",
    "meet",
    "other_app",
]
TEXT_NUDGES: Final[tuple[str, ...]] = get_args(TextNudge)


class Notice(_Message):
    """A short notice about this chatter's own chat: ``show_face`` (your face is not
    visible, the stranger sees a blur) while ``active``, cleared when not; or a safety
    nudge about what the stranger wrote (docs/design.md §6, text): ``contact`` (shared contact
    details or a link), ``asks_age``, ``asks_alone``, ``secrecy``, ``asks_pictures``,
    ``asks_camera``, ``body``, ``gifts``, ``meet``, ``other_app``."""

    type: Literal["notice"] = "notice"
    kind: Literal["show_face"] | TextNudge
    active: bool = True
    match: str | None = None


class Decision(_Message):
    """A moderator's decision about this device, sent once, on its next visit after the
    decision (DSA art. 17: a statement of reasons; art. 20(4): the outcome of an
    appeal). ``kind``: ``warning`` (no ban, a warning about the rules),
    ``appeal_upheld`` (the appeal was refused: the decision stands) or
    ``appeal_overturned`` (the decision was reversed: its ban is lifted). ``text`` is
    the moderator's statement."""

    type: Literal["decision"] = "decision"
    kind: Literal["warning", "appeal_upheld", "appeal_overturned"]
    case: str
    text: str


ServerMessage = (
    Challenge
    | Welcome
    | Refused
    | Banned
    | Waiting
    | QueueState
    | Matched
    | Message
    | PartnerTyping
    | PartnerLeft
    | PartnerSignal
    | Ended
    | Reported
    | Error
    | Pong
    | Blur
    | Notice
    | Decision
)
SERVER_MESSAGES: Final[tuple[type[_Message], ...]] = (
    Challenge,
    Welcome,
    Refused,
    Banned,
    Waiting,
    QueueState,
    Matched,
    Message,
    PartnerTyping,
    PartnerLeft,
    PartnerSignal,
    Ended,
    Reported,
    Error,
    Pong,
    Blur,
    Notice,
    Decision,
)

_CLIENT: Final = TypeAdapter[ClientMessage](ClientMessage)
_SERVER: Final = TypeAdapter[ServerMessage](Annotated[ServerMessage, Field(discriminator="type")])


#: The server messages of every chat line and round trip (issue 18), with their fields
#: in the model's order. Their values are strings, integers, booleans, string enums and
#: tuples of strings, which msgspec writes exactly as pydantic does (no floats: the two
#: write some of them differently).
_HOT_FIELDS: Final[dict[type[_Message], tuple[str, ...]]] = {
    model: tuple(model.model_fields)
    for model in (Message, PartnerTyping, Matched, Waiting, Pong, Ended, PartnerLeft)
}
_JSON: Final = msgspec.json.Encoder()


def encode(message: ServerMessage) -> str:
    """The JSON text frame for a server message: what
    ``message.model_dump_json(exclude_none=True)`` writes, byte for byte (compact, fields
    in the model's order, ``None`` left out, non-ASCII as UTF-8). The hot messages are
    written by msgspec, the others by pydantic."""
    names = _HOT_FIELDS.get(type(message))
    if names is not None:
        body: dict[str, Any] = {}
        for name in names:
            value = getattr(message, name)
            if value is not None:
                body[name] = value
        try:
            return _JSON.encode(body).decode()
        except Exception:
            pass  # pydantic below writes it, or raises as it always did (a lone surrogate)
    return message.model_dump_json(exclude_none=True)


def decode_server(frame: str | bytes) -> ServerMessage:
    """The server message a JSON text frame holds, for clients (``strangers.client``).

    As strict as :class:`Codec` is with client frames: an unknown type or field, or a
    wrong value, raises a :class:`~strangers.core.errors.ProtocolError` subclass, and
    no other exception escapes."""
    try:
        return _SERVER.validate_json(frame)
    except ValidationError as exc:
        raise _protocol_error(exc) from None
    except Exception:  # pragma: no cover - pydantic documents only ValidationError
        raise Malformed() from None


# --- the hot client frames through msgspec (issue 18; see the module's docstring) --------

_M = TypeVar("_M", bound=_Message)


def _meta(model: type[_Message], name: str) -> Meta:
    """The msgspec bounds of a model's field, read from the model so that the mirror
    cannot drift from it. A constraint with no translation here (a pattern, a multiple
    of) raises at import: msgspec's patterns are not pydantic's (``re.search`` against
    Rust's regex: ``$`` matches before a final newline in the one, not in the other)."""
    bounds: dict[str, Any] = {}
    for item in model.model_fields[name].metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["ge"] = item.ge
        elif isinstance(item, annotated_types.Le):
            bounds["le"] = item.le
        elif isinstance(item, annotated_types.MinLen):
            bounds["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            bounds["max_length"] = item.max_length
        else:
            raise TypeError(f"{model.__name__}.{name}: no msgspec mirror for {item!r}")
    return Meta(**bounds)


class _Mirror(msgspec.Struct, forbid_unknown_fields=True, tag_field="type"):
    """A client model's schema for msgspec: the model's fields but ``type`` (the tag) in
    its order, with its types and bounds, strict (msgspec never coerces: no bool for an
    int, no 1.0 for 1), unknown fields refused. A field with a default in the model is
    ``UNSET`` here when absent, so that the model gets its own default and knows which
    fields were given. ``__post_init__`` runs the model's validators (the same
    functions); whatever it raises sends the frame to pydantic. ``model()`` builds the
    model as pydantic would have built it from the same frame: the same values, defaults
    and fields set."""


class _FindMirror(_Mirror, tag="find"):
    mode: Mode | UnsetType = UNSET
    interests: Annotated[tuple[str, ...], _meta(Find, "interests")] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.interests, tuple):
            self.interests = _normalised_interests(self.interests)

    def model(self) -> Find:
        return _assemble(Find, self)


class _TypingMirror(_Mirror, tag="typing"):
    active: bool

    def model(self) -> Typing:
        return _TYPING[self.active]


class _SendTextMirror(_Mirror, tag="message"):
    text: Annotated[str, _meta(SendText, "text")]

    def __post_init__(self) -> None:
        self.text = _displayable_line(self.text)

    def model(self) -> SendText:
        return _built(SendText, {"type": "message", "text": self.text}, {"type", "text"})


class _SkipMirror(_Mirror, tag="skip"):
    def model(self) -> Skip:
        return _SKIP


class _StopMirror(_Mirror, tag="stop"):
    def model(self) -> Stop:
        return _STOP


class _PingMirror(_Mirror, tag="ping"):
    id: Annotated[int, _meta(Ping, "id")] | UnsetType | None = UNSET

    def model(self) -> Ping:
        if self.id is UNSET:
            return _built(Ping, {"type": "ping", "id": None}, {"type"})
        return _built(Ping, {"type": "ping", "id": self.id}, {"type", "id"})


class _Unmirrored(msgspec.Struct, tag_field="type"):
    """A client message that msgspec only recognises, skipping its fields unread:
    pydantic decodes it. For these a mirror costs more than it saves (``bench/codec.py``:
    building ``Hello`` and its ``Proof``, or ``Signal`` with its four optional fields, by
    hand is slower than pydantic's validation), and going through msgspec's refusal
    would cost more than this."""

    def model(self) -> None:
        return None


class _HelloUnmirrored(_Unmirrored, tag="hello"):
    pass


class _ReportUnmirrored(_Unmirrored, tag="report"):
    pass


class _SignalUnmirrored(_Unmirrored, tag="signal"):
    pass


def _plan(mirror: type[_Mirror], model: type[_Message]) -> dict[str, Any]:
    """The model's fields in its order, each with its default (``type``: the tag), after
    checking that ``mirror`` has the model's other fields in the same order and the
    model's ``type`` as its tag, and that a field it may leave ``UNSET`` has a default
    in the model (a required field left out would build a broken model): ``TypeError``
    at import when they have drifted apart."""
    fields = msgspec.structs.fields(mirror)
    names = [name for name in model.model_fields if name != "type"]
    if [field.name for field in fields] != names or (
        mirror.__struct_config__.tag != model.model_fields["type"].default
    ):
        raise TypeError(f"{mirror.__name__} does not mirror {model.__name__}")
    for field in fields:
        if not field.required and (
            field.default is not UNSET or model.model_fields[field.name].is_required()
        ):
            raise TypeError(f"{mirror.__name__}.{field.name}: UNSET stands for the default")
    return {name: field.default for name, field in model.model_fields.items()}


#: What :func:`_assemble` needs of each mirrored model.
_PLANS: Final[dict[type[_Message], dict[str, Any]]] = {
    model: _plan(mirror, model)
    for mirror, model in (
        (_FindMirror, Find),
        (_TypingMirror, Typing),
        (_SendTextMirror, SendText),
        (_SkipMirror, Skip),
        (_StopMirror, Stop),
        (_PingMirror, Ping),
    )
}
_Mirrored = (
    _FindMirror
    | _TypingMirror
    | _SendTextMirror
    | _SkipMirror
    | _StopMirror
    | _PingMirror
    | _HelloUnmirrored
    | _ReportUnmirrored
    | _SignalUnmirrored
)
_MIRRORED: Final = msgspec.json.Decoder(_Mirrored)

# The slots of every model (pydantic's BaseModel), set through their descriptors.
_new: Final = object.__new__
_set_dict: Final = BaseModel.__dict__["__dict__"].__set__
_set_fields_set: Final = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra: Final = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private: Final = BaseModel.__dict__["__pydantic_private__"].__set__


def _built(model: type[_M], values: dict[str, Any], given: set[str]) -> _M:
    """The model with these values, unchecked: what ``model.model_construct`` builds
    for a model without private attributes, extra fields or ``model_post_init`` (the
    mirrored models have none; a test checks), several times faster."""
    built: _M = _new(model)
    _set_dict(built, values)
    _set_fields_set(built, given)
    _set_extra(built, None)
    _set_private(built, None)
    return built


_as_dict: Final = msgspec.structs.asdict


def _assemble(model: type[_M], mirror: _Mirror) -> _M:
    """The model with the fields the frame gave, and its defaults for the others."""
    given = {name: value for name, value in _as_dict(mirror).items() if value is not UNSET}
    fields_set = set(given)
    fields_set.add("type")
    return _built(model, _PLANS[model] | given, fields_set)


# The messages without a value of their own are built once: they are frozen, and equal
# to any other built from the same frame.
_TYPING: Final = {
    active: _built(Typing, {"type": "typing", "active": active}, {"type", "active"})
    for active in (False, True)
}
_SKIP: Final = _built(Skip, {"type": "skip"}, {"type"})
_STOP: Final = _built(Stop, {"type": "stop"}, {"type"})


def _mirrored(frame: str) -> ClientMessage | None:
    """The message msgspec vouches for, or ``None``: the frame is not of a mirrored
    type, breaks the schema, or msgspec failed on it in any way (a lone surrogate,
    nesting deeper than its recursion limit): pydantic then decides."""
    try:
        mirror: _Mirrored = _MIRRORED.decode(frame)
    except Exception:  # whatever it is, pydantic says what is wrong with the frame
        return None
    return mirror.model()


def _validated(frame: str) -> ClientMessage:
    """The message pydantic's strict models decode from the frame, or the
    :class:`~strangers.core.errors.ProtocolError` that says what is wrong with it."""
    try:
        return _CLIENT.validate_json(frame)
    except ValidationError as exc:
        raise _protocol_error(exc) from None
    except Exception:  # pragma: no cover - pydantic documents only ValidationError
        raise Malformed() from None


class Codec:
    """Decodes client frames under the limits it is built with.

    ``decode`` returns a typed message or raises a
    :class:`~strangers.core.errors.ProtocolError` subclass; no other exception
    escapes, whatever the input (a property test feeds it arbitrary text). With
    ``fast`` (the default) the hot frames go through their msgspec mirrors first;
    without, everything goes through pydantic, the reference that the fast road must
    agree with (``tests/core/test_codec_agreement.py``, ``bench/codec.py``).
    """

    def __init__(self, limits: Limits | None = None, *, fast: bool = True) -> None:
        self.limits = limits or Limits()
        self.fast = fast

    def decode(self, frame: str | bytes) -> ClientMessage:
        if not isinstance(frame, str):
            raise Malformed("Only UTF-8 JSON text frames are accepted.")
        if len(frame) > self.limits.frame_chars:
            raise TooLarge(f"A frame may hold at most {self.limits.frame_chars} characters.")
        message = _mirrored(frame) if self.fast else None
        if message is None:
            message = _validated(frame)
        # type(), not isinstance(): decoding builds these classes and no subclass, and a
        # pydantic model's isinstance() costs three times as much on every frame.
        if type(message) is SendText and len(message.text) > self.limits.message_chars:
            raise TooLarge(
                f"A message may hold at most {self.limits.message_chars} characters.",
                field="text",
            )
        if type(message) is Hello and message.version != PROTOCOL_VERSION:
            raise UnsupportedVersion(f"This server speaks protocol version {PROTOCOL_VERSION}.")
        return message


def _protocol_error(exc: ValidationError) -> ProtocolError:
    first = exc.errors(include_url=False, include_input=False)[0]
    kind = first["type"]
    loc = [str(part) for part in first["loc"]]
    if kind == "union_tag_not_found":
        return Malformed("The message has no type.")
    if kind == "union_tag_invalid":
        return UnknownType()
    if kind in {"json_invalid", "json_type"} or not loc:
        return Malformed()
    # loc is (tag, field, ...) for a tagged union member.
    field = loc[1] if len(loc) > 1 else None
    if field == "text" and kind == "string_too_long":
        return TooLarge(f"A message may hold at most {MAX_TEXT_CHARS} characters.", field="text")
    if field == "type":
        return Malformed()
    return InvalidField(f"The field {field!r} is missing or wrong." if field else None, field=field)
