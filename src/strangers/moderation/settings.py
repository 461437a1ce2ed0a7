"""The settings the records read: where they are, and the key that seals evidence.

They belong to the moderation layer, which opens the records both inside the gateway
and from the command line (``offline.py``). The gateway's ``Settings`` declares the
same four fields with the definitions below (one source for their defaults and their
descriptions) and finds the records with the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .crypto import load_or_create_key
from .migrate import sqlite_url

Environment = Literal["development", "production"]

ENV: Environment = Field(
    "development", description="`production` refuses unsafe defaults (a generated secret)."
)
DATA_DIR = Field(Path("data"), description="Where the generated secret and data live.")
DATABASE_URL = Field(
    None,
    description="Records database (SQLAlchemy async URL), e.g. "
    "`postgresql+asyncpg://user@host/db`. Unset: SQLite in the data directory.",
)
EVIDENCE_KEY = Field(
    None,
    description="Fernet key that encrypts evidence at rest. Generated into the data "
    "directory when unset, except in production.",
)


class RecordsPlace(Protocol):
    """What finds the records and opens their evidence (both settings classes)."""

    @property
    def env(self) -> Environment: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def database_url(self) -> str | None: ...

    @property
    def evidence_key(self) -> SecretStr | None: ...


def records_url(place: RecordsPlace) -> str:
    """The records database: ``database_url``, or SQLite in the data directory."""
    if place.database_url:
        return place.database_url
    place.data_dir.mkdir(parents=True, exist_ok=True)
    return sqlite_url(place.data_dir)


def evidence_secret(place: RecordsPlace) -> bytes:
    """The evidence key: from settings, or generated once into the data directory
    with mode 0600 (never in production, where it must be given)."""
    if place.evidence_key is not None:
        return place.evidence_key.get_secret_value().encode()
    if place.env == "production":
        raise ValueError("STRANGERS_EVIDENCE_KEY is required when STRANGERS_ENV=production")
    place.data_dir.mkdir(parents=True, exist_ok=True)
    return load_or_create_key(place.data_dir / "evidence.key")


class RecordsSettings(BaseSettings):
    """The records' settings alone, from the same ``STRANGERS_*`` variables as the
    gateway's: what the commands that only touch the records read."""

    model_config = SettingsConfigDict(env_prefix="STRANGERS_", extra="ignore")

    env: Environment = ENV
    data_dir: Path = DATA_DIR
    database_url: str | None = DATABASE_URL
    evidence_key: SecretStr | None = EVIDENCE_KEY

    def records_url(self) -> str:
        return records_url(self)

    def evidence_secret(self) -> bytes:
        return evidence_secret(self)
