"""Durable records: reports and their evidence, bans, strikes, blocks, appeals, audit."""

from strangers.moderation.crypto import load_or_create_key
from strangers.moderation.migrate import sqlite_url, upgrade
from strangers.moderation.records import BanNotice, RecordError, Records

__all__ = ["BanNotice", "RecordError", "Records", "load_or_create_key", "sqlite_url", "upgrade"]
