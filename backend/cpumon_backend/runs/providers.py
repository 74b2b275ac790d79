"""How the runs handlers get their services: each service owns its session or its engine."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from cpumon_backend.http.gate import GateLimits
from cpumon_backend.runs.export import CsvExportService, provide_export_service
from cpumon_backend.runs.ingest import IngestService, provide_ingest_service
from cpumon_backend.runs.lifecycle import RunLifecycleService
from cpumon_backend.runs.queries import RunQueryService
from cpumon_backend.settings import ServerSettings


async def provide_lifecycle_service(
    db_session: NamedDependency[AsyncSession],
) -> AsyncGenerator[RunLifecycleService, None]:
    async with RunLifecycleService.new(session=db_session) as service:
        yield service


async def provide_query_service(db_session: NamedDependency[AsyncSession]) -> AsyncGenerator[RunQueryService, None]:
    async with RunQueryService.new(session=db_session) as service:
        yield service


@dataclass(frozen=True)
class RunsServices:
    """The app-wide services of the runs domain, built once per app from its engines."""

    ingest: IngestService
    export: CsvExportService

    @classmethod
    def create(cls, ingest_engine: AsyncEngine, export_engine: AsyncEngine, settings: ServerSettings) -> RunsServices:
        limits = GateLimits(
            max_per_user=settings.export_max_per_user,
            max_total=settings.export_max_concurrent,
            send_timeout=settings.export_send_timeout,
        )
        return cls(ingest=IngestService(ingest_engine), export=CsvExportService(export_engine, limits))

    def state(self) -> dict[str, object]:
        """What `provide_ingest_service` and `provide_export_service` read from the app's state."""
        return {"ingest_service": self.ingest, "csv_export_service": self.export}


DEPENDENCIES = {
    "lifecycle": Provide(provide_lifecycle_service),
    "queries": Provide(provide_query_service),
    "ingest_service": Provide(provide_ingest_service, sync_to_thread=False),
    "export_service": Provide(provide_export_service, sync_to_thread=False),
}
