"""The SQL that differs between SQLite and MySQL/MariaDB, as constructs that compile per dialect.

Services build statements from these without knowing which database they talk to; each construct
is tested by compiling it for both dialects (tests/backend/test_sql_constructs.py), no database needed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, TypeVar

from sqlalchemy import ColumnElement, Float, Integer, Table, bindparam, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from cpumon_backend.storage.db import UTCDateTime

T = TypeVar("T")


class DialectFunction(FunctionElement[T]):
    """A SQL function written per dialect. A subclass gives its `name` (part of the cache key), its
    result's `type` and two templates, `sqlite` and `mysql`, in which `{0}`, `{1}`, ... stand for its
    arguments' compiled SQL: one pair of compile rules below serves every subclass."""

    inherit_cache = True
    sqlite: ClassVar[str]
    mysql: ClassVar[str]

    def __init_subclass__(cls, **kw: Any) -> None:
        # Each subclass caches as its base does: SQLAlchemy reads `inherit_cache` from the class itself.
        cls.inherit_cache = True
        super().__init_subclass__(**kw)


@compiles(DialectFunction, "sqlite")
def _dialect_function_sqlite(element: DialectFunction[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return element.sqlite.format(*(compiler.process(arg, **kw) for arg in element.clauses))


@compiles(DialectFunction)
def _dialect_function_mysql(element: DialectFunction[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return element.mysql.format(*(compiler.process(arg, **kw) for arg in element.clauses))


# Stored as "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds from strftime, the six digits after the dot.
_WHOLE_S = "CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER)"
_MICROS = "CAST(substr({0}, 21, 6) AS INTEGER)"


class MicrosecondsBetween(DialectFunction[int]):
    """`later - earlier` in whole microseconds: an integer, so sums of intervals stay exact."""

    type = Integer()
    name = "microseconds_between"
    sqlite = f"(({_WHOLE_S} - {_WHOLE_S.format('{1}')}) * 1000000 + ({_MICROS} - {_MICROS.format('{1}')}))"
    mysql = "TIMESTAMPDIFF(MICROSECOND, {1}, {0})"


class SecondsBetween(DialectFunction[float]):
    """`later - earlier` in seconds, with microseconds: `MicrosecondsBetween` as a double."""

    type = Float()
    name = "seconds_between"
    sqlite = f"({MicrosecondsBetween.sqlite} / 1000000.0)"
    # Cast first: MariaDB's DECIMAL division keeps only four more digits than its operands.
    mysql = f"(CAST({MicrosecondsBetween.mysql} AS DOUBLE) / 1000000.0)"


class BucketIndex(DialectFunction[int]):
    """floor(position), capped at `last` (the run's final sample lands exactly on the upper bound)."""

    name = "bucket_index"
    # CAST truncates, which is floor for the non-negative positions here; SQLite may lack FLOOR().
    sqlite = "min(CAST({0} AS INTEGER), {1})"
    mysql = "LEAST(FLOOR({0}), {1})"


def as_timestamp(value: dt.datetime) -> ColumnElement[dt.datetime]:
    return literal(value, UTCDateTime())


class InsertFromJson(Executable, ClauseElement):
    """INSERT into `table` the rows of one JSON array, only while the owner's run is open; skip duplicates.

    One statement does the whole ingest rule: the run exists, belongs to the caller and is not
    finished (`WHERE id = :run_id AND user_id = :user_id AND ended_at IS NULL` on `runs`), and
    rows whose unique key is already stored are skipped. Being one statement, it is atomic with a
    finish or a delete on both databases, in autocommit, with one round trip. The rows travel as
    one JSON parameter, `[[v1, v2, ...], ...]` in the order of `json_columns`, so the compiled
    statement is the same for one sample or 10,000 (compiled once, then cached) and the database
    unpacks them in C (MariaDB's JSON_TABLE, SQLite's json_each).

    Parameters: run_id, user_id, now (for `stamp_column`), rows (the JSON text).
    """

    # What SQLAlchemy's compiled cache keys on. Without it (`inherit_cache` alone, over a
    # ClauseElement that has no traversal of its own) the cache key was None, so the statement was
    # compiled again on every request: ~10 % of a single-sample ingest's server CPU (py-spy).
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 - SQLAlchemy reads it per class
        ("table", InternalTraversal.dp_clauseelement),
        ("runs", InternalTraversal.dp_clauseelement),
        ("run_column", InternalTraversal.dp_string),
        ("stamp_column", InternalTraversal.dp_string),
        ("json_columns", InternalTraversal.dp_plain_obj),
    ]
    inherit_cache = True

    def __init__(
        self,
        table: Table,
        runs: Table,
        *,
        run_column: str,
        stamp_column: str,
        json_columns: tuple[tuple[str, str], ...],
    ) -> None:
        self.table = table
        self.runs = runs
        self.run_column = run_column
        self.stamp_column = stamp_column
        self.json_columns = json_columns  # (column name, MySQL type of its JSON_TABLE column)

    def binds(self, compiler: SQLCompiler, **kw: Any) -> dict[str, str]:
        runs = self.runs.c
        return {
            "run_id": compiler.process(bindparam("run_id", type_=runs.id.type), **kw),
            "user_id": compiler.process(bindparam("user_id", type_=runs.user_id.type), **kw),
            "now": compiler.process(bindparam("now", type_=self.table.c[self.stamp_column].type), **kw),
            "rows": compiler.process(bindparam("rows"), **kw),
        }

    def target(self, compiler: SQLCompiler) -> str:
        quote = compiler.preparer.quote
        names = (self.run_column, *(name for name, _ in self.json_columns), self.stamp_column)
        return f"{compiler.preparer.format_table(self.table)} ({', '.join(quote(name) for name in names)})"

    def from_open_run(self, compiler: SQLCompiler, binds: dict[str, str], rows: str) -> str:
        """`FROM <runs> <rows> WHERE <the caller's open run>`: `rows` joins the JSON rows in."""
        runs = compiler.preparer.format_table(self.runs)
        return (
            f"FROM {runs}{rows} WHERE {runs}.id = {binds['run_id']} AND {runs}.user_id = {binds['user_id']}"
            f" AND {runs}.ended_at IS NULL"
        )


@compiles(InsertFromJson, "sqlite")
def _insert_from_json_sqlite(element: InsertFromJson, compiler: SQLCompiler, **kw: Any) -> str:
    binds = element.binds(compiler, **kw)
    runs = compiler.preparer.format_table(element.runs)
    values = ", ".join(f"json_extract(j.value, '$[{i}]')" for i in range(len(element.json_columns)))
    # ON CONFLICT skips only unique-key duplicates (INSERT OR IGNORE would also hide NOT NULL and
    # foreign-key failures). The WHERE clause is what lets SQLite parse ON CONFLICT after a SELECT.
    source = element.from_open_run(compiler, binds, f", json_each({binds['rows']}) AS j")
    return (
        f"INSERT INTO {element.target(compiler)} SELECT {runs}.id, {values}, {binds['now']} "
        f"{source} ORDER BY j.key ON CONFLICT DO NOTHING"
    )


@compiles(InsertFromJson)
def _insert_from_json_mysql(element: InsertFromJson, compiler: SQLCompiler, **kw: Any) -> str:
    binds = element.binds(compiler, **kw)
    runs = compiler.preparer.format_table(element.runs)
    columns = ", ".join(f"{name} {sql_type} PATH '$[{i}]'" for i, (name, sql_type) in enumerate(element.json_columns))
    names = ", ".join(f"j.{name}" for name, _ in element.json_columns)
    table = f"JSON_TABLE({binds['rows']}, '$[*]' COLUMNS (n FOR ORDINALITY, {columns})) AS j"
    # IGNORE skips duplicate keys; the values are validated before they get here, so the other
    # errors it would turn into warnings (truncation, NULL into NOT NULL) cannot arise.
    source = element.from_open_run(compiler, binds, f" JOIN {table}")
    return (
        f"INSERT IGNORE INTO {element.target(compiler)} SELECT {runs}.id, {names}, {binds['now']} {source} ORDER BY j.n"
    )
