"""The few SQL expressions that differ between SQLite and MySQL/MariaDB, in one place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
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

#: SQLite refuses statements with more than 32,766 bound variables: five per sample row.
SQLITE_ROWS_PER_STATEMENT = 6_000


def seconds_between(
    later: SQLColumnExpression[dt.datetime], earlier: SQLColumnExpression[dt.datetime], dialect: str
) -> ColumnElement[Any]:
    """`later - earlier` in seconds, with microseconds, computed by the database."""
    if dialect == "sqlite":
        # julianday() keeps only milliseconds. SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff": whole
        # seconds from strftime('%s'), the fraction from the text, subtracted apart to stay exact.
        def whole(value: SQLColumnExpression[dt.datetime]) -> ColumnElement[int]:
            return cast(func.strftime("%s", value), Integer)

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


def insert_ignoring_duplicates(table: Table, rows: Sequence[dict[str, Any]], dialect: str) -> Iterator[Executable]:
    """Multi-row INSERTs that skip rows whose unique key is already stored.

    One statement on MySQL/MariaDB (`INSERT IGNORE`); on SQLite, one `INSERT ... ON CONFLICT DO
    NOTHING` per 6,000 rows to stay under its bound-variable limit. The caller runs them in one
    transaction, so a batch is stored whole or not at all either way.
    """
    if dialect == "sqlite":
        for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
            chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
            yield sqlite.insert(table).values(list(chunk)).on_conflict_do_nothing()
        return
    stmt: Insert = mysql.insert(table).values(list(rows)).prefix_with("IGNORE")
    yield stmt
