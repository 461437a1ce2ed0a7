"""The safety checks' exceptions form one tree under SafetyError, each with its own code."""

from strangers.safety.errors import SafetyError
from strangers.safety.jpeg import FrameRejected
from strangers.safety.pool import Shed

from ..error_trees import check_tree, exception_classes


def test_every_safety_exception_derives_from_safety_error_with_a_unique_code() -> None:
    check_tree("strangers.safety", SafetyError)
    assert {FrameRejected, Shed} <= set(exception_classes("strangers.safety"))


def test_a_rejected_frame_carries_its_finer_code() -> None:
    rejected = FrameRejected("bad_size", "too wide")
    assert rejected.code == "bad_size" and rejected.code in FrameRejected.codes
    assert Shed("stale").code == "shed"
