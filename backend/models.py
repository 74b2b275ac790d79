"""Every mapped model, imported in one place so Alembic and the app see the same metadata."""

from backend.auth.models import SessionRecord, User
from backend.db import metadata
from backend.runs.models import CpuUsage, TestRun

__all__ = ["CpuUsage", "SessionRecord", "TestRun", "User", "metadata"]
