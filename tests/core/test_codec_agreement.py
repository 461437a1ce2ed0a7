"""The two roads of the codec agree (issue 18; ``core/messages.py``): whatever the frame,
``Codec()`` (msgspec's mirrors first) and ``Codec(fast=False)`` (pydantic's strict models
alone) decode the same message, the same class with the same values, value types,
fields set and field order, or refuse it with the same error: class, code, field and
text. The mirror may refuse more than the model, never accept more (OWASP ASVS 5.0
V1.5: one strict schema, whichever code applies it). And :func:`encode` writes the hot
server messages byte for byte as pydantic does."""

from __future__ import annotations

import json
import typing
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from strangers.core.errors import ProtocolError
from strangers.core.limits import Limits
from strangers.core.messages import (
    _HOT_FIELDS,
    _PLANS,
    _UNDISPLAYABLE,
    _UNDISPLAYABLE_PATTERN,
    MAX_INTEREST_CHARS,
    MAX_INTERESTS,
    MAX_TEXT_CHARS,
    Codec,
    Ended,
    Find,
    Hello,
    Matched,
    Message,
    Mode,
    PartnerLeft,
    PartnerTyping,
    Ping,
    Pong,
    SendText,
    ServerMessage,
    Skip,
    Stop,
    Typing,
    Waiting,
    _meta,
    _Mirror,
    _mirrored,
    _plan,
    _validated,
    encode,
)

#: The codecs under the default limits, and under limits wider than the schema's, so
#: that the schema's own bounds (4000 characters a line) are what refuses.
WIDE = Limits(message_chars=MAX_TEXT_CHARS + 1000, frame_chars=64_000)
PAIRS = ((Codec(), Codec(fast=False)), (Codec(WIDE), Codec(WIDE, fast=False)))

#: Characters that a check treats apart: controls kept (tab, newline) and removed,
#: C1, bidirectional overrides and isolates, joiners, Unicode spaces, characters whose
#: case folding is longer (ß, İ, ﬁ), astral ones (one character, two UTF-16 units).
SPECIAL = (
    [chr(c) for c in range(0x21)]
    + [chr(c) for c in range(0x7F, 0xA1)]
    + [chr(c) for c in range(0x2028, 0x2030)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200b", "\u200d", "\u3000", "\ufeff", "ß", "İ", "ﬁ", "é", "Σ", "😀", "a", "Z", "-"]
)
texts = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from(SPECIAL), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\u202e",
            "a\u0000b",
            "x" * (MAX_TEXT_CHARS - 1),
            "x" * MAX_TEXT_CHARS,
            "x" * (MAX_TEXT_CHARS + 1),
            "😀" * MAX_TEXT_CHARS,
            "\u202e" * MAX_TEXT_CHARS,
            "y" * 1000,
            "y" * 1001,
            "ß" * (MAX_INTEREST_CHARS // 2),
            "ß" * (MAX_INTEREST_CHARS // 2 + 1),
            "k" * MAX_INTEREST_CHARS,
            "k" * (MAX_INTEREST_CHARS + 1),
            "  Board \t Games ",
            "text",
            "video",
        ]
    ),
)
numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 7.0, 1e300]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=MAX_INTERESTS + 2) | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=14,
)
#: Any list, and lists of short valid interests around the count limit.
interests = st.lists(texts, max_size=MAX_INTERESTS + 2) | st.lists(
    st.text("abcAB ", min_size=1, max_size=4),
    min_size=MAX_INTERESTS - 1,
    max_size=MAX_INTERESTS + 2,
)
TYPES = ["message", "typing", "ping", "find", "skip", "stop", "hello", "signal", "report"]
FIELDS = sorted(
    {"text", "active", "id", "mode", "interests", "version", "proof", "device"}
    | {"birth_year", "birth_month", "language", "kind", "sdp", "candidate", "reason", "note"}
    | {"match", "sdp_mid", "sdp_mline_index", "hidden", "extra"}
)


@st.composite
def valid_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A frame of each client type, mostly well-formed (the value strategies also reach
    the edges: lengths at the limits, emptiness after the removals)."""
    kind = draw(st.sampled_from(TYPES))
    frame: dict[str, Any] = {"type": kind}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if kind == "message":
        frame["text"] = draw(texts)
    elif kind == "typing":
        frame["active"] = draw(st.booleans())
    elif kind == "ping":
        optional["id"] = st.none() | st.integers(0, 2**53) | st.sampled_from([2**53, 2**53 + 1])
    elif kind == "find":
        optional["mode"] = st.sampled_from(["text", "video"])
        optional["interests"] = interests
    elif kind == "hello":
        frame |= {"version": 2, "birth_year": 1990, "birth_month": draw(st.integers(0, 13))}
        optional["proof"] = st.none() | st.fixed_dictionaries({"challenge": texts, "nonce": texts})
        optional["device"] = st.none() | texts
        optional["language"] = st.sampled_from(["en", "fr-CA", "en\n", "EN", "e"]) | texts
    elif kind == "signal":
        frame["kind"] = draw(st.sampled_from(["offer", "answer", "candidate"]))
        optional |= {"sdp": st.none() | texts, "candidate": st.none() | texts}
        optional["sdp_mid"] = st.none() | texts
        optional["sdp_mline_index"] = st.none() | st.integers(-1, 65)
    elif kind == "report":
        frame["reason"] = draw(st.sampled_from(["spam", "other", "harassment", "nope"]))
        optional |= {"note": texts, "match": st.none() | texts}
    for name, strategy in optional.items():
        if draw(st.booleans()):
            frame[name] = draw(strategy)
    return frame


@st.composite
def mutated_frames(draw: st.DrawFn) -> str:
    """A frame of :func:`valid_frames` mutated as an attacker would: a field added,
    removed or given any value (a bool for an int, a float, NaN, a huge number, a list,
    an object), the type changed, the keys reordered, then written compact or spaced,
    ASCII-escaped or not, and possibly with a key repeated, a character inserted or the
    end cut off."""
    frame = draw(valid_frames())
    for _ in range(draw(st.integers(0, 2))):
        mutation = draw(st.sampled_from(["add", "drop", "change", "retype"]))
        if mutation == "add":
            frame[draw(st.sampled_from(FIELDS))] = draw(values)
        elif mutation == "drop" and frame:
            frame.pop(draw(st.sampled_from(sorted(frame))))
        elif mutation == "change" and frame:
            frame[draw(st.sampled_from(sorted(frame)))] = draw(values)
        elif mutation == "retype":
            frame["type"] = draw(st.sampled_from([*TYPES, "Message", "pong", ""]) | scalars)
    items = list(frame.items())
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    text = json.dumps(
        dict(items),
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " :")])),
    )
    edit = draw(st.sampled_from(["none", "none", "repeat", "insert", "cut"]))
    if edit == "repeat" and len(text) > 2:
        key = draw(st.sampled_from(["type", *FIELDS]))
        text = f"{text[:-1]}, {json.dumps(key)}: {json.dumps(draw(values))}}}"
    elif edit == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([*SPECIAL, '"', "\\", "{", "}", ","])) + text[at:]
    elif edit == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    return text


def outcome(codec: Codec, frame: str) -> tuple[Any, ...]:
    """What a codec makes of a frame, in every detail a caller could tell apart."""
    try:
        message = codec.decode(frame)
    except ProtocolError as error:
        return ("refused", type(error), error.code, error.field, error.detail)
    values = [(name, type(value), value) for name, value in message.__dict__.items()]
    return ("decoded", type(message), message, values, message.model_fields_set)


def assert_agree(frame: str) -> None:
    for fast, reference in PAIRS:
        assert outcome(fast, frame) == outcome(reference, frame)
    vouched = _mirrored(frame)
    if vouched is not None:  # the mirror never accepts what pydantic refuses
        assert outcome(Codec(WIDE), frame) == outcome(Codec(WIDE, fast=False), frame)
        expected = _validated(frame)
        assert vouched == expected
        assert vouched.model_fields_set == expected.model_fields_set


@settings(max_examples=400)
@given(mutated_frames())
@example('{"type":"message","text":"hi","text":""}')  # the last of a repeated key counts
@example('{"type":"message","text":"","text":"hi"}')
@example('{"type":"message","type":"typing","active":true}')
@example('{"type":"typing","active":true,"type":"message"}')
@example('{"type":"typing","active":1}')
@example('{"type":"ping","id":1.0}')
@example('{"type":"ping","id":true}')
@example('{"type":"ping","id":NaN}')
@example('{"type":"ping","id":9007199254740993}')
@example('{"type":"ping","id":-0}')
@example('{"type":"find","mode":"TEXT"}')
@example('{"type":"message","text":"\\ud800"}')  # a lone surrogate, escaped
@example('{"type":"message","text":"x\ud800"}')  # and raw: not UTF-8 at all
@example('{"type":"message","text":"a\x01b"}')  # a raw control character: not JSON
@example('\ufeff{"type":"skip"}')
@example('{"type":"skip"}\n')
@example('{"typ\\u0065":"skip"}')
@example(json.dumps({"type": "message", "text": "x" * (MAX_TEXT_CHARS + 1)}))
@example(json.dumps({"type": "message", "text": "\u202e" * MAX_TEXT_CHARS + "x"}))
@example(json.dumps({"type": "find", "interests": list("abcdefghijk")}))
@example(json.dumps({"type": "find", "interests": ["a"] * (MAX_INTERESTS + 1)}))
@example(json.dumps({"type": "find", "interests": ["ß" * (MAX_INTEREST_CHARS // 2 + 1)]}))
@example(json.dumps({"type": "find", "interests": [" \u3000 "]}))
def test_a_mutated_frame_decodes_alike_on_both_roads(frame: str) -> None:
    assert_agree(frame)


@settings(max_examples=200)
@given(valid_frames())
def test_a_well_formed_frame_decodes_alike_on_both_roads(frame: dict[str, Any]) -> None:
    assert_agree(json.dumps(frame, ensure_ascii=False))


@given(values)
def test_any_json_decodes_alike_on_both_roads(value: object) -> None:
    assert_agree(json.dumps(value))


@given(st.text(max_size=200))
def test_any_text_decodes_alike_on_both_roads(frame: str) -> None:
    assert_agree(frame)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "text": "hi \u202e there"},
        {"type": "typing", "active": False},
        {"type": "ping", "id": 2**53},
        {"type": "ping", "id": None},
        {"type": "ping"},
        {"type": "find", "mode": "video", "interests": ["  Board  GAMES", "board games"]},
        {"type": "find"},
        {"type": "skip"},
        {"type": "stop"},
    ],
)
def test_the_hot_frames_take_the_fast_road(frame: dict[str, Any]) -> None:
    """Each hot frame is vouched for by its mirror (a mirror that always deferred to
    pydantic would agree, and save nothing)."""
    text = json.dumps(frame)
    assert _mirrored(text) == _validated(text)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "hello", "version": 2, "birth_year": 1990, "birth_month": 5},
        {"type": "signal", "kind": "candidate", "candidate": ""},
        {"type": "report", "reason": "spam"},
    ],
)
def test_the_other_frames_go_to_pydantic(frame: dict[str, Any]) -> None:
    assert _mirrored(json.dumps(frame)) is None
    assert isinstance(Codec().decode(json.dumps(frame)), BaseModel)


def test_the_models_built_unchecked_are_plain_models() -> None:
    """``_built`` sets what ``model_construct`` would for these models only: no private
    attributes, no extra fields, no ``model_post_init``, not a root model."""
    for model in _PLANS:
        assert model.__private_attributes__ == {}
        assert model.model_config.get("extra") == "forbid"
        assert model.model_config.get("frozen") is True
        assert model.__pydantic_post_init__ is None
        assert not model.__pydantic_root_model__


def test_every_validator_of_a_mirrored_model_is_mirrored() -> None:
    """A validator added to a mirrored model must run in its mirror's ``__post_init__``
    too; this list fails first, to say so."""
    validators = {
        model.__name__: sorted(
            [
                *model.__pydantic_decorators__.field_validators,
                *model.__pydantic_decorators__.model_validators,
            ]
        )
        for model in _PLANS
    }
    assert validators == {
        "Find": ["_list_to_tuple", "_normalise"],
        "Typing": [],
        "SendText": ["_displayable"],
        "Skip": [],
        "Stop": [],
        "Ping": [],
    }


def test_a_mirror_that_drifted_from_its_model_fails_at_import() -> None:
    class Missing(_Mirror, tag="find"):
        mode: str = "text"

    with pytest.raises(TypeError, match="does not mirror"):
        _plan(Missing, Find)

    class Defaulted(_Mirror, tag="typing"):
        active: bool | msgspec.UnsetType = msgspec.UNSET

    with pytest.raises(TypeError, match="UNSET stands for the default"):
        _plan(Defaulted, Typing)


def test_a_pattern_has_no_msgspec_mirror() -> None:
    """msgspec's patterns are ``re.search``: ``$`` matches before a final newline, where
    pydantic's (Rust) regex does not. A pattern is never translated."""
    with pytest.raises(TypeError, match="no msgspec mirror"):
        _meta(Hello, "language")


def test_the_undisplayable_pattern_removes_exactly_the_undisplayable_characters() -> None:
    everything = "".join(map(chr, range(0x110000)))
    assert _UNDISPLAYABLE_PATTERN.sub("", everything) == everything.translate(_UNDISPLAYABLE)


def test_a_decoded_flag_is_shared_and_frozen() -> None:
    """``typing``, ``skip`` and ``stop`` are built once; they cannot be changed."""
    first = Codec().decode('{"type": "typing", "active": true}')
    assert first is Codec().decode('{"type":"typing","active":true}')
    with pytest.raises(ValueError, match="frozen"):
        first.active = False  # type: ignore[misc,union-attr]
    assert Codec().decode('{"type": "skip"}') == Skip()
    assert Codec().decode('{"type": "stop"}') == Stop()


def test_sendtext_and_ping_are_built_afresh() -> None:
    one, two = (Codec().decode('{"type": "message", "text": "hi"}') for _ in range(2))
    assert one == two == SendText(text="hi")
    assert one is not two
    assert Codec().decode('{"type": "ping", "id": 3}') == Ping(id=3)


# --- encoding -------------------------------------------------------------------------

#: Text as a server message may hold it, lone surrogates included (pydantic refuses to
#: write them: so must :func:`encode`).
any_text = st.text(
    st.characters() | st.characters(categories=["Cs"]) | st.sampled_from(SPECIAL), max_size=30
)
modes = st.sampled_from(Mode)
hot_messages = st.one_of(
    st.builds(Message, text=any_text, hidden=st.sampled_from([None, "contact", "risk"])),
    st.builds(PartnerTyping, active=st.booleans()),
    st.builds(
        Matched,
        match=any_text,
        mode=modes,
        interests=st.lists(any_text, max_size=3).map(tuple),
        fallback=st.booleans(),
        frame_token=st.none() | any_text,
    ),
    st.builds(Waiting, mode=modes),
    st.builds(Pong, id=st.none() | st.integers() | st.integers(-(2**200), 2**200)),
    st.builds(
        Ended,
        reason=st.sampled_from(["skip", "stop", "report", "safety", "no_face"]),
        match=st.none() | any_text,
        face=st.sampled_from([None, "own", "partner"]),
    ),
    st.builds(PartnerLeft, match=any_text),
)


@settings(max_examples=300)
@given(hot_messages)
def test_encode_writes_what_pydantic_writes(message: ServerMessage) -> None:
    try:
        expected = message.model_dump_json(exclude_none=True)
    except PydanticSerializationError:
        with pytest.raises(PydanticSerializationError):
            encode(message)
        return
    assert encode(message) == expected


def test_the_hot_server_messages_are_the_issues_and_hold_no_float() -> None:
    """msgspec and pydantic write some floats differently: a float field in a hot
    message needs its own byte-for-byte test before it goes through msgspec."""

    def types(annotation: object) -> set[object]:
        return {annotation}.union(*map(types, typing.get_args(annotation)))

    assert {model.__name__ for model in _HOT_FIELDS} == {
        "Message",
        "PartnerTyping",
        "Matched",
        "Waiting",
        "Pong",
        "Ended",
        "PartnerLeft",
    }
    for model, names in _HOT_FIELDS.items():
        assert names == tuple(model.model_fields)
        for field in model.model_fields.values():
            assert float not in types(field.annotation), (model, field)
