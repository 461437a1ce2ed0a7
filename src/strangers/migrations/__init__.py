"""The records' Alembic scripts (``env.py``, ``script.py.mako``, ``versions/``), shipped
inside the package so that an installed wheel can create and upgrade its database.

Nothing here is imported by the service: Alembic reads these files from
:data:`strangers.moderation.migrate.MIGRATIONS` (``strangers migrate``, and ``serve`` at
start).
"""
