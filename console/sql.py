"""The connection the store's jobs write and read through, whichever database holds the
store. ``sqlite3.Connection`` is one as it is; ``PgConnection`` makes psycopg's one.

The jobs' SQL is written once, in SQLite's dialect with ``?`` placeholders, kept to what
PostgreSQL reads the same way (``ON CONFLICT``, ``RETURNING``, ``IS DISTINCT FROM``;
times are fixed-width ISO-8601 text, which both compare as text). What differs between
the two engines lives beside each: ``sqlite_schema.py`` and ``pg_schema.py``."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import psycopg


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What a writer's job may do with its connection: run statements in the batch's
    transaction, each in the job's savepoint."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


# What a job may catch as a broken rule (a key taken), on either engine.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)


@functools.lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s``, a literal ``%`` escaped."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection that takes the jobs' SQL as it is written."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self.raw.execute(pg_sql(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        cursor.executemany(pg_sql(sql), parameters)
        return cursor
