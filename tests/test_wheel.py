"""The wheel is a complete install: built from the source tree and installed into a fresh
virtualenv, run from a directory outside the repository with no ``PYTHONPATH``,
``strangers migrate`` creates a fresh SQLite database and ``strangers serve`` answers
``/readyz`` with 200 (migrating again in a child process of the installed interpreter).
Its file list has the Alembic scripts, ``py.typed``, the chatter page, the console's
templates, static files and catalogues, the profanity model's numbers, and no module the source
tree lacks.

Marked ``process`` because the point is the installed console script in another
interpreter: an in-process server would import ``strangers`` from ``src/`` (the editable
install) and prove nothing about the wheel.

Installing every dependency from PyPI into the fresh virtualenv would take minutes and
the network: the wheel goes in with ``--no-deps``, and a ``.pth`` file lets the fresh
virtualenv see the dependencies already installed for this test run. That directory
also holds this checkout's editable install, whose own ``.pth`` is not read from there
(``site`` reads ``.pth`` files only in site directories), so ``strangers`` comes from the
fresh copy; the test asserts that it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import free_port

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "strangers"
#: Directories whose every file is package data the server reads at run time.
DATA_DIRS = (
    "web",
    "moderation/console/templates",
    "moderation/console/static",
    "moderation/console/i18n",
    "safety/text/data",
    "migrations",
)


def source_files(under: Path) -> set[str]:
    """Files under ``under`` as wheel paths (``strangers/...``), without bytecode."""
    return {
        "strangers/" + path.relative_to(PACKAGE).as_posix()
        for path in under.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a scratch copy of the sources, without build isolation (no
    network). A copy because setuptools builds in place: it leaves ``build/`` beside the
    sources and packs whatever an earlier build left there, deleted modules included."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        PACKAGE,
        source / "src" / "strangers",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    build += ["--no-build-isolation", "--wheel-dir", str(out), str(source)]
    subprocess.run(build, check=True, timeout=300)
    (built,) = out.glob("strangers-*.whl")
    return built


def test_the_wheel_ships_the_migrations_page_console_and_type_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    files = {name for name in names if name.startswith("strangers/")}
    for directory in DATA_DIRS:
        missing = source_files(PACKAGE / directory) - files
        assert not missing, f"{directory}/ files missing from the wheel: {sorted(missing)}"
    assert "strangers/migrations/env.py" in files
    assert "strangers/migrations/script.py.mako" in files
    assert any(name.startswith("strangers/migrations/versions/0001_") for name in files)
    assert "strangers/py.typed" in files
    # The profanity model's numbers: the text engine reads them, not scikit-learn's pickles.
    assert "strangers/safety/text/data/profanity.bin.gz" in files
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    # Every module of the source tree, and none it does not have (the load generator
    # left the package: no stale copy of it may ship).
    modules = {name for name in files if name.endswith(".py")}
    assert modules == {name for name in source_files(PACKAGE) if name.endswith(".py")}
    if not (PACKAGE / "loadtest.py").exists():
        assert "strangers/loadtest.py" not in files


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed (``--no-deps``) and this run's
    dependencies visible through a ``.pth`` file; returns its ``bin`` directory."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=False, symlinks=True)
    python = home / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "test-dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    # This pip installs into the fresh interpreter, which has no pip of its own.
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    install += ["--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, timeout=300)
    return home / "bin"


def clean_env(data_dir: Path) -> dict[str, str]:
    """This environment without ``PYTHONPATH`` or any ``STRANGERS_*`` setting: the
    defaults, with the records in ``data_dir``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith("STRANGERS_")
    }
    env["STRANGERS_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory outside the repository."""
    place = tmp_path / "elsewhere"
    place.mkdir()
    assert not place.resolve().is_relative_to(ROOT)
    return place


def test_the_installed_wheel_imports_its_own_copy(installed: Path, outside: Path) -> None:
    probe = (
        "import json, strangers\n"
        "from strangers.moderation.migrate import MIGRATIONS\n"
        "print(json.dumps([strangers.__file__, str(MIGRATIONS)]))"
    )
    done = subprocess.run(
        [str(installed / "python"), "-c", probe],
        cwd=outside,
        env=clean_env(outside / "data"),
        capture_output=True,
        text=True,
        check=True,
    )
    module, migrations = (Path(p) for p in json.loads(done.stdout))
    venv_root = installed.parent.resolve()
    assert module.resolve().is_relative_to(venv_root), module
    assert not module.resolve().is_relative_to(ROOT), module
    assert migrations.resolve().is_relative_to(venv_root), migrations
    assert "site-packages" in migrations.parts
    assert (migrations / "env.py").is_file() and (migrations / "versions").is_dir()


@pytest.fixture
def served(installed: Path, outside: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``strangers migrate`` then ``strangers serve`` from the installed wheel, on a free
    loopback port, the records in a fresh data directory."""
    data_dir = outside / "data"
    env = clean_env(data_dir)
    migrated = subprocess.run(
        [str(installed / "strangers"), "migrate"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "newest schema" in migrated.stdout
    assert (data_dir / "strangers.db").is_file()
    port = free_port()
    log_path = outside / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(installed / "strangers"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=outside,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def readyz_status(base: str) -> int | None:
    """``/readyz``'s status, or ``None`` while nothing answers."""
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code
    except OSError:
        return None


def test_the_installed_wheel_migrates_and_serves_ready(
    served: tuple[subprocess.Popen[bytes], str], outside: Path
) -> None:
    process, base = served
    # Loading the models takes seconds, more on a loaded machine: the deadline only
    # bounds a server that never gets ready.
    deadline = time.monotonic() + 150
    status = None
    while status != 200 and time.monotonic() < deadline:
        if process.poll() is not None:
            log = (outside / "server.log").read_text(errors="replace")
            pytest.fail(f"strangers serve exited with {process.returncode}:\n{log}")
        status = readyz_status(base)
        if status != 200:
            time.sleep(0.2)
    assert status == 200, (outside / "server.log").read_text(errors="replace")
