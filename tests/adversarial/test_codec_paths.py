"""Issue 18: a second JSON parser in front of the schema is a second place to attack.

The codec now reads the hot client frames with msgspec before pydantic
(``core/messages.py``): a frame that msgspec's mirror accepts is built without pydantic
ever seeing it. An attacker looks for a frame on which the two parsers differ, so
that one road lets through what the other refuses (docs/security.md, "Malformed
input"; OWASP ASVS 5.0 V1.5: one strict schema). These are the differences found
between the two, and what the codec makes of each: the same as pydantic alone."""

from __future__ import annotations

import json
import re
from typing import Annotated

import msgspec
import pytest

from strangers.core.errors import ProtocolError
from strangers.core.messages import Codec, SendText, Typing, _mirrored

HELLO = {"type": "hello", "version": 2, "birth_year": 1990, "birth_month": 5}


def both(frame: str) -> tuple[object, object]:
    """What each road makes of the frame: the message, or the error's code and field."""

    def one(codec: Codec) -> object:
        try:
            return codec.decode(frame)
        except ProtocolError as error:
            return (error.code, error.field)

    return one(Codec()), one(Codec(fast=False))


def test_a_language_with_a_trailing_newline_is_refused() -> None:
    """msgspec's patterns are ``re.search``, whose ``$`` also matches before a final
    newline: mirrored with msgspec's pattern, ``"en\\n"`` would pass where pydantic's
    Rust regex refuses it, and a newline would reach the matcher's language. Patterns
    are not mirrored (``_meta`` refuses them) and ``hello`` goes to pydantic."""

    class Naive(msgspec.Struct):
        language: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]

    assert msgspec.json.decode('{"language": "en\\n"}', type=Naive).language == "en\n"
    assert re.search(r"^[a-z]{2}$", "en\n")  # the cause: Python's $
    frame = json.dumps({**HELLO, "language": "en\n"})
    assert both(frame) == (("invalid_field", "language"),) * 2


class _Skip(msgspec.Struct, tag_field="type", tag="skip"):
    pass


def test_nesting_before_the_type_is_malformed_not_a_crash() -> None:
    """msgspec looks for the tag by skipping what comes before it, recursively: deep
    enough, it raises ``RecursionError``, not one of its own errors. The codec still
    answers ``malformed``, on both roads."""
    depth = 3000
    frame = '{"x": ' + "[" * depth + "]" * depth + ', "type": "skip"}'
    with pytest.raises(RecursionError):
        msgspec.json.decode(frame, type=_Skip)
    assert _mirrored(frame) is None
    assert both(frame) == (("malformed", None),) * 2


def test_a_lone_surrogate_in_the_frame_is_refused_as_pydantic_refuses_it() -> None:
    """A Python string can hold a lone surrogate (the socket layer would have refused
    its bytes, but the codec takes any ``str``): msgspec fails to encode it to UTF-8
    (``UnicodeEncodeError``), pydantic refuses it. Escaped, both refuse it as bad JSON."""
    raw = '{"type": "message", "text": "hi\ud800"}'
    with pytest.raises(UnicodeEncodeError):
        msgspec.json.decode(raw)
    fast, reference = both(raw)
    assert fast == reference
    assert not isinstance(fast, SendText)
    escaped = '{"type": "message", "text": "hi\\ud800"}'
    assert both(escaped) == (("malformed", None),) * 2


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # A key given twice: the last counts, on both roads, whichever is valid.
        ('{"type": "message", "text": "", "text": "hi"}', SendText(text="hi")),
        ('{"type": "message", "text": "hi", "text": "\u202e"}', ("invalid_field", "text")),
        ('{"type": "message", "text": "hi", "text": 7}', ("invalid_field", "text")),
        # The type given twice: msgspec refuses, pydantic takes the last, as before.
        ('{"type": "message", "type": "typing", "active": true}', Typing(active=True)),
        ('{"type": "typing", "active": true, "type": "message"}', ("invalid_field", "text")),
    ],
)
def test_a_repeated_key_counts_once_the_same_way_on_both_roads(
    frame: str, expected: object
) -> None:
    assert both(frame) == (expected, expected)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "ping", "id": NaN}',
        '{"type": "ping", "id": Infinity}',
        '{"type": "ping", "id": 1.0}',
        '{"type": "ping", "id": true}',
        '{"type": "ping", "id": 9007199254740993}',
        '{"type": "ping", "id": 123456789012345678901234567890}',
        '{"type": "typing", "active": 1}',
        '{"type": "find", "mode": "TEXT"}',
        '{"type": "find", "interests": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "j"]}',
    ],
)
def test_numbers_and_enums_are_as_strict_on_both_roads(frame: str) -> None:
    """pydantic's parser reads ``NaN`` and ``Infinity``, msgspec's does not; neither
    takes a bool or a float for an integer, nor a number past the bound, nor eleven
    interests that would be ten once deduplicated."""
    fast, reference = both(frame)
    assert fast == reference
    assert isinstance(fast, tuple) and fast[0] in {"malformed", "invalid_field"}
