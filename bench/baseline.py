"""The ceiling of W1/W2: a trivial Litestar route served exactly as `cpumon-server` serves the API.

`python -m bench.baseline` reads CPUMON_HOST/CPUMON_PORT/CPUMON_WORKERS like the server and runs uvicorn
with `cpumon_backend.cli.uvicorn_options`, so the only difference from the API is the work behind the route:
no session, no database. What it answers per second is what the framework and the server allow.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, get, post


@post("/ingest", status_code=201)
async def ingest(request: Request[Any, Any, Any]) -> dict[str, int]:
    await request.body()
    return {"inserted": 1, "duplicates": 0}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[ingest, health], openapi_config=None)


def main() -> None:
    import uvicorn  # noqa: PLC0415

    from cpumon_backend.cli import uvicorn_options  # noqa: PLC0415
    from cpumon_backend.settings import ServerSettings  # noqa: PLC0415

    uvicorn.run("bench.baseline:create_app", **uvicorn_options(ServerSettings()))


if __name__ == "__main__":
    main()
