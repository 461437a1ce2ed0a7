"""The codec: every client message decodes, and no input makes it raise anything
but a ProtocolError with the right code."""

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangers.core.errors import InvalidField, ProtocolError
from strangers.core.limits import Limits
from strangers.core.messages import (
    PROTOCOL_VERSION,
    Challenge,
    Codec,
    Find,
    Hello,
    Matched,
    Mode,
    Ping,
    Proof,
    SendText,
    Skip,
    Stop,
    Typing,
    encode,
)

HELLO = {"type": "hello", "version": 2, "birth_year": 1990, "birth_month": 5, "language": "fr"}


def decode(obj: object, limits: Limits | None = None):
    return Codec(limits).decode(json.dumps(obj))


def test_every_client_message_decodes_to_its_type():
    assert decode(HELLO) == Hello(version=2, birth_year=1990, birth_month=5, language="fr")
    assert decode({"type": "find", "mode": "text", "interests": ["Music"]}) == Find(
        mode=Mode.TEXT, interests=("music",)
    )
    assert decode({"type": "typing", "active": True}) == Typing(active=True)
    assert decode({"type": "message", "text": "hi"}) == SendText(text="hi")
    assert decode({"type": "skip"}) == Skip()
    assert decode({"type": "stop"}) == Stop()
    assert decode({"type": "ping", "id": 7}) == Ping(id=7)


def test_interests_are_folded_trimmed_and_deduplicated():
    find = decode({"type": "find", "interests": ["  Board   Games ", "board games", "CHESS"]})
    assert find.interests == ("board games", "chess")


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ("{", "malformed", None),
        ("[]", "malformed", None),
        ("null", "malformed", None),
        ("{}", "malformed", None),
        ('{"type": 5}', "unknown_type", None),
        ('{"type": "teleport"}', "unknown_type", None),
        ('{"type": "hello"}', "invalid_field", "version"),
        ('{"type": "typing", "active": "yes"}', "invalid_field", "active"),
        ('{"type": "skip", "extra": 1}', "invalid_field", "extra"),
        ('{"type": "find", "mode": "radio"}', "invalid_field", "mode"),
        ('{"type": "find", "interests": ["x", ""]}', "invalid_field", "interests"),
        (
            '{"type": "find", "interests": ["a","b","c","d","e","f","g","h","i","j","k"]}',
            "invalid_field",
            "interests",
        ),
        ('{"type": "message", "text": ""}', "invalid_field", "text"),
        (
            '{"type": "hello", "version": 2, "birth_year": 1990, "birth_month": 13}',
            "invalid_field",
            "birth_month",
        ),
        (
            '{"type": "hello", "version": 1, "birth_year": 1990, "birth_month": 1}',
            "unsupported_version",
            None,
        ),
    ],
)
def test_bad_frames_raise_their_protocol_error(frame, code, field):
    with pytest.raises(ProtocolError) as caught:
        Codec().decode(frame)
    assert caught.value.code == code
    assert caught.value.field == field


def test_binary_frames_are_refused():
    with pytest.raises(ProtocolError) as caught:
        Codec().decode(b'{"type": "skip"}')
    assert caught.value.code == "malformed"


def test_message_over_the_configured_length_is_too_large():
    limits = Limits(message_chars=10)
    assert decode({"type": "message", "text": "x" * 10}, limits).text == "x" * 10
    with pytest.raises(ProtocolError) as caught:
        decode({"type": "message", "text": "x" * 11}, limits)
    assert (caught.value.code, caught.value.field) == ("too_large", "text")


def test_frame_over_the_configured_size_is_refused_before_parsing():
    with pytest.raises(ProtocolError) as caught:
        Codec(Limits(frame_chars=2000)).decode("{" + " " * 3000 + "}")
    assert caught.value.code == "too_large"


def test_server_messages_encode_without_empty_fields():
    assert json.loads(encode(Matched(match="m1", mode=Mode.TEXT))) == {
        "type": "matched",
        "match": "m1",
        "mode": "text",
        "interests": [],
        "fallback": False,
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
typed_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "find", "typing", "message", "skip", "stop", "ping"])},
    optional={
        "version": json_values,
        "text": json_values,
        "active": json_values,
        "interests": json_values,
        "mode": json_values,
        "id": json_values,
        "birth_year": json_values,
        "proof": json_values,
    },
)


@given(st.text(max_size=300))
def test_any_text_decodes_or_raises_a_protocol_error(frame):
    with contextlib.suppress(ProtocolError):
        Codec().decode(frame)


@given(json_values | typed_objects)
def test_any_json_decodes_or_raises_a_protocol_error(value):
    with contextlib.suppress(ProtocolError):
        Codec().decode(json.dumps(value))


def test_a_line_loses_controls_and_bidi_overrides_and_keeps_emoji_joiners():
    codec = Codec()
    line = codec.decode(json.dumps({"type": "message", "text": "ab\u202ecd\u0007\n👩\u200d💻"}))
    assert line.text == "abcd\n👩\u200d💻"


@pytest.mark.parametrize("text", ["\u202e", " \u0000 \u2066", "\u0085"])
def test_a_line_with_nothing_displayable_is_refused(text):
    with pytest.raises(InvalidField) as refused:
        Codec().decode(json.dumps({"type": "message", "text": text}))
    assert refused.value.field == "text"


def test_hello_carries_the_proof_of_work_of_its_challenge():
    proof = {"challenge": "c" * 24, "nonce": "12345"}
    hello = decode({**HELLO, "proof": proof})
    assert hello.proof == Proof(challenge="c" * 24, nonce="12345")
    assert decode(HELLO).proof is None  # the gateway refuses it: proof_required


@pytest.mark.parametrize(
    "proof",
    [
        {"challenge": "c" * 24, "nonce": "9" * 65},
        {"challenge": "c" * 24, "nonce": ""},
        {"challenge": "c" * 24},
        {"challenge": "c" * 24, "nonce": 7},
        {"challenge": "c" * 24, "nonce": "1", "bits": 0},
        {"challenge": "c" * 129, "nonce": "1"},
        "c:1",
    ],
)
def test_a_misshapen_proof_is_an_invalid_field(proof):
    with pytest.raises(InvalidField) as refused:
        decode({**HELLO, "proof": proof})
    assert refused.value.field == "proof"


def test_the_challenge_goes_first_and_the_version_says_hello_has_a_proof():
    assert PROTOCOL_VERSION == 2
    frame = encode(Challenge(challenge="abc", bits=16, expires_in=30.0))
    assert json.loads(frame) == {
        "type": "challenge",
        "challenge": "abc",
        "bits": 16,
        "expires_in": 30.0,
    }
