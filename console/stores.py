"""Which store a centre opens: the PostgreSQL database ``SEAT_DATABASE_URL`` names,
shared by several centres, or else the SQLite file in the data directory. Every
command that opens the store for writing comes here."""

from __future__ import annotations

from .pg_store import PostgresStore, safe_url
from .settings import Settings
from .sqlite_store import SQLiteStore


async def open_store(settings: Settings) -> SQLiteStore | PostgresStore:
    if settings.database_url is not None:
        return await PostgresStore.open(settings.database_url)
    return await SQLiteStore.open(settings.database)


def store_name(settings: Settings) -> str:
    """The store as messages name it, without a password."""
    if settings.database_url is not None:
        return safe_url(settings.database_url)
    return str(settings.database)
