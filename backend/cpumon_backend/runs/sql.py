"""The SQL that differs between SQLite and MySQL/MariaDB, as constructs that compile per dialect.

Services build statements from these without knowing which database they talk to; each construct
is tested by compiling it for both dialects (tests/backend/test_sql_constructs.py), no database needed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Table, bindparam, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from cpumon_backend.storage.db import UTCDateTime


class MicrosecondsBetween(FunctionElement[int]):
    """`later - earlier` in whole microseconds: an integer, so sums of intervals stay exact."""

    type = Integer()
    name = "microseconds_between"
    inherit_cache = True


@compiles(MicrosecondsBetween, "sqlite")
def _microseconds_between_sqlite(element: MicrosecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds from strftime, the six digits after the dot.
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    whole = "CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER)"
    micros = "CAST(substr({0}, 21, 6) AS INTEGER)"
    return (
        f"(({whole.format(later)} - {whole.format(earlier)}) * 1000000"
        f" + ({micros.format(later)} - {micros.format(earlier)}))"
    )


@compiles(MicrosecondsBetween)
def _microseconds_between_mysql(element: MicrosecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"TIMESTAMPDIFF(MICROSECOND, {earlier}, {later})"


class SecondsBetween(FunctionElement[float]):
    """`later - earlier` in seconds, with microseconds: `MicrosecondsBetween` as a double."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(SecondsBetween, "sqlite")
def _seconds_between_sqlite(element: SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(MicrosecondsBetween(*element.clauses), **kw)} / 1000000.0)"


@compiles(SecondsBetween)
def _seconds_between_mysql(element: SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    # Cast first: MariaDB's DECIMAL division keeps only four more digits than its operands.
    return f"(CAST({compiler.process(MicrosecondsBetween(*element.clauses), **kw)} AS DOUBLE) / 1000000.0)"


class BucketIndex(FunctionElement[int]):
    """floor(position), capped at `last` (the run's final sample lands exactly on the upper bound)."""

    name = "bucket_index"
    inherit_cache = True


@compiles(BucketIndex, "sqlite")
def _bucket_index_sqlite(element: BucketIndex, compiler: SQLCompiler, **kw: Any) -> str:
    # CAST truncates, which is floor for the non-negative positions here; SQLite may lack FLOOR().
    position, last = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"min(CAST({position} AS INTEGER), {last})"


@compiles(BucketIndex)
def _bucket_index_mysql(element: BucketIndex, compiler: SQLCompiler, **kw: Any) -> str:
    position, last = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"LEAST(FLOOR({position}), {last})"


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
