"""The moderator console at ``/mod`` (docs/design.md §1, Moderator; issue 7).

``console_router(services, chat)`` gives the routes, over what the app gives it (the
records, settings and limits; the running chat's :class:`~strangers.moderation.live.LiveChat`);
the gateway also serves ``STATIC_DIR`` at ``/mod/static`` (the stylesheet and the
script: the CSP allows nothing inline).
"""

from pathlib import Path

from strangers.moderation.console.routes import console_router

STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR", "console_router"]
