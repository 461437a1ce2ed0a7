"""The client of NCMEC's CyberTipline Reporting API: the documented calls, one each,
and the whole filing of a package (submit, upload each file and its details, finish),
which retracts a report it could not finish. Answers are XML from another party, read
with care (no DOCTYPE, a size cap).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.parsers import expat

from strangers.moderation.cybertip.model import CybertipSettings
from strangers.moderation.cybertip.package import ReportPackage
from strangers.moderation.errors import ModerationError

if TYPE_CHECKING:
    # Imported where a client is made: the chat process, which never files a report,
    # does not carry an HTTP client it does not use (docs/performance.md, memory).
    import httpx

TEST_ENVIRONMENT: Final = "https://exttest.cybertip.org/ispws"
PRODUCTION_ENVIRONMENT: Final = "https://report.cybertip.org/ispws"

AUTHENTICATION_REQUIRED: Final = 2000
NOT_AUTHORIZED: Final = frozenset({3000, 3100, 3300})
REPORT_ALREADY_RETRACTED: Final = 5101
REPORT_ALREADY_FINISHED: Final = 5102

#: API answers are short acknowledgements; anything longer is refused unread.
MAX_RESPONSE_BYTES: Final = 64 * 1024
_REPORT_ID: Final = re.compile(r"[0-9]{1,20}")
_FILE_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


#: The codes of :class:`CyberTiplineError` (and :class:`ReportNotFiled`).
CYBERTIPLINE_CODES: Final = frozenset(
    {"auth", "refused", "http", "network", "bad_response", "unexpected"}
)


class CyberTiplineError(ModerationError):
    """A CyberTipline call that failed. ``code`` is stable: ``auth`` (credentials
    refused), ``refused`` (a non-zero response code), ``http`` (an HTTP error without a
    usable answer), ``network`` (no answer), ``bad_response`` (an answer that is not what
    the documentation describes, a DOCTYPE, too large, or a hash that does not match),
    ``unexpected`` (anything else that broke :meth:`CyberTiplineClient.send`)."""

    code: str = "cybertipline"
    codes: ClassVar[frozenset[str]] = CYBERTIPLINE_CODES

    def __init__(
        self,
        reason: str,
        *,
        code: str,
        response_code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self._refine(code)
        self.reason = reason
        self.response_code = response_code
        self.http_status = http_status


class ReportNotFiled(CyberTiplineError):
    """:meth:`CyberTiplineClient.send` did not file the report. ``report_id`` is the
    report it opened (``None`` when it opened none); ``retracted`` says whether that
    report was withdrawn (``/retract``), so no finished partial report is left. Its
    ``code`` is the failure's, one of :data:`CYBERTIPLINE_CODES`."""

    code: str = "report_not_filed"

    def __init__(
        self,
        reason: str,
        report_id: str | None,
        *,
        code: str,
        retracted: bool = False,
        response_code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(reason, code=code, response_code=response_code, http_status=http_status)
        self.report_id = report_id
        self.retracted = retracted


@dataclass(frozen=True)
class FinishedReport:
    """The answer to *finish the report*: its id and the file ids it holds."""

    report_id: str
    file_ids: tuple[str, ...]


@dataclass(frozen=True)
class FiledFile:
    name: str
    file_id: str
    md5: str
    sha256: str


@dataclass(frozen=True)
class FiledReport:
    """A report the CyberTipline finished: where it went, its id, its files."""

    case: str
    base_url: str
    report_id: str
    files: tuple[FiledFile, ...]


class CyberTiplineClient:
    """NCMEC's CyberTipline Reporting API at ``base_url`` (the test environment,
    :data:`TEST_ENVIRONMENT`, or :data:`PRODUCTION_ENVIRONMENT`), with HTTP Basic
    authentication. Answers are XML from another party: a document with a DOCTYPE (entity
    expansion, external entities) or over :data:`MAX_RESPONSE_BYTES` is refused unread.

    The URL must be HTTPS (the report carries evidence and raw addresses), except on the
    loopback interface, for a local test server. Use as an async context manager, or call
    :meth:`aclose`; an ``http`` client passed in is the caller's to close.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30,
    ) -> None:
        parts = urlsplit(base_url)
        loopback = (parts.hostname or "") in _LOOPBACK_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("the CyberTipline URL must be https:// (http:// on loopback only)")
        if not username or not password:
            raise ValueError("the CyberTipline needs a user name and a password")
        import httpx

        self.base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(username, password)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout

    @classmethod
    def from_settings(
        cls, settings: CybertipSettings, *, http: httpx.AsyncClient | None = None
    ) -> CyberTiplineClient:
        """From ``STRANGERS_CYBERTIP_URL``, ``_USERNAME`` and ``_PASSWORD``."""
        password = settings.cybertip_password
        secret = password.get_secret_value() if password is not None else ""
        return cls(settings.cybertip_url, settings.cybertip_username or "", secret, http=http)

    async def __aenter__(self) -> CyberTiplineClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # The documented calls, one each

    async def submit(self, xml: bytes) -> str:
        """*Submit a report*: open a report from a ``<report>`` document; its id."""
        answer = await self._call("submit", content=xml, headers=_XML_BODY)
        return _report_id(answer)

    async def upload(self, report_id: str, name: str, data: bytes) -> str:
        """*Upload a file* to ``report_id``; its file id. The MD5 the server answers must
        be that of ``data``: the whole file arrived."""
        _check_report_id(report_id)
        answer = await self._call(
            "upload",
            data={"id": report_id},
            files={"file": (name, data, "application/octet-stream")},
        )
        _same_report(answer, report_id)
        file_id = _text(answer, "fileId")
        if file_id is None or not _FILE_ID.fullmatch(file_id):
            raise CyberTiplineError("the upload answer has no file id", code="bad_response")
        received = _text(answer, "hash")
        sent = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if received is not None and received.lower() != sent:
            raise CyberTiplineError(
                f"the CyberTipline received other bytes for {name} than were sent",
                code="bad_response",
            )
        return file_id

    async def file_details(self, report_id: str, file_id: str, details_xml: bytes) -> None:
        """*Submit file details* (a ``<fileDetails>`` document) of ``file_id``."""
        _check_report_id(report_id)
        answer = await self._call("fileinfo", content=details_xml, headers=_XML_BODY)
        _same_report(answer, report_id)

    async def finish(self, report_id: str) -> FinishedReport:
        """*Finish the report*: it is complete and goes to NCMEC."""
        _check_report_id(report_id)
        answer = await self._call("finish", data={"id": report_id})
        _same_report(answer, report_id)
        files = answer.find("files")
        ids = () if files is None else tuple((e.text or "").strip() for e in files.iter("fileId"))
        return FinishedReport(report_id=report_id, file_ids=ids)

    async def retract(self, report_id: str) -> None:
        """*Cancel the report* (``/retract``): withdraw a report that is not finished."""
        _check_report_id(report_id)
        answer = await self._call("retract", data={"id": report_id})
        _same_report(answer, report_id)

    # The whole sequence

    async def send(self, package: ReportPackage) -> FiledReport:
        """File ``package``: submit, then upload each file and its details, then finish.

        Raises :class:`ReportNotFiled` on any failure. After submit, a failure (an HTTP
        error, a non-zero response code, the connection lost mid-upload, an answer refused)
        retracts the report first, so the CyberTipline is never left with a finished
        partial report; should the retraction answer that the report is already finished
        (the finish went through, its answer was lost), the report is filed and returned.
        """
        try:
            report_id = await self.submit(package.report_xml)
        except CyberTiplineError as exc:
            raise _not_filed(exc, None, retracted=False) from exc
        filed: list[FiledFile] = []
        try:
            for file in package.files:
                file_id = await self.upload(report_id, file.name, file.data)
                details = package.file_details_xml(report_id, file_id, file)
                await self.file_details(report_id, file_id, details)
                filed.append(FiledFile(file.name, file_id, file.md5, file.sha256))
            await self.finish(report_id)
        except Exception as exc:
            failure = (
                exc
                if isinstance(exc, CyberTiplineError)
                else CyberTiplineError(
                    f"unexpected failure: {type(exc).__name__}", code="unexpected"
                )
            )
            outcome = await self._withdraw(report_id)
            if outcome == "finished" and len(filed) == len(package.files):
                return FiledReport(package.case, self.base_url, report_id, tuple(filed))
            raise _not_filed(failure, report_id, retracted=outcome == "retracted") from exc
        return FiledReport(package.case, self.base_url, report_id, tuple(filed))

    async def _withdraw(self, report_id: str) -> str:
        """Retract after a failure: "retracted", "finished" (too late), or "unknown"."""
        try:
            await self.retract(report_id)
        except CyberTiplineError as exc:
            if exc.response_code == REPORT_ALREADY_RETRACTED:
                return "retracted"
            if exc.response_code == REPORT_ALREADY_FINISHED:
                return "finished"
            return "unknown"
        return "retracted"

    async def _call(self, endpoint: str, **request: Any) -> ET.Element:
        """POST to an endpoint; the answer's root, once its response code is 0."""
        import httpx

        url = f"{self.base_url}/{endpoint}"
        try:
            async with self._http.stream(
                "POST", url, auth=self._auth, timeout=self._timeout, **request
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise CyberTiplineError(
                            f"/{endpoint} answered more than {MAX_RESPONSE_BYTES} bytes",
                            code="bad_response",
                        )
                status = response.status_code
        except httpx.TimeoutException:
            raise CyberTiplineError(f"/{endpoint} did not answer in time", code="network") from None
        except httpx.HTTPError as exc:
            raise CyberTiplineError(
                f"/{endpoint} failed on the network: {type(exc).__name__}", code="network"
            ) from None
        if status in (401, 403):
            raise CyberTiplineError(
                f"the CyberTipline refused the credentials (HTTP {status} on /{endpoint})",
                code="auth",
                http_status=status,
            )
        try:
            answer = parse_answer(bytes(body))
        except CyberTiplineError as exc:
            if status != 200:
                raise CyberTiplineError(
                    f"/{endpoint} failed with HTTP {status}", code="http", http_status=status
                ) from None
            raise CyberTiplineError(f"/{endpoint}: {exc.reason}", code=exc.code) from None
        code = _response_code(answer)
        if code != 0:
            description = _text(answer, "responseDescription") or "no description"
            kind = (
                "auth" if code == AUTHENTICATION_REQUIRED or code in NOT_AUTHORIZED else ("refused")
            )
            raise CyberTiplineError(
                f"/{endpoint} refused: {description} (response code {code})",
                code=kind,
                response_code=code,
                http_status=status,
            )
        if status != 200:
            raise CyberTiplineError(
                f"/{endpoint} failed with HTTP {status}", code="http", http_status=status
            )
        return answer


_XML_BODY: Final = {"content-type": "text/xml; charset=utf-8"}
_ANSWER_ROOTS: Final = frozenset({"reportResponse", "reportDoneResponse"})


def _not_filed(exc: CyberTiplineError, report_id: str | None, *, retracted: bool) -> ReportNotFiled:
    reason = exc.reason
    if report_id is not None:
        outcome = "retracted" if retracted else "could not be retracted (it is not finished)"
        reason = f"{reason}; report {report_id} {outcome}"
    return ReportNotFiled(
        reason,
        report_id,
        code=exc.code,
        retracted=retracted,
        response_code=exc.response_code,
        http_status=exc.http_status,
    )


def _refuse_declarations(*_: object) -> None:
    raise CyberTiplineError("the answer declares a DOCTYPE or an entity", code="bad_response")


def parse_answer(body: bytes) -> ET.Element:
    """An API answer's root element (``reportResponse`` or ``reportDoneResponse``).

    The answer comes from the network: a document type declaration (the door to entity
    expansion and external entities) is refused before anything is built from it, and
    so is anything over :data:`MAX_RESPONSE_BYTES` or not well-formed. Raises
    :class:`CyberTiplineError` (``bad_response``).
    """
    if len(body) > MAX_RESPONSE_BYTES:
        raise CyberTiplineError("the answer is too large", code="bad_response")
    # expat reports the declaration in whatever encoding the body uses, before any
    # entity in it could be expanded.
    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = _refuse_declarations
    scanner.EntityDeclHandler = _refuse_declarations
    scanner.ExternalEntityRefHandler = _refuse_declarations  # type: ignore[assignment]
    try:
        scanner.Parse(body, True)
        root = ET.fromstring(body)
    except (expat.ExpatError, ET.ParseError):
        raise CyberTiplineError("the answer is not well-formed XML", code="bad_response") from None
    if root.tag not in _ANSWER_ROOTS:
        raise CyberTiplineError(f"unexpected answer <{root.tag}>", code="bad_response")
    return root


def _text(answer: ET.Element, tag: str) -> str | None:
    element = answer.find(tag)
    return None if element is None or element.text is None else element.text.strip()


def _response_code(answer: ET.Element) -> int:
    value = _text(answer, "responseCode")
    try:
        return int(value or "")
    except ValueError:
        raise CyberTiplineError("the answer has no response code", code="bad_response") from None


def _check_report_id(report_id: str) -> None:
    if not _REPORT_ID.fullmatch(report_id):
        raise CyberTiplineError("a report id is a number", code="bad_response")


def _report_id(answer: ET.Element) -> str:
    report_id = _text(answer, "reportId")
    if report_id is None or not _REPORT_ID.fullmatch(report_id):
        raise CyberTiplineError("the answer has no report id", code="bad_response")
    return report_id


def _same_report(answer: ET.Element, report_id: str) -> None:
    answered = _text(answer, "reportId")
    if answered is not None and answered != report_id:
        raise CyberTiplineError(
            f"the answer is about report {answered}, not {report_id}", code="bad_response"
        )
