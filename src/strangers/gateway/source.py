"""``GET /source``: the source of the strangers code this server runs, as a tar.gz.

strangers is under the AGPL-3.0-or-later (``LICENSE``, README "Licence"): whoever runs a
modified version for users over a network must offer those users its source (AGPL-3.0
§13). The server offers its own: the files of the installed ``strangers`` package as they
are on disk (Python, the page, the console's templates, the migrations, the text data),
so an operator's modifications are in what it hands out without a step to forget, and
the licence text beside them. The page links to it from the start screen.

The archive is built once per process, on the first request, and is reproducible: its
members are sorted and carry no times, owners or modes of the machine that built it.
Bytecode caches are left out (they are derived, and they name paths of the host), and so
is the data directory should an operator have put it inside the package: it holds the
server secret, the evidence key and the records, which must never leave the host.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import tarfile
from importlib import metadata
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import Response

PACKAGE_DIR = Path(__file__).resolve().parent.parent
_LEFT_OUT = {"__pycache__"}


def source_archive(package_dir: Path = PACKAGE_DIR, *, private: Path | None = None) -> bytes:
    """The tar.gz of the licence text (``LICENSE``, first, from the installed
    distribution's metadata when it carries one) and ``package_dir`` (as ``strangers/…``,
    sorted), nothing under ``private`` (the data directory) among them."""
    private = private.resolve() if private is not None else None
    buffer = io.BytesIO()
    # mtime=0 in the gzip header too: the same files give the same bytes.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        licence = _licence_text()
        if licence is not None:
            _add(tar, "LICENSE", licence)
        for path in sorted(package_dir.rglob("*")):
            relative = path.relative_to(package_dir)
            if not path.is_file() or _LEFT_OUT & set(relative.parts) or path.suffix == ".pyc":
                continue
            if private is not None and path.resolve().is_relative_to(private):
                continue
            _add(tar, f"strangers/{relative.as_posix()}", path.read_bytes())
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _licence_text() -> bytes | None:
    """The ``LICENSE`` the distribution was built with (PEP 639 puts it under
    ``licenses/`` in its metadata), or the repository's beside an editable install."""
    try:
        distribution = metadata.distribution("strangers")
    except metadata.PackageNotFoundError:
        distribution = None
    if distribution is not None:
        for name in ("licenses/LICENSE", "LICENSE"):
            text = distribution.read_text(name)
            if text:
                return text.encode("utf-8")
    beside = PACKAGE_DIR.parent.parent / "LICENSE"
    return beside.read_bytes() if beside.is_file() else None


def source_router(data_dir: Path) -> APIRouter:
    """``GET /source``, the archive built on the first request and kept; nothing of
    ``data_dir`` in it."""
    router = APIRouter()
    built: list[bytes] = []
    lock = asyncio.Lock()

    @router.get(
        "/source",
        summary="The source of the running strangers code (AGPL-3.0 §13)",
        response_class=Response,
        responses={200: {"content": {"application/gzip": {}}}},
    )
    async def source() -> Response:
        async with lock:
            if not built:
                built.append(await asyncio.to_thread(source_archive, private=data_dir))
        return Response(
            built[0],
            media_type="application/gzip",
            headers={
                "content-disposition": 'attachment; filename="strangers-source.tar.gz"',
                "cache-control": "public, max-age=3600",
            },
        )

    return router
