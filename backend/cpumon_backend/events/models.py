"""The `run_events` table: a run's events, deleted with the run (ON DELETE CASCADE in the database)."""

from __future__ import annotations

import datetime as dt
import uuid

from advanced_alchemy.base import DefaultBase
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from cpumon.wire import EVENT_KIND_MAX, EVENT_TEXT_MAX
from cpumon_backend.storage.db import BigIntIdMixin, CreatedAtMixin, UTCDateTime

#: utf8mb4 whatever the database's default character set: any character the API accepts fits, in at
#: most 4 bytes each (EVENT_TEXT_MAX characters, at most 4 x EVENT_TEXT_MAX bytes); compared as written.
EventText = String(EVENT_TEXT_MAX).with_variant(
    mysql.VARCHAR(EVENT_TEXT_MAX, charset="utf8mb4", collation="utf8mb4_bin"), "mysql"
)
#: The API accepts only ASCII letters, digits and `_.-` here.
EventKind = String(EVENT_KIND_MAX).with_variant(
    mysql.VARCHAR(EVENT_KIND_MAX, charset="ascii", collation="ascii_bin"), "mysql"
)


class RunEvent(BigIntIdMixin, CreatedAtMixin, DefaultBase):
    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_test_run_id_at", "test_run_id", "at"),)

    test_run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("test_runs.id", ondelete="CASCADE"), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    kind: Mapped[str] = mapped_column(EventKind, nullable=False)
    text: Mapped[str] = mapped_column(EventText, nullable=False)
