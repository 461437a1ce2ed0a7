"""The errors the moderation package raises on purpose, in one tree.

Every one is a :class:`ModerationError` with a stable, machine-readable ``code``: the
console and the gateway's HTTP routes choose their answer by it, never by the text.
Some classes refine their code per instance: ``exc.code`` is then one of the finer
codes the class lists in ``codes`` (as :class:`OSError` narrows by ``errno``), and the
class's own code names the family. The text of an error is safe to show (never SQL,
never an address).

Hierarchy, with each class's code and the finer codes its instances carry::

    ModerationError      moderation
    ├── RecordError      record: a refused or failed records operation
    │                      invalid        a bad argument, or a change the database refused
    │                      unknown_case   no case has that number
    │                      not_allowed    the operation does not apply to that case or device
    │                      duplicate      already done (an appeal pending, a case filed)
    │                      undecryptable  evidence sealed under another key
    │                      unavailable    the database failed or did not answer
    ├── SignInRefused    sign_in_refused: a console sign-in refused (``accounts.py``)
    │                      bad_credentials  unknown name, wrong password or a disabled account
    │                      locked           too many failures: locked for a while
    │                      totp_required    the password was right; a TOTP code is needed
    │                      bad_code         the TOTP code is wrong
    ├── HashListError    hash_list: a line of a hash list that cannot be read
    │                      (``hash_import.py``)
    └── CyberTiplineError  cybertipline: a call to NCMEC's CyberTipline API that failed
        │                    (``cybertip/client.py``)
        │                    auth          credentials refused
        │                    refused       a non-zero response code
        │                    http          an HTTP error without a usable answer
        │                    network       no answer
        │                    bad_response  an answer the documentation does not describe
        │                    unexpected    anything else that broke a filing
        └── ReportNotFiled   report_not_filed: a filing that did not go through; its
                             code is the failure's, one of the CyberTipline codes above
"""

from __future__ import annotations

from typing import ClassVar, Final


class ModerationError(Exception):
    """Base of every error the moderation package raises on purpose.

    ``code`` is stable: the class's own, or, for a class that lists finer ``codes``, the
    one this instance carries."""

    code: str = "moderation"
    #: The finer codes an instance may carry instead of the class's own (none here).
    codes: ClassVar[frozenset[str]] = frozenset()

    def _refine(self, code: str) -> None:
        """Carry ``code``, one of the class's finer codes (anything else is a bug)."""
        if code not in self.codes:
            raise ValueError(f"{type(self).__name__} has no code {code!r}")
        self.code = code


#: The codes of :class:`RecordError`, each with what it means.
RECORD_CODES: Final[dict[str, str]] = {
    "invalid": "a bad argument, or a change the database refused",
    "unknown_case": "no case has that number",
    "not_allowed": "the operation does not apply to that case or device",
    "duplicate": "already done",
    "undecryptable": "evidence sealed under another key",
    "unavailable": "the database failed or did not answer",
}


class RecordError(ModerationError):
    """A refused or failed records operation; ``code`` is one of :data:`RECORD_CODES`,
    ``detail`` (the text) is safe to show."""

    code: str = "record"
    codes: ClassVar[frozenset[str]] = frozenset(RECORD_CODES)

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self._refine(code)
        self.detail = detail
