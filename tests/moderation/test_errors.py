"""The moderation package's exceptions form one tree under ModerationError, each with
its own code; a record error carries one of the documented finer codes, nothing else."""

import pytest

from strangers.moderation.accounts import SignInRefused
from strangers.moderation.cybertip import CyberTiplineError, ReportNotFiled
from strangers.moderation.errors import ModerationError, RecordError
from strangers.moderation.hash_import import HashListError

from ..error_trees import check_tree, exception_classes


def test_every_moderation_exception_derives_from_moderation_error_with_a_unique_code() -> None:
    # The console's Stop carries a response out of a handler: control flow, not an error.
    check_tree(
        "strangers.moderation", ModerationError, signals={"strangers.moderation.console.base.Stop"}
    )
    expected = {RecordError, SignInRefused, HashListError, CyberTiplineError, ReportNotFiled}
    assert expected <= set(exception_classes("strangers.moderation"))


def test_an_instance_carries_one_of_its_class_finer_codes() -> None:
    assert RecordError("unknown_case", "there is no such case").code == "unknown_case"
    assert SignInRefused("locked").code == "locked"
    assert CyberTiplineError("no answer", code="network").code == "network"
    assert ReportNotFiled("no answer", None, code="network").code == "network"
    assert HashListError(3, "not hex").code == "hash_list"


def test_a_code_outside_the_documented_ones_is_a_bug_caught_at_once() -> None:
    with pytest.raises(ValueError):
        RecordError("oops", "a code nobody documented")


def test_the_builtin_base_of_a_hash_list_error_still_catches_it() -> None:
    assert issubclass(HashListError, ValueError)
