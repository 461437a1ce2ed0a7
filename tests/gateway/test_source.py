"""The server offers the source of the code it runs (AGPL-3.0 §13; ``gateway/source.py``)."""

from __future__ import annotations

import io
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangers.gateway.source import PACKAGE_DIR, source_archive

from ..inprocess import Served, serving_in_thread
from .conftest import NO_MODELS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving_in_thread(tmp_path_factory.mktemp("source"), **NO_MODELS) as served:
        yield served


def _get(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers["content-type"]


def test_the_source_archive_holds_the_running_package_as_it_is_on_disk(server: Served) -> None:
    body, kind = _get(server.base + "/source")
    assert kind == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        names = tar.getnames()
        app = tar.extractfile("strangers/gateway/app.py")
        assert app is not None
        assert app.read() == (PACKAGE_DIR / "gateway" / "app.py").read_bytes()
        licence = tar.extractfile("LICENSE")
        assert licence is not None
        assert b"GNU AFFERO GENERAL PUBLIC LICENSE" in licence.read()
    shipped = ("strangers/web/index.html", "strangers/migrations/env.py", "strangers/py.typed")
    assert set(shipped) <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert names[0] == "LICENSE" and names[1:] == sorted(names[1:])


def test_the_source_archive_is_the_same_bytes_every_time(server: Served) -> None:
    first, _ = _get(server.base + "/source")
    again, _ = _get(server.base + "/source")
    assert first == again


def test_the_start_screen_links_to_the_source(server: Served) -> None:
    page, _ = _get(server.base + "/")
    assert b'href="/source"' in page
    root = Path(PACKAGE_DIR / "web" / "i18n")
    for catalogue in ("en.json", "fr.json"):
        assert '"source.link"' in (root / catalogue).read_text(encoding="utf-8")


def test_a_data_directory_inside_the_package_never_leaves_in_the_archive(tmp_path: Path) -> None:
    """An operator who put the data directory inside the package (its secret, evidence
    key and records) does not hand it out with the source."""
    package = tmp_path / "strangers"
    (package / "data").mkdir(parents=True)
    (package / "app.py").write_text("print('hi')\n")
    (package / "data" / "server.secret").write_text("not for anyone\n")
    archive = source_archive(package, private=package / "data")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = tar.getnames()
    assert "strangers/app.py" in names
    assert not [name for name in names if "/data/" in name or name.endswith("secret")]
