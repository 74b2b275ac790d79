"""Raw ceilings: the same rows and statements with the same driver, no HTTP and no ORM.

W1b's multi-row INSERTs; C-db, the API's own one-sample ingest statement back to back; W4's raw read.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.servers import BenchError, Database

COLUMNS = "test_run_id, seq, recorded_at, cpu_percent, created_at"
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite


def _rows(run_id: Any, seq: int, count: int, *, as_text: bool) -> list[Any]:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    step = dt.timedelta(milliseconds=1)
    params: list[Any] = []
    for i in range(count):
        at = now + i * step
        params += [
            run_id,
            seq + i,
            at.strftime(SQLITE_TIME) if as_text else at,
            ((seq + i) * 7.3) % 100,
            now.strftime(SQLITE_TIME) if as_text else now,
        ]
    return params


async def raw_insert_rate(database: Database, run_name: str, batch: int, duration: float) -> dict[str, float]:
    """Rows per second of back-to-back `batch`-row INSERTs (one commit each) into `cpu_usage` of run `run_name`."""
    if database.kind == "mysql":
        return await _mysql(database, run_name, batch, duration)
    return await _sqlite(database, run_name, batch, duration)


async def _mysql(database: Database, run_name: str, batch: int, duration: float) -> dict[str, float]:
    connection = await _mysql_connection(database, autocommit=False)
    sql = f"INSERT IGNORE INTO cpu_usage ({COLUMNS}) VALUES " + ",".join(["(%s,%s,%s,%s,%s)"] * batch)  # noqa: S608
    try:
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT id FROM test_runs WHERE name = %s", (run_name,))
            (run_id,) = await cursor.fetchone()
            await connection.commit()
            rows, seq = 0, 0
            started = time.perf_counter()
            deadline = started + duration
            while time.perf_counter() < deadline:
                await cursor.execute(sql, _rows(run_id, seq, batch, as_text=False))
                await connection.commit()
                rows += cursor.rowcount
                seq += batch
            elapsed = time.perf_counter() - started
    finally:
        connection.close()
    return {"rows_per_s": round(rows / elapsed, 1), "rows": rows, "seconds": round(elapsed, 3)}


async def _sqlite(database: Database, run_name: str, batch: int, duration: float) -> dict[str, float]:
    import aiosqlite  # noqa: PLC0415

    path = database.url.split(":///", 1)[1]
    values = ",".join(["(?,?,?,?,?)"] * batch)
    sql = f"INSERT INTO cpu_usage ({COLUMNS}) VALUES {values} ON CONFLICT DO NOTHING"  # noqa: S608 - placeholders only
    async with aiosqlite.connect(path, timeout=5) as connection:
        # The server's own connection settings (backend/cpumon_backend/storage/db.py).
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            await connection.execute(f"PRAGMA {pragma}")
        async with connection.execute("SELECT id FROM test_runs WHERE name = ?", (run_name,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise BenchError(f"the ceiling's run {run_name!r} was not created")
        run_id = row[0]
        rows, seq = 0, 0
        started = time.perf_counter()
        deadline = started + duration
        while time.perf_counter() < deadline:
            cursor = await connection.execute(sql, _rows(run_id, seq, batch, as_text=True))
            rows += cursor.rowcount
            await connection.commit()
            seq += batch
        elapsed = time.perf_counter() - started
    return {"rows_per_s": round(rows / elapsed, 1), "rows": rows, "seconds": round(elapsed, 3)}


async def raw_statement_rate(database: Database, run_name: str, duration: float) -> dict[str, float]:
    """C-db: statements/s of the API's one-sample ingest statement (cpumon_backend/runs/ingest.py), in autocommit.

    The statement is compiled from the same construct for the same dialect and bound positionally:
    what the API cannot beat with one connection, whatever the framework does.
    """
    from sqlalchemy.dialects import mysql, sqlite  # noqa: PLC0415

    from cpumon_backend.runs.ingest import INSERT_SAMPLES, encode_rows  # noqa: PLC0415
    from cpumon_backend.runs.schemas import SampleIn  # noqa: PLC0415

    dialect = mysql.dialect() if database.kind == "mysql" else sqlite.dialect()
    compiled: Any = INSERT_SAMPLES.compile(dialect=dialect)  # an SQLCompiler: positional binds in `positiontup`
    order: list[str] = compiled.positiontup or []
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stamp: Any = now if database.kind == "mysql" else now.strftime(SQLITE_TIME)
    connection = await _raw_connection(database)
    try:
        found = await _fetch_one(connection, database, "SELECT id, user_id FROM test_runs WHERE name = {p}", run_name)
        fixed = {"run_id": found[0], "user_id": found[1], "now": stamp}
        statements, seq = 0, 0
        started, cpu_started = time.perf_counter(), time.process_time()
        deadline = started + duration
        while time.perf_counter() < deadline:
            rows = encode_rows([SampleIn(cpu_percent=(seq * 7.3) % 100, seq=seq)], now.replace(tzinfo=dt.UTC))
            values = {**fixed, "rows": rows}
            await _execute(connection, database, compiled.string, [values[name] for name in order])
            statements, seq = statements + 1, seq + 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        await _close(connection, database)
    # The CPU this process spent per statement is the driver's own floor for each statement a request makes.
    return {
        "statements_per_s": round(statements / elapsed, 1),
        "statements": statements,
        "seconds": round(elapsed, 3),
        "client_cpu_ms_per_statement": round(cpu * 1000 / max(statements, 1), 3),
    }


async def _raw_connection(database: Database) -> Any:
    if database.kind == "mysql":
        return await _mysql_connection(database, autocommit=True)
    import aiosqlite  # noqa: PLC0415

    connection = await aiosqlite.connect(database.url.split(":///", 1)[1], timeout=5, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        await connection.execute(f"PRAGMA {pragma}")
    return connection


async def _fetch_one(connection: Any, database: Database, sql: str, *params: Any) -> Any:
    if database.kind == "mysql":
        async with connection.cursor() as cursor:
            await cursor.execute(sql.format(p="%s"), params)
            return await cursor.fetchone()
    async with connection.execute(sql.format(p="?"), params) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise BenchError(f"nothing found by {sql!r}")
    return row


async def _execute(connection: Any, database: Database, sql: str, params: list[Any]) -> None:
    if database.kind == "mysql":
        async with connection.cursor() as cursor:
            await cursor.execute(sql, params)
    else:
        await connection.execute(sql, params)


async def _close(connection: Any, database: Database) -> None:
    if database.kind == "mysql":
        connection.close()
    else:
        await connection.close()


async def raw_read(database: Database, run_name: str) -> dict[str, Any]:
    """W4's ceiling: every sample of run `run_name` in time order, fetched with the same driver, no HTTP, no ORM."""
    query = "SELECT id, seq, recorded_at, cpu_percent FROM cpu_usage WHERE test_run_id = {p} ORDER BY recorded_at, id"
    if database.kind == "mysql":
        connection = await _mysql_connection(database, autocommit=True)
        try:
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT id FROM test_runs WHERE name = %s", (run_name,))
                (run_id,) = await cursor.fetchone()
                started = time.perf_counter()
                await cursor.execute(query.format(p="%s"), (run_id,))
                rows = len(await cursor.fetchall())
                elapsed = time.perf_counter() - started
        finally:
            connection.close()
    else:
        import aiosqlite  # noqa: PLC0415

        async with aiosqlite.connect(database.url.split(":///", 1)[1], timeout=5) as sqlite:
            async with sqlite.execute("SELECT id FROM test_runs WHERE name = ?", (run_name,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise BenchError(f"no run {run_name!r} to read back")
            started = time.perf_counter()
            async with sqlite.execute(query.format(p="?"), (row[0],)) as cursor:
                rows = len(list(await cursor.fetchall()))
            elapsed = time.perf_counter() - started
    return {"seconds": round(elapsed, 3), "rows": rows}


async def _mysql_connection(database: Database, *, autocommit: bool) -> Any:
    """A raw asyncmy connection to the benchmark database: the same driver as the server, no pool or ORM."""
    import asyncmy  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    url = make_url(database.url)
    return await asyncmy.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        db=url.database or "",
        charset="utf8mb4",
        autocommit=autocommit,
    )
