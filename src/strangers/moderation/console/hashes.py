"""The known-abuse hash lists (admins): their counts, and the import of a PDQ list,
all or nothing, in force on this node at once and on the others at their next hash
refresh."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import Response

from ..hash_import import HashListError, parse_hash_list
from ..records import RecordError
from ..tables import HASH_LIST_MAX
from .base import CSRF_FIELD, UPLOAD_MAX_BYTES, Pages, Route, Visit, see_other
from .language import Phrase, say

log = logging.getLogger("strangers.console")


class HashListPages(Pages):
    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/mod/hashes",
                "The hash lists and their counts (admins).",
                self.hashes,
                admin=True,
                query=("added", "present"),
            ),
            Route(
                "POST",
                "/mod/hashes",
                "Import a PDQ hash list (admins).",
                self.import_hashes,
                kind="post",
                admin=True,
                upload=True,
                form={
                    "csrf": CSRF_FIELD,
                    "list": {"type": "string", "maxLength": HASH_LIST_MAX},
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "One hex PDQ hash and a label a line.",
                    },
                },
            ),
        ]

    async def hashes(self, visit: Visit) -> Response:
        notice: Phrase | str = ""
        added, present = visit.query("added"), visit.query("present")
        if added.isascii() and added.isdigit() and present.isascii() and present.isdigit():
            notice = say("hashes.imported", added=int(added), present=int(present))
        return await self._hashes(visit, notice=notice)

    async def _hashes(self, visit: Visit, *, status: int = 200, **context: Any) -> Response:
        counts = await visit.records.hash_lists.counts()
        return self.page(
            visit,
            "hashes.html",
            status=status,
            section="hashes",
            counts=sorted(counts.items()),
            list_max=HASH_LIST_MAX,
            **context,
        )

    async def import_hashes(self, visit: Visit) -> Response:
        list_name = visit.field("list").strip()
        upload = visit.form.get("file")
        problem: Phrase | None = None
        entries: list[tuple[str, str]] = []
        if not list_name or len(list_name) > HASH_LIST_MAX:
            problem = say("hashes.problem.name", most=HASH_LIST_MAX)
        elif not isinstance(upload, UploadFile):
            problem = say("hashes.problem.file")
        else:
            data = await upload.read(UPLOAD_MAX_BYTES + 1)
            try:
                entries = parse_hash_list(data.decode("utf-8-sig"))
            except UnicodeDecodeError:
                problem = say("hashes.problem.utf8")
            except HashListError as exc:
                problem = say("hashes.problem.nothing", why=str(exc))
            else:
                if not entries:
                    problem = say("hashes.problem.empty")
        if problem:
            return await self._hashes(visit, status=400, error=problem)
        try:
            added, present = await visit.records.hash_lists.add(
                entries, list_name=list_name, now=visit.now, actor=visit.user.name
            )
        except RecordError as exc:
            if exc.code != "invalid":
                raise
            return await self._hashes(
                visit, status=400, error=say("hashes.problem.nothing", why=exc.detail)
            )
        try:
            # At once on this node; the other nodes at their next hash refresh.
            entries_now = await visit.records.hash_lists.entries()
            await asyncio.to_thread(self.services.hashes.replace, entries_now)
        except Exception:
            log.exception("hash lists imported but not reloaded; the refresh will load them")
        return see_other(f"/mod/hashes?added={added}&present={present}")
