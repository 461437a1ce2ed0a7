"""Frame checks in check-worker processes (issue 18; docs/design.md §6, video).

The chat process hands each frame to one of ``workers`` check-worker processes and
awaits the verdict; the models (NudeNet on onnxruntime, OpenCV, PDQ, the age model) load
only there, so the chat process neither carries them (a few hundred MB) nor shares its
GIL with them under a flood of video. :class:`~strangers.safety.pool.CheckPool` keeps its
queue, priorities, fair shares, shedding and metrics as with threads; only the hand-off
changes (:class:`ProcessBackend`, its :class:`~strangers.safety.pool.CheckBackend`).

- :class:`WorkerSpec`: what a worker loads, from the gateway's settings — the same
  :func:`~strangers.safety.checker.load_checker` call the chat process made before.
- :class:`WorkerProcess`: one worker, from the chat process's side: started as a fresh
  interpreter (``python -m strangers.safety.check_worker``: no fork of a gateway that
  has threads and an event loop), loaded once, then one frame at a time over its pipes.
- :class:`ProcessBackend`: one worker per pool task; a worker that dies (SIGKILL, a
  segfault in a decoder) or hangs past ``check_timeout`` fails its frame as a
  :class:`CheckerFault` — a frame not checked, which the gateway answers as a fault and
  the page treats as no check at all (fail closed, docs/safety.md) — and is replaced.
  Workers exit when the pool closes, and by themselves when the chat process is gone
  (their pipe closes, or their parent changes).
- What a worker process and a connection to a check service on another host
  (``safety/remote.py``) share: :class:`FramedPeer`, one peer that checks frames over a
  framed channel (the messages, the bounds on an answer, the faults), and
  :class:`SlotBackend`, one peer per pool task, replaced when it fails, opened again
  after 1, 2, 4… 60 s while it cannot be. :class:`ProcessBackend` is the one whose
  peers are worker processes.
- The wire (:func:`pack`, :func:`result_to_wire`, :func:`result_from_wire`): a message
  is two big-endian 32-bit lengths, a JSON head and a raw body (the JPEG, or a hash
  list). JSON, not pickle: a worker decodes bytes from strangers, and one taken over
  by a crafted JPEG must not get code run in the chat process by what it answers. The
  chat process reads at most :data:`MAX_ANSWER_BYTES` of a worker's answer and checks
  every field against the types and bounds of a verdict; anything else is a fault
  (``bad_answer``) and the worker is replaced.

**Hash lists**: the worker matches, against its own copy of the list, pushed by the
chat process before the first frame after each change (:meth:`HashList.packed
<strangers.safety.hashes.HashList.packed>`, whose version changes only with the
content). Matching in the chat process instead would keep numpy out of it only with a
pure-Python scan: 6.4 ms a frame for 100,000 entries (``(a ^ b).bit_count()`` over
Python ints), 38% of a core on the chat loop at 60 frames a second, against 3.8 ms in
the worker with numpy. An operator's checker loaded by name still gets a ``HashList``
(``hashes=``) that stays current, as before.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import struct
import sys
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Final, Generic, Literal, Protocol, TypeVar, get_args

from strangers.core.frames import AgeEstimate, FrameVerdict, HashHit

from .age import load_age_estimator
from .checker import CheckResult, FrameChecker, NudityThresholds, load_checker
from .errors import SafetyError
from .hashes import HashList
from .jpeg import FrameRejected
from .pool import CheckBackend

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P", bound="FramedPeer")

FaultCode = Literal["worker_died", "worker_hung", "bad_answer", "checker_raised", "not_loaded"]

#: The module a worker runs (``python -m``).
WORKER_MODULE: Final = "strangers.safety.check_worker"
#: The most a worker's answer may hold: a verdict is a few hundred bytes.
MAX_ANSWER_BYTES: Final = 64 * 1024
#: Bounds of a verdict on the wire: more than an honest checker reports.
MAX_CLASSES: Final = 32
MAX_SCORES: Final = 64
MAX_STAGES: Final = 16
MAX_NAME: Final = 64
MAX_LABEL: Final = 4096
MAX_DETAIL: Final = 300

LENGTHS: Final = struct.Struct(">II")
_FACE_SOURCES: Final = (None, "nudenet", "haar")


class CheckerFault(SafetyError):
    """A frame a check worker gave no verdict on; the frame is not checked (fail closed).
    ``code``: ``worker_died`` (it exited during the check), ``worker_hung`` (no answer
    within the check timeout: killed), ``bad_answer`` (an answer that is not a verdict:
    killed), ``checker_raised`` (the checker raised; the worker goes on),
    ``not_loaded`` (a worker could not load the checker)."""

    code: str = "checker_fault"
    codes: ClassVar[frozenset[str]] = frozenset(get_args(FaultCode))

    def __init__(self, code: FaultCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _Gone(Exception):
    """The worker was gone before it was handed the frame: not the frame's doing."""


class SpecSettings(Protocol):
    """The settings a :class:`WorkerSpec` is made from (``gateway/settings.py``)."""

    @property
    def frame_checker(self) -> str: ...
    @property
    def nudity_threshold(self) -> float: ...
    @property
    def face_threshold(self) -> float: ...
    @property
    def age_estimator(self) -> str: ...
    @property
    def log_level(self) -> str: ...
    @property
    def log_format(self) -> Literal["auto", "json", "text"]: ...


@dataclass(frozen=True)
class WorkerSpec:
    """The checker a check worker builds: ``frame_checker`` (``builtin`` or
    ``package.module:factory``), its thresholds, the ``age_estimator`` the built-in
    checker gets, and the log settings of the gateway (docs/design.md §6;
    ``gateway/settings.py`` describes each)."""

    frame_checker: str = "builtin"
    nudity_threshold: float = 0.5
    face_threshold: float = 0.35
    age_estimator: str = "builtin"
    log_level: str = "warning"
    log_format: Literal["auto", "json", "text"] = "auto"

    def build(self, hashes: HashList | None, *, instances: int = 1) -> FrameChecker:
        """Load the checker (blocking: seconds for the built-in one); ``instances`` is
        the number of age models, one per thread that calls the checker."""
        # Only the built-in checker takes an estimator: don't load the models for nothing.
        estimator = (
            load_age_estimator(self.age_estimator, instances=instances)
            if self.frame_checker == "builtin"
            else None
        )
        return load_checker(
            self.frame_checker,
            age_estimator=estimator,
            nudity=NudityThresholds(threshold=self.nudity_threshold),
            face_threshold=self.face_threshold,
            hashes=hashes,
        )

    @classmethod
    def from_settings(cls, settings: SpecSettings) -> WorkerSpec:
        """The spec of a gateway's (or a check service's) settings: both load the same
        checker from the same ``STRANGERS_*`` variables."""
        return cls(
            frame_checker=settings.frame_checker,
            nudity_threshold=settings.nudity_threshold,
            face_threshold=settings.face_threshold,
            age_estimator=settings.age_estimator,
            log_level=settings.log_level,
            log_format=settings.log_format,
        )

    @classmethod
    def from_wire(cls, data: object) -> WorkerSpec:
        if not isinstance(data, dict):
            raise ValueError("a worker spec is an object")
        return cls(**data)


def pack(head: Mapping[str, Any], body: bytes = b"") -> bytes:
    """One message: the two lengths, the JSON ``head``, the raw ``body``. NaN and
    infinities are refused (``ValueError``): no verdict carries them."""
    text = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
    return LENGTHS.pack(len(text), len(body)) + text + body


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("a name or label out of bounds")
    return value


def _number(value: object) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError("a number out of bounds")
    return float(value)  # type: ignore[arg-type]


def _count(value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError("a count out of bounds")
    return value


def _items(value: object, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError("a list out of bounds")
    return value


def _pair(value: object) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("a pair is a list of two")
    return value[0], value[1]


def result_to_wire(result: CheckResult) -> dict[str, Any]:
    """A checker's result as the JSON a worker sends (what :func:`result_from_wire`
    reads back); ``TypeError``/``ValueError`` for a result that is not one."""
    verdict = result.verdict
    hit, age = verdict.hash_hit, verdict.age
    return {
        "nudity": [str(name) for name in verdict.nudity],
        "face": bool(verdict.face),
        "hash_hit": None if hit is None else [str(hit.label), int(hit.distance)],
        "scores": [[str(name), float(score)] for name, score in verdict.scores],
        "age": None if age is None else [float(age.years), float(age.confidence)],
        "stages": {str(stage): float(seconds) for stage, seconds in result.stages.items()},
        "face_source": result.face_source,
        "hash_quality": None if result.hash_quality is None else int(result.hash_quality),
    }


def result_from_wire(data: object) -> CheckResult:
    """The result a worker sent, checked field by field against the types and bounds of
    a verdict; ``ValueError`` for anything else (a worker is not trusted: it decodes
    strangers' bytes)."""
    if not isinstance(data, dict):
        raise ValueError("a result is an object")
    face = data.get("face")
    if type(face) is not bool:
        raise ValueError("face is true or false")
    hit_data, age_data = data.get("hash_hit"), data.get("age")
    hit = None
    if hit_data is not None:
        label, distance = _pair(hit_data)
        hit = HashHit(_text(label, MAX_LABEL), _count(distance, 0, 256))
    age = None
    if age_data is not None:
        years, confidence = _pair(age_data)
        age = AgeEstimate(_number(years), _number(confidence))
    scores = []
    for entry in _items(data.get("scores"), MAX_SCORES):
        name, score = _pair(entry)
        scores.append((_text(name, MAX_NAME), _number(score)))
    stages_data = data.get("stages")
    if not isinstance(stages_data, dict) or len(stages_data) > MAX_STAGES:
        raise ValueError("stages out of bounds")
    face_source = data.get("face_source")
    if face_source not in _FACE_SOURCES:
        raise ValueError("an unknown face source")
    quality = data.get("hash_quality")
    verdict = FrameVerdict(
        nudity=tuple(_text(name, MAX_NAME) for name in _items(data.get("nudity"), MAX_CLASSES)),
        face=face,
        hash_hit=hit,
        scores=tuple(scores),
        age=age,
    )
    return CheckResult(
        verdict,
        {_text(stage, MAX_NAME): _number(seconds) for stage, seconds in stages_data.items()},
        face_source,
        None if quality is None else _count(quality, 0, 100),
    )


def _rejected(head: Mapping[str, Any]) -> FrameRejected:
    code, detail = head.get("code"), head.get("detail")
    if code not in FrameRejected.codes or not isinstance(detail, str):
        raise ValueError("a refusal with an unknown code")
    return FrameRejected(code, detail[:MAX_DETAIL])


class FramedPeer:
    """A peer that checks frames over a framed channel, one at a time, from the chat
    process's side: a check-worker process over its pipes (:class:`WorkerProcess`), or
    a connection to a check service over TCP (``safety/remote.py``). The messages, the
    bounds on an answer and the faults are the same for both; ``name`` says which in
    the faults' details and the logs."""

    #: What the faults call this peer, and where the logs say it is.
    name: str = "the check worker"
    where: str = ""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        #: The version of the hash list this peer holds (0: empty, as it starts).
        self.hash_version = 0

    @property
    def alive(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def gone(self) -> str:
        """How the peer went away, for the log."""
        return "was gone"

    async def _send(self, message: bytes) -> None:
        writer = self.writer
        # A pipe or socket the loop already saw close drops what is written to it
        # without a word, and a write that fails closes it without ``drain`` always
        # saying so (asyncio reports the loss a few callbacks later): either way the
        # peer was gone before it got the whole message, so the frame had no part in
        # its end.
        if not self.alive or writer.is_closing():
            raise _Gone()
        try:
            writer.write(message)
            await writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise _Gone() from exc
        if writer.is_closing():
            raise _Gone()

    async def _receive(self) -> dict[str, Any]:
        try:
            head_bytes, body_bytes = LENGTHS.unpack(await self.reader.readexactly(LENGTHS.size))
            if head_bytes > MAX_ANSWER_BYTES or body_bytes:
                raise CheckerFault("bad_answer", f"{self.name}'s answer is out of bounds")
            head = json.loads(await self.reader.readexactly(head_bytes))
        except (asyncio.IncompleteReadError, ConnectionError):
            raise CheckerFault("worker_died", f"{self.name} was gone during the check") from None
        except ValueError:  # JSON, or a head that is not UTF-8
            raise CheckerFault("bad_answer", f"{self.name}'s answer is not JSON") from None
        if not isinstance(head, dict):
            raise CheckerFault("bad_answer", f"{self.name}'s answer is not an object")
        return head

    async def check(
        self, jpeg: bytes, estimate_age: bool, hashes: tuple[int, bytes] | None = None
    ) -> CheckResult:
        """The verdict on one frame, after ``hashes`` (a list's version and its
        ``hashes`` message) when given. Raises ``FrameRejected`` as the checker did,
        ``CheckerFault`` for a fault, and ``_Gone`` when the peer was gone before it
        got the frame."""
        return answer_from_wire(await self.exchange(jpeg, estimate_age, hashes), self.name)

    async def exchange(
        self, jpeg: bytes, estimate_age: bool, hashes: tuple[int, bytes] | None = None
    ) -> dict[str, Any]:
        """:meth:`check`'s messages, and the head of the answer as it came (a JSON object
        within :data:`MAX_ANSWER_BYTES`; not yet read as a verdict)."""
        if hashes is not None:
            version, message = hashes
            await self._send(message)
            self.hash_version = version
        await self._send(pack({"op": "check", "estimate_age": bool(estimate_age)}, jpeg))
        return await self._receive()

    def kill(self) -> None:
        """End the peer at once, without waiting for anything."""
        self.writer.transport.abort()

    async def reap(self) -> None:
        """Wait until the peer is gone after :meth:`kill`."""

    async def stop(self, grace: float = 2.0) -> None:
        """End the peer in order (it ends when it reads the end of its input)."""
        try:
            self.writer.close()
            async with asyncio.timeout(grace):
                await self.writer.wait_closed()
        except (ConnectionError, RuntimeError, TimeoutError):
            self.kill()


def answer_from_wire(head: Mapping[str, Any], name: str = "the check worker") -> CheckResult:
    """A ``check``'s answer: the verdict, or ``FrameRejected`` as the checker raised it,
    or ``CheckerFault`` (``checker_raised``, ``bad_answer``)."""
    op = head.get("op")
    try:
        if op == "result":
            return result_from_wire(head.get("result"))
        if op == "rejected":
            raise _rejected(head)
    except ValueError:
        raise CheckerFault("bad_answer", f"{name}'s answer is not a verdict") from None
    if op == "error":
        kind, detail = str(head.get("type"))[:MAX_NAME], str(head.get("detail"))[:MAX_DETAIL]
        raise CheckerFault("checker_raised", f"the frame checker raised {kind}: {detail}")
    raise CheckerFault("bad_answer", f"{name}'s answer is not a verdict")


class WorkerProcess(FramedPeer):
    """One check-worker process, from the chat process's side: :meth:`spawn`,
    :meth:`load`, then :meth:`check` one frame at a time (the pool's task for this
    worker never overlaps two), and :meth:`stop` or :meth:`kill`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None and process.stdin is not None
        super().__init__(process.stdout, process.stdin)
        self.process = process
        self.name = f"check worker {process.pid}"
        self.where = f"pid {process.pid}"

    @classmethod
    async def spawn(cls) -> WorkerProcess:
        """A fresh interpreter running :data:`WORKER_MODULE`; its stderr is this
        process's (its log lines go where the gateway's go)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WORKER_MODULE,
            "--parent",
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def gone(self) -> str:
        return f"exited (code {self.process.returncode})"

    async def load(self, spec: WorkerSpec) -> float:
        """Have the worker build the checker; the seconds it took, by its own clock.
        ``CheckerFault`` (``not_loaded``) when it could not."""
        message = {"op": "load", "spec": asdict(spec), "sys_path": list(sys.path)}
        try:
            await self._send(pack(message))
            head = await self._receive()
        except (_Gone, CheckerFault):
            code = await self._exit_code()
            raise CheckerFault(
                "not_loaded", f"check worker {self.pid} exited while loading (code {code})"
            ) from None
        return ready_from_wire(head)

    async def _exit_code(self) -> int | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                return await self.process.wait()
        return None

    def kill(self) -> None:
        """SIGKILL, at once (the child watcher reaps it; :meth:`reap` waits for that)."""
        if self.alive:
            # Not ``process.kill()``: Popen polls first, reaping the child behind the
            # child watcher's back (which then logs it as unknown).
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def reap(self) -> None:
        """Wait for the process to exit, then close its transport: left to the
        collector, an exited worker's transport closes its pipes on whatever loop it
        was made on, which may be closed by then (``Event loop is closed`` at exit)."""
        await self.process.wait()
        transport = getattr(self.process, "_transport", None)
        if transport is not None:
            transport.close()

    async def stop(self, grace: float = 2.0) -> None:
        """Close its pipe (it exits when it reads the end), then kill it past ``grace``
        seconds; returns once it is gone."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.writer.close()
        try:
            async with asyncio.timeout(grace):
                await self.process.wait()
        except TimeoutError:
            self.kill()
        await self.reap()


def ready_from_wire(head: Mapping[str, Any]) -> float:
    """The seconds a ``ready`` answer says the load took; ``CheckerFault``
    (``not_loaded``) for any other answer."""
    if head.get("op") == "ready":
        try:
            return _number(head.get("seconds", 0.0))
        except ValueError:
            raise CheckerFault("not_loaded", "a ready answer without its seconds") from None
    detail = head.get("detail")
    raise CheckerFault(
        "not_loaded", str(detail)[:MAX_DETAIL] if detail else "the checker did not load"
    )


class SlotBackend(CheckBackend, Generic[P]):
    """The pool's checks on one :class:`FramedPeer` per pool task ("slot"), opened by
    :meth:`_open` (a subclass: a worker process spawned and loaded, or a connection to a
    check service made, proven and answered ``ready``). A peer that is gone, hangs past
    ``check_timeout`` or answers what is not a verdict fails its frame as a
    :class:`CheckerFault` (the frame is not checked: fail closed) and is replaced; a
    peer that cannot be opened is tried again after 1, 2, 4… up to 60 seconds, its
    error logged."""

    #: What the logs call a slot's peer.
    kind: ClassVar[str] = "check worker"

    def __init__(
        self,
        *,
        hashes: HashList | None = None,
        check_timeout: float = 10.0,
        load_timeout: float = 300.0,
    ) -> None:
        if check_timeout <= 0 or load_timeout <= 0:
            raise ValueError(f"a {self.kind}'s timeouts must be positive")
        self.hashes = hashes
        self.check_timeout = check_timeout
        self.load_timeout = load_timeout
        self._workers: list[P | None] = []
        self._loaded_once: list[bool] = []
        self._draining: asyncio.Event | None = None
        self._hash_message: tuple[int, bytes] = (0, b"")
        #: Killed peers not yet reaped: :meth:`close` waits for them.
        self._reaping: set[asyncio.Task[None]] = set()

    def start(self, slots: int) -> None:
        self._workers = [None] * slots
        self._loaded_once = [False] * slots
        self._draining = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Every slot's peer was opened once, one at least is up now, and the backend is
        not draining."""
        return (
            self._draining is not None
            and not self._draining.is_set()
            and all(self._loaded_once)
            and any(worker is not None and worker.alive for worker in self._workers)
        )

    async def ready_for(self, slot: int) -> bool:
        return await self._live(slot) is not None

    async def _until_draining(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or ``None`` (``work`` cancelled) once the backend drains."""
        assert self._draining is not None
        task = asyncio.ensure_future(work)
        drained = asyncio.ensure_future(self._draining.wait())
        try:
            await asyncio.wait({task, drained}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            return None
        return task.result()

    async def _live(self, slot: int) -> P | None:
        """``slot``'s peer, opened (again) when there is none or it is gone; ``None``
        once the backend drains."""
        assert self._draining is not None
        failures = 0
        while not self._draining.is_set():
            worker = self._workers[slot]
            if worker is not None:
                if worker.alive:
                    return worker
                self._discard(slot, worker.gone())
                continue
            try:
                worker = await self._until_draining(self._open(slot))
            except CheckerFault as fault:
                failures += 1
                delay = min(60, 2 ** (failures - 1))
                log.error(
                    "%s %d did not load the frame checker (%s); trying again in %d s",
                    self.kind,
                    slot,
                    fault.detail,
                    delay,
                )
                await self._until_draining(asyncio.sleep(delay))
                continue
            if worker is None:
                return None
            self._workers[slot] = worker
            self._loaded_once[slot] = True
            return worker
        return None

    @abc.abstractmethod
    async def _open(self, slot: int) -> P:
        """A new peer for ``slot``, ready for its first frame; ``CheckerFault``
        (``not_loaded``) when there is none to be had now. On any failure, nothing it
        started is left running."""

    async def _hash_update(self, worker: P) -> tuple[int, bytes] | None:
        """The ``hashes`` message ``worker`` needs before its next frame, if any: built
        once per version of the list, in a thread (a million labels take a while)."""
        hashes = self.hashes
        if hashes is None or hashes.version == worker.hash_version:
            return None
        version, blob, labels = hashes.packed()
        if self._hash_message[0] != version:
            message = await asyncio.to_thread(pack, {"op": "hashes", "labels": labels}, blob)
            self._hash_message = (version, message)
        return self._hash_message

    def _kill(self, worker: P) -> None:
        worker.kill()
        task = asyncio.ensure_future(worker.reap())
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    def _discard(self, slot: int, why: str) -> None:
        worker = self._workers[slot]
        if worker is None:
            return
        self._workers[slot] = None
        self._kill(worker)
        log.warning("%s %d (%s) %s; starting another", self.kind, slot, worker.where, why)

    async def run(self, slot: int, jpeg: bytes, estimate_age: bool) -> CheckResult:
        # Twice at most, and only when the peer was found gone before it was handed the
        # frame (it died idle): a frame that kills its peer is never retried.
        for _ in range(2):
            worker = await self._live(slot)
            if worker is None:
                raise CheckerFault("worker_died", f"the {self.kind}s are stopping")
            try:
                async with asyncio.timeout(self.check_timeout):
                    update = await self._hash_update(worker)
                    return await worker.check(jpeg, estimate_age, update)
            except _Gone:
                self._discard(slot, "was gone before its next frame")
            except TimeoutError:
                self._discard(slot, f"took more than {self.check_timeout:g} s over a frame")
                raise CheckerFault(
                    "worker_hung", f"no verdict within {self.check_timeout:g} s"
                ) from None
            except CheckerFault as fault:
                if fault.code != "checker_raised":
                    self._discard(slot, f"failed a frame ({fault.code})")
                raise
            except FrameRejected:
                raise
            except BaseException:
                # Cancelled mid-exchange: its channel may hold half an answer.
                self._discard(slot, "was interrupted during a check")
                raise
        raise CheckerFault("worker_died", f"{self.kind}s keep going away before a check")

    def draining(self) -> None:
        if self._draining is not None:
            self._draining.set()

    async def close(self) -> None:
        self.draining()
        workers = [worker for worker in self._workers if worker is not None]
        self._workers = [None] * len(self._workers)
        await asyncio.gather(
            *(worker.stop() for worker in workers), *self._reaping, return_exceptions=True
        )


class ProcessBackend(SlotBackend[WorkerProcess]):
    """The pool's checks in check-worker processes, one per pool task (see the module
    docstring). ``hashes`` is the list the workers match against (kept current in
    them); a check taking more than ``check_timeout`` seconds kills its worker; a worker
    that cannot load is tried again after 1, 2, 4… up to 60 seconds, its error logged."""

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        hashes: HashList | None = None,
        check_timeout: float = 10.0,
        load_timeout: float = 300.0,
    ) -> None:
        super().__init__(hashes=hashes, check_timeout=check_timeout, load_timeout=load_timeout)
        self.spec = spec

    def pids(self) -> list[int]:
        """The process ids of the workers running now (for tests and benchmarks)."""
        return [w.pid for w in self._workers if w is not None and w.alive]

    async def _open(self, slot: int) -> WorkerProcess:
        worker, seconds = await spawn_loaded(self.spec, self.load_timeout)
        log.info(
            "check worker %d (pid %d) loaded the %s frame checker in %.2f s",
            slot,
            worker.pid,
            self.spec.frame_checker,
            seconds,
        )
        return worker


async def spawn_loaded(spec: WorkerSpec, load_timeout: float) -> tuple[WorkerProcess, float]:
    """A check-worker process that has loaded ``spec``'s checker, and the seconds the
    load took by its clock; ``CheckerFault``
    (``not_loaded``) when it could not start or load within ``load_timeout`` seconds
    (it is killed then)."""
    try:
        worker = await WorkerProcess.spawn()
    except OSError as exc:
        raise CheckerFault("not_loaded", f"could not start a check worker: {exc}") from None
    try:
        async with asyncio.timeout(load_timeout):
            seconds = await worker.load(spec)
    except TimeoutError:
        worker.kill()
        await worker.reap()
        raise CheckerFault(
            "not_loaded", f"no answer within {load_timeout:g} s of loading"
        ) from None
    except BaseException:
        worker.kill()
        await asyncio.shield(worker.reap())
        raise
    return worker, seconds
