"""What a runner hands the migrations: the models to compare with and a connection to migrate over.

The runner (cpumon_backend.storage.migrations) puts one `MigrationTarget` in Alembic's
`config.attributes["target"]`, so this package imports nothing from the backend: a revision means
what it meant when it was written, whatever the backend becomes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection

#: The key of `config.attributes` that holds the target.
TARGET_KEY = "target"


@dataclass(frozen=True)
class MigrationTarget:
    #: The tables the models declare: what autogenerate and the drift test compare with.
    metadata: MetaData
    #: A connection ready to migrate over: held under the migration lock until it is left.
    connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    #: Alembic's `include_object` and `compare_type` hooks (see alembic's EnvironmentContext.configure).
    include_object: Callable[..., bool]
    compare_type: Callable[..., Any]
