"""The uploader against a scripted in-process API: retries, re-login, refusals, old runs first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from cpumon.api import ApiClient
from cpumon.outbox import Outbox
from cpumon.spool import RunMeta, RunSpool
from cpumon.uploader import Uploader

from .conftest import CollectedNotices, at, samples
from .fake_api import FakeApi

RUN = "01a20000-0000-7000-8000-00000000000a"
OLD_RUN = "01a10000-0000-7000-8000-00000000000b"


def client(api: FakeApi) -> ApiClient:
    return ApiClient(
        "http://api.test",
        "ada",
        SecretStr("pw"),
        connect_timeout=1.0,
        request_timeout=1.0,
        transport=api.transport(),
    )


def outbox_for(tmp_path: Path, run_id: str = RUN, *, batch_size: int = 4, queue_size: int = 100) -> Outbox:
    meta = RunMeta(run_id, "http://api.test", "ada", "run", at(0), None)
    return Outbox(
        meta=meta,
        spool=RunSpool(tmp_path, run_id),
        batch_size=batch_size,
        queue_size=queue_size,
        notices=CollectedNotices(),
    )


def uploader_for(api: FakeApi, outbox: Outbox, **kwargs: object) -> tuple[Uploader, CollectedNotices]:
    notices = CollectedNotices()
    uploader = Uploader(
        client(api),
        outbox,
        notices=notices,
        flush_interval=0.01,
        retry_max_delay=0.02,  # keeps retries fast; the delays themselves are tested in test_backoff
        random_fraction=lambda: 0.0,
        **kwargs,  # type: ignore[arg-type]
    )
    return uploader, notices


async def drain(uploader: Uploader, within: float = 5.0) -> None:
    task = asyncio.create_task(uploader.run())
    uploader.start_draining()
    try:
        await asyncio.wait_for(uploader.drained.wait(), within)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_uploads_every_sample_once(tmp_path: Path) -> None:
    api = FakeApi()
    outbox = outbox_for(tmp_path)
    for sample in samples([float(i) for i in range(10)]):
        outbox.add(sample)
    uploader, notices = uploader_for(api, outbox)
    await drain(uploader)
    assert api.seqs(RUN) == list(range(10))
    assert outbox.stored == 10
    assert notices.warnings == []


async def test_retries_through_outages_and_lost_answers(tmp_path: Path) -> None:
    api = FakeApi()
    api.faults.extend(["down", "503", "stored-then-503", "down", "ok", "stored-then-503", "503"])
    outbox = outbox_for(tmp_path)
    for sample in samples([float(i) for i in range(10)]):
        outbox.add(sample)
    uploader, notices = uploader_for(api, outbox)
    await drain(uploader)
    assert api.seqs(RUN) == list(range(10))  # every sample stored, each once (the fake keys by seq)
    assert outbox.stored == 10
    assert uploader.failures == 0
    # One warning when uploads start failing, one note when they resume: not one per retry.
    assert len([w for w in notices.warnings if w.startswith("upload failed")]) == 2
    assert len([i for i in notices.infos if i.startswith("uploads resumed")]) == 2


async def test_an_expired_session_triggers_one_new_login(tmp_path: Path) -> None:
    api = FakeApi()
    api.faults.extend(["401"])
    outbox = outbox_for(tmp_path)
    for sample in samples([1.0, 2.0]):
        outbox.add(sample)
    uploader, notices = uploader_for(api, outbox)
    await drain(uploader)
    assert api.logins == 1
    assert api.seqs(RUN) == [0, 1]
    assert notices.warnings == []


async def test_changed_credentials_are_retried_not_lost(tmp_path: Path) -> None:
    api = FakeApi(password="changed")
    api.faults.extend(["401", "401", "401"])
    outbox = outbox_for(tmp_path)
    outbox.add(samples([1.0])[0])
    uploader, notices = uploader_for(api, outbox)
    task = asyncio.create_task(uploader.run())
    uploader.start_draining()
    for _ in range(200):
        if uploader.failures >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert api.logins == 1  # one new login per failing streak, not a login storm
    assert "no longer accepts the username and password" in notices.warnings[0]
    assert outbox.pending == 1  # still waiting, to be kept in the spool at exit


async def test_a_refused_run_stops_its_uploads(tmp_path: Path) -> None:
    api = FakeApi(closed_runs={RUN})
    outbox = outbox_for(tmp_path)
    for sample in samples([1.0, 2.0]):
        outbox.add(sample)
    uploader, notices = uploader_for(api, outbox)
    await drain(uploader)
    assert uploader.rejected is not None
    assert "409" in uploader.rejected
    assert outbox.pending == 2
    assert "refused" in notices.warnings[0]


async def test_runs_left_in_the_spool_go_first_and_are_finished_with_their_end_time(tmp_path: Path) -> None:
    old_spool = RunSpool(tmp_path, OLD_RUN)
    old_meta = RunMeta(OLD_RUN, "http://api.test", "ada", "old", at(-100), at(-40))
    old_spool.write_meta(old_meta)
    old_spool.write_segment(samples([1.0, 2.0, 3.0]))
    assert old_spool.lock()
    old = Outbox.recovered(old_meta, old_spool, batch_size=4, notices=CollectedNotices())

    api = FakeApi()
    api.faults.extend(["down", "503"])
    outbox = outbox_for(tmp_path)
    for sample in samples([7.0, 8.0]):
        outbox.add(sample)
    uploader, notices = uploader_for(api, outbox, recovered=[old])
    await drain(uploader)

    assert api.seqs(OLD_RUN) == [0, 1, 2]
    assert api.finished[OLD_RUN] == at(-40).isoformat()
    assert api.seqs(RUN) == [0, 1]
    first_current = api.requests.index(f"POST /api/test-runs/{RUN}/cpu-usage")
    assert api.requests.index(f"POST /api/test-runs/{OLD_RUN}/finish") < first_current
    assert not old_spool.path.exists()
    assert any(OLD_RUN in info and "completed" in info for info in notices.infos)


async def test_a_crashed_run_is_finished_at_its_last_sample(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, OLD_RUN)
    meta = RunMeta(OLD_RUN, "http://api.test", "ada", "old", at(0), None)
    spool.write_meta(meta)
    spool.write_segment(samples([1.0, 2.0, 3.0]))
    spool.lock()
    old = Outbox.recovered(meta, spool, batch_size=10, notices=CollectedNotices())
    api = FakeApi()
    uploader, _ = uploader_for(api, outbox_for(tmp_path), recovered=[old])
    await drain(uploader)
    assert api.finished[OLD_RUN] == at(2).isoformat()


async def test_a_refused_old_run_is_moved_aside_and_the_current_one_still_goes(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, OLD_RUN)
    meta = RunMeta(OLD_RUN, "http://api.test", "ada", "old", at(0), at(9))
    spool.write_meta(meta)
    spool.write_segment(samples([1.0]))
    spool.lock()
    old = Outbox.recovered(meta, spool, batch_size=10, notices=CollectedNotices())
    api = FakeApi(closed_runs={OLD_RUN})
    outbox = outbox_for(tmp_path)
    outbox.add(samples([5.0])[0])
    uploader, notices = uploader_for(api, outbox, recovered=[old])
    await drain(uploader)
    assert (tmp_path / "rejected" / OLD_RUN).is_dir()
    assert api.seqs(RUN) == [0]
    assert any("refused run" in w for w in notices.warnings)


@pytest.mark.parametrize("batch_size", [1, 3, 100])
async def test_a_spilled_backlog_is_delivered_in_order(tmp_path: Path, batch_size: int) -> None:
    api = FakeApi()
    outbox = outbox_for(tmp_path, batch_size=batch_size, queue_size=5)
    for sample in samples([float(i % 100) for i in range(50)]):
        outbox.add(sample)
    uploader, _ = uploader_for(api, outbox)
    await drain(uploader)
    assert api.seqs(RUN) == list(range(50))
    assert outbox.spool.segments() == []


async def test_a_run_whose_details_were_lost_is_finished_at_its_last_delivered_sample(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, OLD_RUN)
    spool.write_segment(samples([1.0, 2.0, 3.0, 4.0]))
    spool.lock()
    meta = RunMeta(OLD_RUN, "http://api.test", "ada", "(details lost)", at(-1000), None)
    old = Outbox.recovered(meta, spool, batch_size=10, notices=CollectedNotices())
    old.meta_lost = True
    api = FakeApi()
    uploader, _ = uploader_for(api, outbox_for(tmp_path), recovered=[old])
    await drain(uploader)
    assert api.seqs(OLD_RUN) == [0, 1, 2, 3]
    assert api.finished[OLD_RUN] == at(3).isoformat()


async def test_a_crashed_run_with_nothing_spooled_is_left_open_not_finished_at_its_start(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, OLD_RUN)
    meta = RunMeta(OLD_RUN, "http://api.test", "ada", "old", at(0), None)
    spool.write_meta(meta)  # spilled once, all delivered, then the agent was killed
    spool.lock()
    old = Outbox.recovered(meta, spool, batch_size=10, notices=CollectedNotices())
    api = FakeApi()
    uploader, notices = uploader_for(api, outbox_for(tmp_path), recovered=[old])
    await drain(uploader)
    assert OLD_RUN not in api.finished
    assert not spool.path.exists()
    assert any("left open" in info for info in notices.infos)


async def test_a_cancel_as_draining_starts_ends_the_uploader(tmp_path: Path) -> None:
    # The monitor's exit with --flush-timeout 0: the retry wait is woken and cancelled in one go.
    api = FakeApi(failing_suffixes={"/cpu-usage"})
    outbox = outbox_for(tmp_path)
    outbox.add(samples([1.0])[0])
    uploader, _ = uploader_for(api, outbox)
    task = asyncio.create_task(uploader.run())
    for _ in range(500):
        if uploader.failures:
            break
        await asyncio.sleep(0.01)
    assert uploader.failures
    uploader.start_draining()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()
