"""The moderator console at ``/mod`` (design §1, Moderator; issue 7).

``console_router(services)`` gives the routes; the gateway also serves ``STATIC_DIR``
at ``/mod/static`` (the stylesheet and the script: the CSP allows nothing inline).
"""

from pathlib import Path

from strangers.moderation.console.routes import console_router

STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR", "console_router"]
