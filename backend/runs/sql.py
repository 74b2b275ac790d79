"""The few SQL expressions that differ between SQLite and MySQL/MariaDB, in one place."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Insert,
    Integer,
    SQLColumnExpression,
    Table,
    cast,
    func,
    literal,
    literal_column,
)
from sqlalchemy.dialects import mysql, sqlite

from backend.db import UTCDateTime


def seconds_between(
    later: SQLColumnExpression[dt.datetime], earlier: SQLColumnExpression[dt.datetime], dialect: str
) -> ColumnElement[Any]:
    """`later - earlier` in seconds, with microseconds, computed by the database."""
    if dialect == "sqlite":
        # julianday() keeps only milliseconds. SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff": whole
        # seconds from strftime('%s'), the fraction from the text, subtracted apart to stay exact.
        def whole(value: SQLColumnExpression[dt.datetime]) -> ColumnElement[int]:
            # Only the first 19 characters: strftime rounds the fraction to milliseconds, so .9996 s became
            # the next whole second.
            return cast(func.strftime("%s", func.substr(value, 1, 19)), Integer)

        def fraction(value: SQLColumnExpression[dt.datetime]) -> ColumnElement[float]:
            return cast(func.substr(value, 20), Float)

        return (whole(later) - whole(earlier)) + (fraction(later) - fraction(earlier))
    micros = func.timestampdiff(literal_column("MICROSECOND"), earlier, later)
    return cast(micros, Float) / 1_000_000.0


def bucket_index(position: ColumnElement[Any], last: int, dialect: str) -> ColumnElement[Any]:
    """floor(position), capped at `last` (the run's final sample lands exactly on the upper bound)."""
    if dialect == "sqlite":
        # CAST truncates, which is floor for the non-negative positions here; SQLite may lack FLOOR().
        return func.min(cast(position, Integer), last)
    return func.least(func.floor(position), last)


def as_timestamp(value: dt.datetime) -> ColumnElement[dt.datetime]:
    return literal(value, UTCDateTime())


def insert_ignoring_duplicates(table: Table, dialect: str) -> Insert:
    """An INSERT that skips rows whose unique key is already stored, to execute with a list of rows.

    Run as one executemany, the statement is compiled once and then cached, whatever the batch size
    (a `.values([...])` statement had to be compiled anew for every batch, rows and all). The
    drivers batch the rows: aiomysql rewrites it into multi-row `INSERT IGNORE ... VALUES` statements
    of up to ~1 MB; SQLite steps one prepared statement per row, so its bound-variable limit never
    applies. The caller runs it in one transaction: a batch is stored whole or not at all.
    """
    key = (table.name, dialect)
    stmt = _INSERTS.get(key)
    if stmt is None:
        if dialect == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing()
        else:
            stmt = mysql.insert(table).prefix_with("IGNORE")
        _INSERTS[key] = stmt
    return stmt


_INSERTS: dict[tuple[str, str], Insert] = {}
