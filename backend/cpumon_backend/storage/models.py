"""Every mapped model, imported in one place so Alembic and the app see the same metadata."""

from cpumon_backend.auth.models import SessionRecord, User
from cpumon_backend.events.models import RunEvent
from cpumon_backend.runs.models import CpuUsage, CpuUsageRollup, TestRun
from cpumon_backend.storage.db import metadata

__all__ = ["CpuUsage", "CpuUsageRollup", "RunEvent", "SessionRecord", "TestRun", "User", "metadata"]
