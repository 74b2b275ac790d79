"""The background task that moves samples from outboxes to the API.

Runs left in the spool by an earlier start go first (created at the API if they were
recorded while it was away, then their samples, then their finish), then the current
run (created first if the API did not answer at start), its samples in batches: a full
batch at once, otherwise every flush interval. Connection errors, timeouts, 5xx and 429
are retried with backoff, forever, while sampling goes on; a 401 gets one new login
(refused before any login of this process worked, the credentials are wrong:
`AuthenticationError`); any other refusal of a batch stops the uploads of that run, whose
samples are then kept on disk. Sampling never waits for this.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cpumon.api import ApiClient, ApiRejectedError, ApiTransientError, ApiUnauthorizedError
from cpumon.backoff import retry_delay
from cpumon.batching import next_upload_at
from cpumon.formats import plural
from cpumon.login import refusal
from cpumon.notices import Notices
from cpumon.outbox import Batch, Outbox

T = TypeVar("T")
log = logging.getLogger(__name__)


class Uploader:
    def __init__(
        self,
        api: ApiClient,
        current: Outbox | None,
        *,
        notices: Notices,
        recovered: list[Outbox] | None = None,
        flush_interval: float,
        retry_max_delay: float,
        monotonic: Callable[[], float] = time.monotonic,
        random_fraction: Callable[[], float] = random.random,
        api_answered: bool = True,
        give_up_after: int | None = None,
    ) -> None:
        self.api = api
        self.current = current
        self.recovered: deque[Outbox] = deque(recovered or ())
        self.notices = notices
        self.flush_interval = flush_interval
        self.retry_max_delay = retry_max_delay
        self._monotonic = monotonic
        self._random_fraction = random_fraction
        self._wake = asyncio.Event()
        self._retry_now = asyncio.Event()
        self.draining = False
        self.drained = asyncio.Event()  # set once draining and nothing of the current run is left to send
        self.rejected: str | None = None  # why the API refused the current run's samples
        # Consecutive failed attempts (0 while the API answers). The start's own failed login counts:
        # it was said in one line, and the first upload failure need not say it again.
        self.failures = 0 if api_answered else 1
        # False when the API did not answer the start's login: until a login works, a refusal means wrong credentials.
        self.credentials_checked = api_answered
        # `cpumon sync` has no samples to protect: it stops after this many failed attempts in a row.
        self.give_up_after = give_up_after

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def wake(self) -> None:
        """Samples are waiting that should not wait for the flush interval."""
        self._wake.set()

    def start_draining(self) -> None:
        """Send everything now, retry a waiting batch at once, and set `drained` when done."""
        self.draining = True
        self._retry_now.set()
        self._wake.set()

    async def run(self) -> None:
        last_upload = self._monotonic()
        while True:
            if self.recovered:
                await self._deliver_next_recovered()
                continue
            outbox = self.current
            if outbox is None:
                return  # `cpumon sync`: no run of its own, done once the spooled runs are
            if outbox.meta.api_id is None and self.rejected is None:
                await self._create_current(outbox)
                continue
            now = self._monotonic()
            due = None
            if self.rejected is None:
                due = next_upload_at(
                    now=now,
                    waiting=len(outbox.memory),
                    backlog=outbox.has_backlog,
                    batch_size=outbox.batch_size,
                    last_upload=last_upload,
                    flush_interval=self.flush_interval,
                    draining=self.draining,
                )
            if due is None:
                if self.draining:
                    self.drained.set()
                    await self._sleep(None, self._wake)
                else:
                    # Nothing waiting: look again after a flush interval (or when woken).
                    await self._sleep(self.flush_interval, self._wake)
                continue
            if due > now:
                await self._sleep(due - now, self._wake)
                continue
            batch = outbox.next_batch()
            if batch is None:
                continue  # only damaged spool files were left: they were set aside
            last_upload = self._monotonic()
            try:
                await self._send(outbox, batch)
            except ApiRejectedError as exc:
                self.rejected = exc.message
                self.notices.warn(
                    f"the API refused the samples of this run ({exc.message}); "
                    "no more uploads for it, its samples will be kept on disk"
                )

    async def _deliver_next_recovered(self) -> None:
        old = self.recovered.popleft()
        try:
            await self._deliver_recovered(old)
        except OSError as exc:
            # The spool dir turned unwritable: leave that run where it is for a later start.
            self.notices.warn(f"could not update the spool for run {old.meta.run_id}: {exc}")

    async def _create_current(self, outbox: Outbox) -> None:
        try:
            await self._create(outbox)
        except ApiRejectedError as exc:
            self.rejected = exc.message
            self.notices.warn(f"the API refused to create this run ({exc.message}); its samples will be kept on disk")

    async def _send(self, outbox: Outbox, batch: Batch) -> None:
        run_id = outbox.meta.api_id
        if run_id is None:
            raise ValueError("samples of a run the API has not created yet")  # _create comes first
        counts = await self._with_retries(
            lambda: self.api.post_samples(run_id, batch.samples), on_retry=outbox.persist_in_flight
        )
        outbox.acknowledge(batch)
        log.debug("run %s: %d stored, %d already there", run_id, counts.inserted, counts.duplicates)

    async def _create(self, outbox: Outbox) -> None:
        """Create at the API the run `outbox` recorded while the API was away.

        Each attempt looks the run up first (by name, host and start): an earlier attempt, of this
        process or of one that stopped before writing down the id, may have created it with its
        answer lost, and a second run would be an empty duplicate. One GET, once per such run.
        """
        meta, new = outbox.meta, outbox.meta.create
        if new is None:
            return

        async def attempt() -> str:
            if not self.api.logged_in:
                await self.api.start_session()  # the start's login, which the API did not answer
            found = await self.api.find_run(name=meta.name, hostname=new.hostname, started_at=meta.started_at)
            if found is not None:
                return found
            created = await self.api.create_run(
                name=meta.name,
                hostname=new.hostname,
                interval_s=new.interval_s,
                threshold_percent=new.threshold_percent,
                started_at=meta.started_at,
            )
            return created.id

        api_id = await self._with_retries(attempt)
        error = outbox.created(api_id)
        if error is not None:
            self.notices.warn(f"could not note the new run's id in the spool {outbox.spool.path}: {error}")
        waiting = f"; {plural(outbox.pending, 'sample')} recorded meanwhile follow" if outbox.pending else ""
        # The API gives the run its own id: said beside the one the spool (and the report) showed until now.
        self.notices.info(f"run {meta.run_id} ({meta.name}) created at {self.api.base_url} as {api_id}{waiting}")

    async def _deliver_recovered(self, outbox: Outbox) -> None:
        meta = outbox.meta
        waiting = outbox.pending
        if waiting:
            self.notices.info(f"delivering {plural(waiting, 'sample')} kept from run {meta.run_id} ({meta.name})")
        # Finish at the saved end time. A run whose agent died (no end time saved) finishes at its
        # last spooled sample; with none, nothing tells when it ended, so it is left open.
        ended_at: dt.datetime | None = meta.ended_at
        try:
            await self._create(outbox)
            api_id = outbox.meta.api_id or meta.run_id
            while (batch := outbox.next_batch()) is not None:
                await self._send(outbox, batch)
            ended_at = ended_at or outbox.last_stored_at
            if ended_at is not None:
                await self._with_retries(lambda: self.api.finish_run(api_id, ended_at))
        except ApiRejectedError as exc:
            where = outbox.spool.move_to_rejected()
            self.notices.warn(f"the API refused run {meta.run_id} ({exc.message}); its samples are kept in {where}")
            return
        finally:
            outbox.spool.unlock()
        outbox.spool.remove()
        meta = outbox.meta
        finished = f", finished at {_utc_text(ended_at)}" if ended_at else ", left open (its end time is unknown)"
        self.notices.info(
            f"run {meta.api_id} ({meta.name}) completed: {plural(outbox.stored, 'kept sample')} delivered{finished}"
        )

    async def _with_retries(
        self, operation: Callable[[], Awaitable[T]], *, on_retry: Callable[[], None] | None = None
    ) -> T:
        """`operation`'s result, retrying transient failures; ApiRejectedError goes to the caller.

        `on_retry` runs before each wait for a retry (the outbox spools the batch that failed).
        """
        while True:
            retry_after: float | None = None
            try:
                result = await operation()
            except ApiUnauthorizedError as exc:
                # The client has already tried one new login: the credentials themselves were refused.
                if not self.credentials_checked and not self.api.logged_in:
                    # The first answer of an API that was away at start: wrong credentials end cpumon.
                    raise refusal(self.api, exc) from None
                self._failed(f"the API no longer accepts the username and password ({exc.message})")
            except ApiTransientError as exc:
                retry_after = exc.retry_after
                self._failed(exc.message)
                if self.give_up_after is not None and self.failures >= self.give_up_after:
                    raise
            else:
                self._succeeded()
                return result
            delay = retry_delay(
                self.failures,
                random_fraction=self._random_fraction(),
                cap=self.retry_max_delay,
                retry_after=retry_after,
            )
            log.debug("retrying in %.2f s", delay)
            if on_retry is not None:
                on_retry()
            await self._sleep(delay, self._retry_now)

    def _failed(self, reason: str) -> None:
        self.failures += 1
        if self.current is not None:
            self.current.uploads_failing = True
        if self.failures == 1:
            self.notices.warn(f"upload failed: {reason}; retrying with backoff, sampling goes on")

    def _succeeded(self) -> None:
        if self.current is not None:
            self.current.uploads_failing = False
        if self.failures:
            self.notices.info(f"uploads resumed after {self.failures} failed attempts")
        self.failures = 0

    async def _sleep(self, seconds: float | None, event: asyncio.Event) -> None:
        """Wait `seconds` (None: no limit) or until `event` is set; then clear it.

        Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that arrives as the event is
        set, which is exactly what happens at exit (`start_draining` sets it, then the monitor cancels).
        """
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            waiter.cancel()
        event.clear()


def _utc_text(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
