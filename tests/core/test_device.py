"""Device tokens: genuine ones verify, anything else is treated as absent."""

import pytest

from strangers.core.age import AgeRecord, Stage
from strangers.core.device import DeviceClaims, DeviceTokens

SECRET = b"k" * 32


def test_a_token_round_trips_its_claims():
    tokens = DeviceTokens(SECRET)
    claims = DeviceClaims("dev-1", AgeRecord(Stage.CHILD, 1_800_000_000))
    assert tokens.verify(tokens.issue(claims)) == claims
    assert tokens.verify(tokens.issue(DeviceClaims("dev-2"))) == DeviceClaims("dev-2")


@pytest.mark.parametrize("bad", [None, "", "x", "a.b.c", "abc.def", "eyJkIjoxfQ.AAAA"])
def test_garbage_is_not_a_device(bad):
    assert DeviceTokens(SECRET).verify(bad) is None


def test_a_token_signed_with_another_secret_or_altered_is_refused():
    token = DeviceTokens(b"o" * 32).issue(DeviceClaims("dev-1"))
    assert DeviceTokens(SECRET).verify(token) is None
    genuine = DeviceTokens(SECRET).issue(DeviceClaims("dev-1"))
    tag = genuine.split(".")[1]
    forged = DeviceTokens(SECRET).issue(DeviceClaims("dev-2")).split(".")[0] + "." + tag
    assert DeviceTokens(SECRET).verify(forged) is None


def test_short_secrets_are_refused():
    with pytest.raises(ValueError):
        DeviceTokens(b"short")
