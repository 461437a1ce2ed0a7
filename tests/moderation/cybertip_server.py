"""A local stand-in for NCMEC's CyberTipline Reporting API, for the client's tests.

It follows the documented sequence (https://report.cybertip.org/ispws/documentation):
``POST /submit`` (a ``<report>``) opens a report and answers its ``<reportId>``;
``POST /upload`` (``multipart/form-data``: ``id``, ``file``) answers a ``<fileId>`` and
the MD5 ``<hash>``; ``POST /fileinfo`` (a ``<fileDetails>``); ``POST /finish`` (form
``id``) answers a ``<reportDoneResponse>`` with its ``<files>``; ``POST /retract`` (form
``id``) withdraws an open report. HTTP Basic authentication on every call; answers are
``<reportResponse>`` with ``<responseCode>`` (0 success, 2000 authentication required,
4100 validation failed, 5001 report does not exist, 5002 file does not exist, 5101
report already retracted, 5102 report already finished) and ``<responseDescription>``.

Each report is "open", "finished" or "retracted"; a call out of order is refused with
the documented code. Switches make the Nth upload fail (HTTP 500, or the connection
dropped in the middle of the answer) or make an endpoint answer with a DOCTYPE.

Served by uvicorn on 127.0.0.1, port 0, in a background thread: ``with TipServer() as
tip: tip.url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import uvicorn
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

USERNAME = "esp-test"
PASSWORD = "correct horse battery staple"

#: A DOCTYPE with an entity: a client that expanded it would put this in a report id.
HOSTILE = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE reportResponse [<!ENTITY boom "1234567890">]>\n'
    b"<reportResponse><responseCode>0</responseCode>"
    b"<responseDescription>Success</responseDescription>"
    b"<reportId>&boom;</reportId><fileId>&boom;</fileId></reportResponse>"
)


@dataclass
class TipFile:
    name: str
    data: bytes
    details: bytes | None = None


@dataclass
class TipReport:
    id: str
    xml: bytes
    state: Literal["open", "finished", "retracted"] = "open"
    files: dict[str, TipFile] = field(default_factory=dict)


class _Dropped(Exception):
    """Raised after a partial answer: uvicorn closes the connection."""


class TipServer:
    """The stand-in API, under ``/ispws`` as NCMEC's is."""

    def __init__(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        self._credentials = f"{username}:{password}".encode()
        self._lock = threading.Lock()
        self._ids = itertools.count(4_564_000)
        self.reports: dict[str, TipReport] = {}
        self.calls: list[str] = []
        self.uploads = 0
        self.fail_upload: int | None = None  # the Nth upload (from 1) fails
        self.failure: Literal["http500", "drop"] = "http500"
        self.hostile_on: str | None = None  # an endpoint that answers with a DOCTYPE
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # What the tests look at

    def in_state(self, state: str) -> list[TipReport]:
        with self._lock:
            return [report for report in self.reports.values() if report.state == state]

    # Serving

    def __enter__(self) -> TipServer:
        config = uvicorn.Config(
            self, host="127.0.0.1", port=0, lifespan="off", log_level="critical"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the CyberTipline stand-in did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/ispws"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        endpoint = request.url.path.removeprefix("/ispws/")
        with self._lock:
            self.calls.append(endpoint)
        if request.method != "POST" or endpoint not in _ENDPOINTS:
            await Response(status_code=404)(scope, receive, send)
            return
        if not self._authorised(request):
            body = _answer(2000, "Authentication required")
            headers = {"www-authenticate": 'Basic realm="ispws"'}
            await _xml(body, 401, headers)(scope, receive, send)
            return
        try:
            status, body = await getattr(self, f"_{endpoint}")(request)
        except _Dropped:
            # Start an answer and break off: the client sees the connection close
            # in the middle of it.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/xml"), (b"content-length", b"400")],
                }
            )
            await send({"type": "http.response.body", "body": b"<reportRes", "more_body": True})
            raise
        if self.hostile_on == endpoint:
            body = HOSTILE
        await _xml(body, status)(scope, receive, send)

    def _authorised(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, self._credentials)

    # The endpoints: (HTTP status, answer)

    async def _submit(self, request: Request) -> tuple[int, bytes]:
        xml = await request.body()
        try:
            root = ET.fromstring(xml)
        except ET.ParseError:
            return 200, _answer(4110, "Malformed XML submittal")
        required = ("incidentSummary/incidentType", "reporter/reportingPerson/email")
        if root.tag != "report" or any(root.find(path) is None for path in required):
            return 200, _answer(4100, "Validation failed")
        with self._lock:
            report = TipReport(id=str(next(self._ids)), xml=xml)
            self.reports[report.id] = report
        return 200, _answer(0, "Success", reportId=report.id)

    async def _upload(self, request: Request) -> tuple[int, bytes]:
        form = await request.form()
        report_id, upload = str(form.get("id", "")), form.get("file")
        if not isinstance(upload, UploadFile):
            return 200, _answer(4200, "Malformed file submittal", reportId=report_id)
        data = await upload.read()
        with self._lock:
            self.uploads += 1
            failing = self.uploads == self.fail_upload
            refused = self._refuse(report_id)
            if refused is None and not failing:
                file_id = uuid.uuid4().hex
                self.reports[report_id].files[file_id] = TipFile(upload.filename or "", data)
        if failing and self.failure == "drop":
            raise _Dropped
        if failing:
            return 500, _answer(1000, "Server error", reportId=report_id)
        if refused is not None:
            return 200, refused
        md5 = hashlib.md5(data).hexdigest()
        return 200, _answer(0, "Success", reportId=report_id, fileId=file_id, hash=md5)

    async def _fileinfo(self, request: Request) -> tuple[int, bytes]:
        xml = await request.body()
        try:
            root = ET.fromstring(xml)
        except ET.ParseError:
            return 200, _answer(4110, "Malformed XML submittal")
        report_id = (root.findtext("reportId") or "").strip()
        file_id = (root.findtext("fileId") or "").strip()
        with self._lock:
            refused = self._refuse(report_id)
            if refused is not None:
                return 200, refused
            file = self.reports[report_id].files.get(file_id)
            if root.tag != "fileDetails" or file is None:
                return 200, _answer(5002, "File does not exist", reportId=report_id)
            file.details = xml
        return 200, _answer(0, "Success", reportId=report_id)

    async def _finish(self, request: Request) -> tuple[int, bytes]:
        report_id = str((await request.form()).get("id", ""))
        with self._lock:
            refused = self._refuse(report_id)
            if refused is not None:
                return 200, refused
            report = self.reports[report_id]
            report.state = "finished"
            files = "".join(f"<fileId>{escape(file_id)}</fileId>" for file_id in report.files)
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><reportDoneResponse>"
            f"<responseCode>0</responseCode><reportId>{escape(report_id)}</reportId>"
            f"<files>{files}</files></reportDoneResponse>"
        )
        return 200, body.encode()

    async def _retract(self, request: Request) -> tuple[int, bytes]:
        report_id = str((await request.form()).get("id", ""))
        with self._lock:
            refused = self._refuse(report_id)
            if refused is not None:
                return 200, refused
            self.reports[report_id].state = "retracted"
        return 200, _answer(0, "Success", reportId=report_id)

    def _refuse(self, report_id: str) -> bytes | None:
        """The answer refusing a call on ``report_id`` that is not open (lock held)."""
        report = self.reports.get(report_id)
        if report is None:
            return _answer(5001, "Report does not exist", reportId=report_id)
        if report.state == "retracted":
            return _answer(5101, "Report already retracted", reportId=report_id)
        if report.state == "finished":
            return _answer(5102, "Report already finished", reportId=report_id)
        return None


_ENDPOINTS = frozenset({"submit", "upload", "fileinfo", "finish", "retract"})


def _answer(code: int, description: str, **fields: str) -> bytes:
    parts = "".join(f"<{tag}>{escape(value)}</{tag}>" for tag, value in fields.items())
    return (
        "<?xml version='1.0' encoding='UTF-8'?><reportResponse>"
        f"<responseCode>{code}</responseCode>"
        f"<responseDescription>{escape(description)}</responseDescription>{parts}"
        "</reportResponse>"
    ).encode()


def _xml(body: bytes, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="text/xml", headers=headers)
