"""The Terms of use and the Privacy notice: ``/terms`` and ``/privacy`` (the page,
which shows them as a screen of its own), and their text at ``GET /v1/legal/{doc}``.

Defaults in English, French and Spanish ship with the package (``web/legal/<doc>.<lang>.md``);
an operator replaces them with its own files (``STRANGERS_TERMS_FILE``,
``STRANGERS_PRIVACY_FILE``; ``{lang}`` in the path picks a file per language, English
standing in for a missing one). The format is plain text with a little Markdown
(``#``/``##`` headings, ``-`` list items, paragraphs between blank lines) and nothing
else: the page builds it as DOM text nodes (``textContent``), so whatever the file
holds, markup included, is shown as written and never interpreted (OWASP ASVS 5.0 V1.2,
output encoding). A file that cannot be read falls back to the default, logged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel

from .frames import error_response
from .services import Services

log = logging.getLogger("strangers.legal")

LEGAL_DIR: Final = Path(__file__).resolve().parent.parent / "web" / "legal"
LANGUAGES: Final = ("en", "fr", "es")
#: A larger file is refused as the operator's and the default shown: a legal text is
#: not a book, and the answer goes to every chatter who opens it.
MAX_LEGAL_BYTES: Final = 256 * 1024
Document = Literal["terms", "privacy"]


class LegalOut(BaseModel):
    document: Document
    language: str
    source: Literal["default", "operator"]
    text: str


def _language(asked: str | None, request: Request) -> str:
    if asked in LANGUAGES:
        return asked
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in LANGUAGES:
            return code
    return "en"


def _operator_text(template: Path, language: str) -> str | None:
    """The operator's file for ``language`` (English when that one is missing), or None
    when there is none it can read."""
    for code in dict.fromkeys((language, "en")):
        path = Path(str(template).replace("{lang}", code))
        try:
            if path.stat().st_size > MAX_LEGAL_BYTES:
                log.error("%s is over %d bytes: the default text is shown", path, MAX_LEGAL_BYTES)
                return None
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            log.error("cannot read %s (%s): the default text is shown", path, exc)
            return None
    return None


def legal_text(services: Services, document: Document, language: str) -> LegalOut:
    settings = services.settings
    template = settings.terms_file if document == "terms" else settings.privacy_file
    if template is not None:
        text = _operator_text(template, language)
        if text is not None:
            return LegalOut(document=document, language=language, source="operator", text=text)
    default = (LEGAL_DIR / f"{document}.{language}.md").read_text(encoding="utf-8")
    return LegalOut(document=document, language=language, source="default", text=default)


def legal_router(services: Services, page: Path) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/legal/{document}",
        response_model=LegalOut,
        summary="The Terms of use or the Privacy notice, as text (the page shows it).",
        responses={404: error_response(404, "`not_found`: no such document.")},
    )
    async def legal(document: str, request: Request, lang: str | None = None) -> JSONResponse:
        if document not in ("terms", "privacy"):
            return JSONResponse({"code": "not_found", "text": "There is nothing here."}, 404)
        chosen: Document = "terms" if document == "terms" else "privacy"
        body = legal_text(services, chosen, _language(lang, request))
        return JSONResponse(body.model_dump(), headers={"cache-control": "no-cache"})

    async def terms_page() -> FileResponse:
        return FileResponse(page, headers={"cache-control": "no-cache"})

    for path, name in (("/terms", "terms"), ("/privacy", "privacy")):
        router.add_api_route(
            path,
            terms_page,
            methods=["GET"],
            operation_id=f"{name}_page",
            response_class=HTMLResponse,
            summary=f"The chatter page, open at its {name} screen.",
            responses={200: {"description": "The page; its script fetches /v1/legal/" + name}},
        )
    return router
