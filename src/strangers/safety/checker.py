"""The frame checks: one sampled JPEG in, one :class:`FrameVerdict` out (docs/design.md §6, video).

A :class:`FrameChecker` is blocking and raises only
:class:`~strangers.safety.jpeg.FrameRejected`, for bytes that are not an acceptable
frame. :class:`~strangers.safety.pool.CheckPool` runs it off the event loop: by default
in check-worker processes, one copy of the checker in each, built there by name
(``safety/workers.py``, :class:`~strangers.safety.workers.WorkerSpec`), so the chat
process loads none of the libraries below; or, for a checker object handed to the pool
(``frame_check_mode = thread``), in several threads at once, so it must be thread-safe.

:class:`ModelFrameChecker` is the built-in one, all offline, nothing downloaded:

- **nudity**: NudeNet 3.4's detector (``320n.onnx``, shipped inside the nudenet wheel),
  run through onnxruntime directly with one thread per session call, so that N worker
  threads use N cores (``InferenceSession.run`` is thread-safe and releases the GIL).
  The preprocessing is NudeNet's (pad to a square at the bottom right, scale to
  320×320, values in 0–1) but for the channel order: the model is an Ultralytics
  YOLOv8 export, trained on RGB, and gets RGB here; NudeNet 3.4's ``_read_image``
  converts a 3-channel picture with ``COLOR_RGBA2BGR`` (which swaps R and B) before
  ``blobFromImage(swapRB=True)`` swaps them back, so NudeNet itself feeds it BGR (the
  astronaut's face: 0.76 here, 0.67 through NudeNet). The postprocessing is vectorised
  numpy instead of NudeNet's Python loop over 2100 candidate rows (about 5 ms a frame
  holding the GIL, a quarter of the model's time). Non-maximum suppression is per
  class (NudeNet's is across classes), so an exposed-body box is never hidden behind
  an overlapping face or covered-body box.
  A frame shows nudity when a class of :data:`FLAGGED_CLASSES` reaches its threshold.
  OpenCV is set to one thread for the same reason (process-wide, at construction).
- **face presence**: NudeNet's own ``FACE_FEMALE``/``FACE_MALE`` from the same pass;
  when it finds none, OpenCV's Haar frontal face cascade (Viola–Jones), which catches
  faces the detector scores low. Which one decided is in :attr:`CheckResult.face_source`.
- **age** (docs/safety.md, "Age from the camera"): when the caller asks
  (``estimate_age=True``: frames of the poster's own camera) and a face was found, the
  :class:`~strangers.safety.age.AgeEstimator` given at construction estimates the age on
  the face box found above (NudeNet's ``FACE_*`` box, or the Haar box), so no second
  face detection runs. Never on partner-sourced frames: a viewer must not get an age
  estimate of the stranger.
- **known abuse** (Ofcom ICU C5): the PDQ hash of the decoded frame against the
  operator's :class:`~strangers.safety.hashes.HashList`, when one with entries is
  given; frames whose PDQ quality is under
  :data:`~strangers.safety.hashes.PDQ_MIN_QUALITY` are not matched.

:func:`load_checker` picks the checker from a setting: ``builtin`` or an operator's own
``package.module:attr``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

from strangers.core.frames import AgeEstimate, FrameVerdict, HashHit

from .age import AgeEstimator, FaceBox
from .hashes import PDQ_MIN_QUALITY, HashList, pdq_hash
from .jpeg import decode_jpeg
from .plugins import resolve

# OpenCV, numpy and onnxruntime are imported inside ModelFrameChecker, not here: the
# gateway imports this module (the protocol, the thresholds, load_checker) and must not
# pay for them, nor an operator's own checker load them, until the built-in one is built.
if TYPE_CHECKING:
    import cv2
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

#: NudeNet 3.4's classes, in the model's output order (checked against the model's
#: own metadata at load, so a different model cannot be read with the wrong names).
NUDENET_LABELS: Final = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
#: The exposed-body classes that count as nudity (docs/design.md §6). Exposed male chests,
#: bellies, feet and armpits are ordinary on a video call and are not flagged.
FLAGGED_CLASSES: Final = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)
FACE_CLASSES: Final = ("FACE_FEMALE", "FACE_MALE")

MODEL_FILE: Final = "320n.onnx"
MODEL_SIDE: Final = 320
#: Detections at or over this score are kept (NudeNet's own floor) and reported in
#: :attr:`FrameVerdict.scores`, at most :data:`MAX_SCORES` of them, best first.
SCORE_FLOOR: Final = 0.2
MAX_SCORES: Final = 10
NMS_IOU: Final = 0.45  # NudeNet's
#: The Haar fallback looks at frames at most this wide (the page sends 320 px): the
#: cascade's cost grows with the area, and a larger frame finds no more faces.
HAAR_WIDTH: Final = 320
#: Smallest face the fallback looks for, as a fraction of the frame's width: 40 px at
#: 320; a face at arm's length from a webcam is larger, and starting at 24 px doubled
#: the cascade's time on faceless frames.
HAAR_MIN_FACE: Final = 0.125
#: Scale step and neighbours. On 100 faces of scikit-image's LFW subset, scaled to
#: 60–140 px and pasted into 320×240 scenes, NudeNet found 27 and this fallback 69 more
#: at 1.2/3, as many as at 1.1/5 in two thirds of the time, with no face found on 100
#: non-face patches pasted the same way nor on 19 scenes (docs/performance.md).
HAAR_SCALE_STEP: Final = 1.2
HAAR_NEIGHBOURS: Final = 3
HAAR_CASCADE: Final = "haarcascade_frontalface_default.xml"

FaceSource = Literal["nudenet", "haar"]


@dataclass(frozen=True)
class CheckResult:
    """A verdict and the seconds spent in each stage that ran (``decode``, ``nudity``,
    ``face``, ``hash``, ``age``; ``hash`` is absent when there is no hash list to match,
    ``age`` when no estimate was asked for, or no face was found).

    ``face_source`` says which detector found the face (``None``: none did);
    ``hash_quality`` is the frame's PDQ quality when it was hashed.
    """

    verdict: FrameVerdict
    stages: dict[str, float]
    face_source: FaceSource | None = None
    hash_quality: int | None = None


@runtime_checkable
class FrameChecker(Protocol):
    """A checker whose class sets ``estimates_age = True`` also takes
    ``check(jpeg, estimate_age=True)`` (own-camera frames); the pool passes the keyword
    only to those, so a checker without it keeps working."""

    def check(self, jpeg: bytes) -> CheckResult:
        """Blocking; thread-safe; raises only ``FrameRejected`` for bad input."""
        ...


def _threshold(value: float, name: str) -> float:
    # bool is an int: True would pass as 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number over 0 and at most 1, not {value!r}")
    return float(value)


@dataclass(frozen=True, init=False)
class NudityThresholds:
    """The score at which each exposed-body class counts as nudity: ``threshold`` for
    all of :data:`FLAGGED_CLASSES`, ``overrides`` for some (``{"BUTTOCKS_EXPOSED": 0.6}``).
    """

    threshold: float
    overrides: tuple[tuple[str, float], ...]

    def __init__(self, threshold: float = 0.5, overrides: Mapping[str, float] | None = None):
        checked = {}
        for name, value in (overrides or {}).items():
            if name not in FLAGGED_CLASSES:
                raise ValueError(
                    f"{name!r} is not a flagged class; the classes are {', '.join(FLAGGED_CLASSES)}"
                )
            checked[name] = _threshold(value, f"the threshold of {name}")
        object.__setattr__(self, "threshold", _threshold(threshold, "the nudity threshold"))
        object.__setattr__(self, "overrides", tuple(sorted(checked.items())))

    def for_class(self, name: str) -> float:
        """The threshold of ``name``; 1.0 would need a certain detection, and classes
        that are not flagged get infinity (never reached)."""
        if name not in FLAGGED_CLASSES:
            return float("inf")
        return dict(self.overrides).get(name, self.threshold)


def nudenet_model_path() -> Path:
    """``320n.onnx`` inside the installed nudenet package (found without importing it)."""
    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nudenet package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"nudenet's model is missing: {path}")
    return path


def _session(path: Path) -> Any:
    import onnxruntime  # type: ignore[import-untyped,unused-ignore]

    options = onnxruntime.SessionOptions()
    # One thread per call: the pool's N workers then use N cores, with no pool of
    # ORT threads per session spinning against the others.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _model_labels(session: Any) -> tuple[str, ...] | None:
    names = session.get_modelmeta().custom_metadata_map.get("names")
    if not names:
        return None
    parsed = ast.literal_eval(names)
    return tuple(parsed[i] for i in sorted(parsed))


class ModelFrameChecker:
    """NudeNet, a face check, an optional age estimate and PDQ matching on one frame;
    see the module docstring."""

    estimates_age: Final = True

    def __init__(
        self,
        *,
        nudity: NudityThresholds | None = None,
        face_threshold: float = 0.35,
        hashes: HashList | None = None,
        haar_fallback: bool = True,
        age_estimator: AgeEstimator | None = None,
    ) -> None:
        import cv2
        import numpy as np

        self.nudity = nudity or NudityThresholds()
        self.age_estimator = age_estimator
        self.face_threshold = _threshold(face_threshold, "face_threshold")
        self.hashes = hashes
        self.haar_fallback = haar_fallback
        self._session = _session(nudenet_model_path())
        labels = _model_labels(self._session)
        if labels is not None and labels != NUDENET_LABELS:
            raise RuntimeError("nudenet's model has other classes than this checker knows")
        self._input = self._session.get_inputs()[0].name
        self._thresholds = np.array(
            [self.nudity.for_class(label) for label in NUDENET_LABELS], dtype=np.float32
        )
        self._face_ids = frozenset(NUDENET_LABELS.index(c) for c in FACE_CLASSES)
        self._cascade_path = str(Path(cv2.data.haarcascades) / HAAR_CASCADE)  # type: ignore[attr-defined]
        self._local = threading.local()
        # OpenCV's own thread pool, like onnxruntime's, would add threads per worker on
        # the cores the other workers use: in three interleaved benchmark pairs, 2
        # workers on 2 cores checked 74–79 frames/s with OpenCV on one thread and 72–73
        # with its default of one per core. Process-wide; only this package uses OpenCV.
        cv2.setNumThreads(1)
        if haar_fallback:
            self._cascade()  # fail at start-up, not on the first faceless frame

    def _cascade(self) -> cv2.CascadeClassifier:
        import cv2

        # detectMultiScale keeps scratch state in the classifier: one per thread.
        cascade: cv2.CascadeClassifier | None = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(self._cascade_path)
            if cascade.empty():
                raise RuntimeError(f"OpenCV's Haar cascade did not load: {self._cascade_path}")
            self._local.cascade = cascade
        return cascade

    def detect(self, image: npt.NDArray[np.uint8]) -> list[tuple[int, float]]:
        """NudeNet's detections on a BGR frame, as (class index, score), best first."""
        return [(c, score) for c, score, _ in self.detect_boxes(image)]

    def detect_boxes(self, image: npt.NDArray[np.uint8]) -> list[tuple[int, float, FaceBox]]:
        """NudeNet's detections on a BGR frame, as (class index, score, box in frame
        pixels as left, top, width, height), best first."""
        import cv2
        import numpy as np

        height, width = image.shape[:2]
        side = max(height, width)
        square = cv2.copyMakeBorder(
            image, 0, side - height, 0, side - width, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
        blob = cv2.dnn.blobFromImage(
            square, 1 / 255.0, (MODEL_SIDE, MODEL_SIDE), (0, 0, 0), swapRB=True, crop=False
        )
        output = self._session.run(None, {self._input: blob})[0]
        rows = np.asarray(output[0], dtype=np.float32).T  # (candidates, 4 box + classes)
        class_scores = rows[:, 4:]
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(rows)), class_ids]
        keep = scores >= SCORE_FLOOR
        if not keep.any():
            return []
        centre_size = rows[keep, :4]
        # Boxes stay in model coordinates: overlap is the same at any uniform scale.
        boxes = np.concatenate([centre_size[:, :2] - centre_size[:, 2:] / 2, centre_size[:, 2:]], 1)
        ids, kept = class_ids[keep].astype(np.int32), scores[keep]
        chosen = cv2.dnn.NMSBoxesBatched(boxes.tolist(), kept, ids, SCORE_FLOOR, NMS_IOU)
        # The square was scaled from side×side to the model's side: scale boxes back.
        scale = side / MODEL_SIDE
        found = []
        for i in np.asarray(chosen).ravel():
            left, top, box_w, box_h = (float(v) * scale for v in boxes[i])
            x, y = max(0, round(left)), max(0, round(top))
            box = (x, y, min(width, round(left + box_w)) - x, min(height, round(top + box_h)) - y)
            found.append((int(ids[i]), float(kept[i]), box))
        found.sort(key=lambda d: -d[1])
        return found

    def find_face(self, image: npt.NDArray[np.uint8]) -> bool:
        """Whether OpenCV's Haar cascade sees a frontal face on a BGR frame."""
        return self.haar_face(image) is not None

    def haar_face(self, image: npt.NDArray[np.uint8]) -> FaceBox | None:
        """The largest frontal face OpenCV's Haar cascade sees on a BGR frame, in frame
        pixels (left, top, width, height), or ``None``."""
        import cv2
        import numpy as np

        height, width = image.shape[:2]
        full_width = width
        if width > HAAR_WIDTH:
            size = (HAAR_WIDTH, max(1, round(height * HAAR_WIDTH / width)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
            height, width = image.shape[:2]
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        smallest = max(24, round(width * HAAR_MIN_FACE))
        faces = self._cascade().detectMultiScale(
            grey,
            scaleFactor=HAAR_SCALE_STEP,
            minNeighbors=HAAR_NEIGHBOURS,
            minSize=(smallest, smallest),
        )
        if len(faces) == 0:
            return None
        scale = full_width / width
        x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
        return (round(x * scale), round(y * scale), round(w * scale), round(h * scale))

    def check(self, jpeg: bytes, *, estimate_age: bool = False) -> CheckResult:
        """The verdict on one frame; ``estimate_age`` (own-camera frames only) adds the
        age estimate when an estimator was given and a face was found."""
        started = time.perf_counter()
        image = decode_jpeg(jpeg)
        decoded = time.perf_counter()

        boxed = self.detect_boxes(image)
        detections = [(c, score) for c, score, _ in boxed]
        nudity = tuple(
            dict.fromkeys(
                NUDENET_LABELS[c] for c, score in detections if score >= self._thresholds[c]
            )
        )
        detected = time.perf_counter()

        face_source: FaceSource | None = None
        face_box: FaceBox | None = next(
            (box for c, s, box in boxed if c in self._face_ids and s >= self.face_threshold),
            None,
        )
        if face_box is not None:
            face_source = "nudenet"
        elif self.haar_fallback:
            face_box = self.haar_face(image)
            if face_box is not None:
                face_source = "haar"
        faced = time.perf_counter()
        stages = {
            "decode": decoded - started,
            "nudity": detected - decoded,
            "face": faced - detected,
        }

        age: AgeEstimate | None = None
        estimator = self.age_estimator
        if estimate_age and estimator is not None and face_box is not None:
            try:
                age = estimator.estimate(image, face_box)
            except Exception:
                # A fault of the estimator must not cost the frame its nudity and hash
                # verdict: the frame is checked, with no age on it.
                log.exception("the age estimator failed on a frame")
            stages["age"] = time.perf_counter() - faced
            faced = time.perf_counter()

        hit: HashHit | None = None
        quality: int | None = None
        hashes = self.hashes
        if hashes is not None and len(hashes):
            digest, quality = pdq_hash(image)
            if quality >= PDQ_MIN_QUALITY:
                hit = hashes.match(digest)
            stages["hash"] = time.perf_counter() - faced

        verdict = FrameVerdict(
            nudity=nudity,
            face=face_source is not None,
            hash_hit=hit,
            scores=tuple(
                (NUDENET_LABELS[c], round(score, 3)) for c, score in detections[:MAX_SCORES]
            ),
            age=age,
        )
        return CheckResult(verdict, stages, face_source, quality)


def run_check(checker: FrameChecker, jpeg: bytes, *, estimate_age: bool = False) -> CheckResult:
    """``checker.check(jpeg)``, asking for an age estimate only of a checker whose class
    says ``estimates_age = True`` (see :class:`FrameChecker`): the one way the pool's
    threads and the check workers call a checker."""
    if estimate_age and getattr(checker, "estimates_age", False) is True:
        return checker.check(jpeg, estimate_age=True)  # type: ignore[call-arg]
    return checker.check(jpeg)


def load_checker(
    spec: str, *, age_estimator: AgeEstimator | None = None, **kwargs: Any
) -> FrameChecker:
    """The checker a setting names: ``builtin`` (:class:`ModelFrameChecker`) or
    ``package.module:attr``, a class or factory called with the same keyword arguments.
    ``age_estimator`` goes to the built-in checker only: an operator's checker estimates
    ages itself, if at all, so existing factories keep their signature.
    """
    if spec == "builtin":
        return ModelFrameChecker(age_estimator=age_estimator, **kwargs)
    target = resolve(spec, "frame checker", "'builtin' or 'package.module:attribute'")
    checker = target(**kwargs)
    if not isinstance(checker, FrameChecker):
        raise ValueError(f"frame checker {spec!r}: what it made has no check(jpeg) method")
    return checker
