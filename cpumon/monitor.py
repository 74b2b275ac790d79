"""One monitoring session: log in, start a run, sample until stopped, flush, report.

The flow, and why it is in this order:

1. Log in with the connect timeout as the whole budget. Wrong credentials fail before
   anything is recorded (exit 3). An API that does not answer is not a reason to miss the
   start of a load test: cpumon records anyway and the uploader logs in and creates the
   run once the API answers (wrong credentials then end cpumon with exit 3, the samples
   kept in the spool); `--require-api` exits 4 instead.
2. Pick up runs an earlier start left in the spool; the uploader delivers them first.
3. Prime psutil, create the run (or note what creates it later), then sample on the
   monotonic schedule while the uploader works in the background.
4. On Ctrl-C or SIGTERM: stop sampling, give the uploader `flush_timeout` seconds (a
   second Ctrl-C cuts that short), then finish the run if all its samples are stored,
   else keep the rest and the end time in the spool for the next start.
5. Report from local figures, so the report shows even when the API has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import math
import signal
import socket
from collections.abc import Awaitable
from typing import TypeVar

import httpx
from pydantic import SecretStr

from cpumon.api import ApiClient, ApiError, ApiInvalidAnswerError, ApiTransientError
from cpumon.clock import RunClock
from cpumon.credentials import Credentials
from cpumon.display import Display, Progress
from cpumon.errors import ApiUnavailableError, AuthenticationError, CpumonError, ExitCode
from cpumon.formats import plural
from cpumon.login import refusal
from cpumon.outbox import Outbox
from cpumon.recording import ActiveRunFile
from cpumon.recovery import recoverable_runs
from cpumon.report import ReportFigures, build_report
from cpumon.sampler import CpuSampler
from cpumon.schedule import TickSchedule
from cpumon.settings import AgentSettings
from cpumon.spool import NewRun, RunMeta, Spool, local_run_id
from cpumon.stats import RunStats
from cpumon.threshold import ThresholdTracker, watched_percent
from cpumon.uploader import Uploader

T = TypeVar("T")
log = logging.getLogger(__name__)


class StoppedBeforeStartError(CpumonError):
    exit_code = ExitCode.INTERRUPTED


class StopSignals:
    """First SIGINT/SIGTERM: stop. Second: also skip the wait for the last uploads."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.skip_wait = asyncio.Event()
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.trigger)
            self._installed.append(sig)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()

    def trigger(self) -> None:
        if self.stop.is_set():
            self.skip_wait.set()
        self.stop.set()


def default_run_name(hostname: str, started_at: dt.datetime) -> str:
    return f"{hostname} {started_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


class Monitor:
    def __init__(
        self,
        settings: AgentSettings,
        password: SecretStr | Credentials,
        display: Display,
        *,
        sampler: CpuSampler | None = None,
        hostname: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if settings.username is None:
            raise ValueError("a username is required")
        self.settings = settings
        self.username = settings.username
        self.display = display
        self.sampler = sampler or CpuSampler()
        self.hostname = hostname or settings.hostname or socket.gethostname()
        self.api = ApiClient.for_settings(settings, settings.username, password, transport=transport)
        self.signals = StopSignals()
        self.away: str | None = None  # why the API did not answer at start (recording goes on without it)
        # Tells `cpumon mark` which run this machine is recording (cpumon/recording.py).
        self.active = ActiveRunFile(settings.api_url, settings.username)

    async def run(self) -> ReportFigures:
        self.signals.install()
        try:
            return await self._run()
        finally:
            self.active.remove()
            self.signals.uninstall()
            await self.api.aclose()

    async def _run(self) -> ReportFigures:
        settings = self.settings
        online = await self._unless_stopped(self._login())
        spool = Spool(settings.spool_dir)
        recovered = recoverable_runs(
            spool,
            api_url=settings.api_url,
            username=self.username,
            batch_size=settings.batch_size,
            notices=self.display,
        )

        clock = RunClock()
        self.sampler.prime()
        start_mono = clock.now()
        started_at = clock.utc_at(start_mono)
        name = settings.run_name or default_run_name(self.hostname, started_at)
        meta = await self._unless_stopped(self._start_run(name, started_at, online=online))
        if self.api.credentials is not None:
            self.api.credentials.may_prompt = False  # a prompt under the live display would garble it
        outbox, uploader = self._outbox_and_uploader(spool, meta, recovered)
        stats = RunStats(threshold=settings.threshold, on=settings.threshold_on)
        tracker = ThresholdTracker(settings.threshold, hysteresis=settings.alert_hysteresis)

        self._opening_lines(meta, start_mono)
        upload_task = asyncio.create_task(uploader.run(), name="cpumon-uploader")
        upload_task.add_done_callback(self._stop_if_refused)
        try:
            await self._sample_until_stopped(clock, start_mono, outbox, uploader, stats, tracker)
            ended_at = clock.utc_now()
            self.display.stopping(outbox.pending, settings.flush_timeout)
            await self._flush(uploader, upload_task)
        finally:
            upload_task.cancel()
            (outcome,) = await asyncio.gather(upload_task, return_exceptions=True)
        finished, kept = await self._end(outbox, uploader, ended_at, outcome)
        return build_report(
            run_id=outbox.meta.api_id or "not created (the API did not answer)",
            run_name=outbox.meta.name,
            started_at=started_at,
            ended_at=ended_at,
            stats=stats,
            alerts=tracker.alerts,
            stored=outbox.stored,
            kept=kept,
            finished=finished,
            spool_path=outbox.spool.path if not finished else None,
            max_above_s=settings.max_above,
        )

    async def _end(
        self, outbox: Outbox, uploader: Uploader, ended_at: dt.datetime, outcome: BaseException | None
    ) -> tuple[bool, int]:
        """Finish the run if the API has all of it, else keep the rest: (finished, samples kept)."""
        refused = outcome if isinstance(outcome, AuthenticationError) else None
        if isinstance(outcome, Exception) and refused is None:
            # A bug, not an API failure (those are retried): keep the samples rather than lose them.
            log.error("uploader failed", exc_info=outcome)
            self.display.warn(f"uploads stopped by an internal error ({type(outcome).__name__}: {outcome})")
        finished = False
        kept = 0
        api_id = outbox.meta.api_id
        if api_id is not None and outbox.is_empty() and uploader.rejected is None and refused is None:
            finished = await self._finish(api_id, ended_at)
        if not finished:
            ended_meta = dataclasses.replace(outbox.meta, ended_at=ended_at)
            kept = self._keep_for_later(outbox, ended_meta, rejected=uploader.rejected is not None)
        elif outbox.spool.exists():
            outbox.spool.unlock()
            outbox.spool.remove()  # segments spilled during an outage, all delivered since
        if refused is not None:
            self.display.close()
            raise AuthenticationError(
                f"{refused.message}; the {plural(kept, 'sample')} recorded are kept in {outbox.spool.path}"
            )
        return finished, kept

    def _outbox_and_uploader(self, spool: Spool, meta: RunMeta, recovered: list[Outbox]) -> tuple[Outbox, Uploader]:
        settings = self.settings
        outbox = Outbox(
            meta=meta,
            spool=spool.run(meta.run_id),
            batch_size=settings.batch_size,
            queue_size=settings.queue_size,
            notices=self.display,
            # During an outage at most one flush interval of samples waits in memory only.
            crash_window=max(1, min(settings.batch_size, math.ceil(settings.flush_interval / settings.interval))),
            uploads_failing=meta.api_id is None,
        )
        uploader = Uploader(
            self.api,
            outbox,
            notices=self.display,
            recovered=recovered,
            flush_interval=settings.flush_interval,
            retry_max_delay=settings.retry_max_delay,
            api_answered=meta.api_id is not None,
        )
        return outbox, uploader

    def _opening_lines(self, meta: RunMeta, start_mono: float) -> None:
        self.display.start(
            run_id=meta.api_id,
            run_name=meta.name,
            api_url=self.settings.api_url,
            interval=self.settings.interval,
            started_mono=start_mono,
        )
        if self.away is not None:
            self.display.warn(
                f"the API does not answer ({self.away}): recording anyway; the run is created there "
                "as soon as it does (--require-api exits instead)"
            )

    def _stop_if_refused(self, task: asyncio.Task[None]) -> None:
        # Wrong credentials met once an API that was away answers: stop as Ctrl-C would.
        if not task.cancelled() and isinstance(task.exception(), AuthenticationError):
            self.signals.stop.set()

    # -- steps ----------------------------------------------------------------------------
    async def _login(self) -> bool:
        """Log in (or check the saved session); False if the API does not answer and cpumon may record
        without it (`self.away` says why)."""
        try:
            await self.api.start_session(time_limit=self.api.connect_timeout, reachable_first=self.settings.require_api)
        except ApiError as exc:
            # Not a 429 (the login throttle) nor an answer no cpumon API gives (something else is at that URL).
            waiting_helps = (
                isinstance(exc, ApiTransientError)
                and exc.status_code != 429
                and not isinstance(exc, ApiInvalidAnswerError)
            )
            if waiting_helps and not self.settings.require_api:
                self.away = exc.message
                return False
            raise refusal(self.api, exc) from None
        return True

    async def _start_run(self, name: str, started_at: dt.datetime, *, online: bool) -> RunMeta:
        """The run's metadata: created at the API now if it answers, else with what creates it later."""
        settings = self.settings
        new = NewRun(hostname=self.hostname, interval_s=settings.interval, threshold_percent=settings.threshold)
        pending = RunMeta(local_run_id(), settings.api_url, self.username, name, started_at, None, create=new)
        if not online:
            return pending
        try:
            run = await self.api.create_run(
                name=name,
                hostname=self.hostname,
                interval_s=settings.interval,
                threshold_percent=settings.threshold,
                started_at=started_at,
            )
        except ApiTransientError as exc:
            if settings.require_api:
                raise ApiUnavailableError(
                    f"the API at {settings.api_url} could not start a run ({exc.message}): try again later"
                ) from None
            # The uploader looks the run up before creating it, in case this attempt did create it.
            self.away = exc.message
            return pending
        except ApiError as exc:
            # Logged in, yet the run was refused: a server/agent mismatch rather than an outage.
            raise CpumonError(f"the API at {settings.api_url} refused to start a run ({exc.message})") from None
        return RunMeta(run.id, settings.api_url, self.username, run.name, started_at, None)

    async def _sample_until_stopped(
        self,
        clock: RunClock,
        start_mono: float,
        outbox: Outbox,
        uploader: Uploader,
        stats: RunStats,
        tracker: ThresholdTracker,
    ) -> None:
        schedule = TickSchedule(start=start_mono, interval=self.settings.interval)
        stop = self.signals.stop
        # --duration ends the run as Ctrl-C would, at start + duration.
        deadline = start_mono + self.settings.duration if self.settings.duration is not None else math.inf
        seq = 0
        while not stop.is_set():
            delay = min(schedule.next_due, deadline) - clock.now()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    break
            now = clock.now()
            if now >= deadline:
                break
            reading = self.sampler.read()
            schedule.taken(now)
            sample = reading.sample(seq, clock.utc_at(now))
            seq += 1
            stats.add(sample)
            crossing = tracker.observe(watched_percent(sample, self.settings.threshold_on), sample.recorded_at)
            outbox.add(sample)
            self.active.publish(outbox.meta.api_id, outbox.meta.name)  # once the API has created the run
            if len(outbox.memory) >= outbox.batch_size:
                uploader.wake()
            self.display.sample(sample, now, crossing, _progress(stats, outbox, uploader))

    async def _flush(self, uploader: Uploader, upload_task: asyncio.Task[None]) -> None:
        uploader.start_draining()
        waiters = {
            asyncio.create_task(uploader.drained.wait()),
            asyncio.create_task(self.signals.skip_wait.wait()),
        }
        try:
            await asyncio.wait(
                [*waiters, upload_task], timeout=self.settings.flush_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _finish(self, run_id: str, ended_at: dt.datetime) -> bool:
        """One bounded attempt (the client logs in again if the session expired); the spool covers a failure."""
        if self.signals.skip_wait.is_set():
            # The user cut the wait short, but a run whose samples are all stored deserves one
            # quick try: finishing it now saves the next start a request.
            time_limit, guard = self.settings.connect_timeout, _as_is
        else:
            time_limit, guard = self.settings.request_timeout, self._unless_skipped
        try:
            await guard(self.api.finish_run(run_id, ended_at, time_limit=time_limit))
        except (ApiError, TimeoutError) as exc:
            self.display.warn(f"could not finish the run ({_reason(exc)}); the next start will")
            return False
        return True

    def _keep_for_later(self, outbox: Outbox, meta: RunMeta, *, rejected: bool) -> int:
        try:
            error = outbox.keep_for_later(meta)
        finally:
            outbox.spool.unlock()
        kept = outbox.on_disk
        if error is not None:
            self.display.warn(
                f"could not write the spool {outbox.spool.path} ({error.strerror or error}): "
                f"{outbox.in_memory:,} unsent samples are lost, {kept:,} are kept there for the next start"
            )
            return kept
        if rejected:
            where = outbox.spool.move_to_rejected()
            self.display.warn(f"{kept} samples the API refused are kept in {where}")
        return kept

    # -- helpers --------------------------------------------------------------------------
    async def _unless_stopped(self, step: Awaitable[T]) -> T:
        """Run a start-up step; Ctrl-C during it ends cpumon at once (nothing is recorded yet)."""
        stopped = StoppedBeforeStartError("stopped before the run started; nothing was recorded")
        return await _unless(self.signals.stop, step, stopped)

    async def _unless_skipped(self, step: Awaitable[T]) -> T:
        """Run an exit step; a second Ctrl-C abandons it (TimeoutError)."""
        return await _unless(self.signals.skip_wait, step, TimeoutError("skipped by a second Ctrl-C"))


async def _unless(signal: asyncio.Event, step: Awaitable[T], interrupted: Exception) -> T:
    """`step`'s result; cancelled, raising `interrupted`, when `signal` is set first."""
    task = asyncio.ensure_future(step)
    waiter = asyncio.create_task(signal.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise interrupted
    return task.result()


async def _as_is(step: Awaitable[T]) -> T:
    return await step


def _progress(stats: RunStats, outbox: Outbox, uploader: Uploader) -> Progress:
    return Progress(
        taken=stats.count,
        stored=outbox.stored,
        on_disk=outbox.on_disk,
        failing=uploader.failing,
    )


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, ApiError) else str(exc)
