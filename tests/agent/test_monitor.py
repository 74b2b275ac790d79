"""A whole monitoring session in-process: scripted API, scripted CPU readings, stop by signal.

These cover the exit rules of the design (finish only a complete run; otherwise keep the
samples and the end time for the next start) without subprocesses; tests/e2e does the
same against the real server.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from cpumon.display import Display
from cpumon.errors import ApiUnavailableError, AuthenticationError
from cpumon.monitor import Monitor
from cpumon.report import ReportFigures
from cpumon.sampler import Reading
from cpumon.settings import load_settings
from cpumon.spool import RunSpool, Spool
from cpumon.theme import make_console

from .fake_api import FakeApi


class ScriptedSampler:
    def __init__(self, readings: list[float]) -> None:
        self.readings = readings
        self.primed = False
        self.taken = 0

    def prime(self) -> None:
        self.primed = True

    def read(self) -> Reading:
        assert self.primed, "the first psutil reading must be a priming one"
        value = self.readings[self.taken % len(self.readings)]
        self.taken += 1
        return Reading(value)


def make_monitor(
    api: FakeApi, spool_dir: Path, sampler: ScriptedSampler, *, password: str | None = None, **settings: str
) -> tuple[Monitor, io.StringIO]:
    values = {
        "api_url": "http://api.test",
        "username": "ada",
        "interval": "0.05",
        "flush_interval": "0.02",
        "flush_timeout": "0.5",
        "retry_max_delay": "0.05",
        "threshold": "50",
        "spool_dir": str(spool_dir),
        **settings,
    }
    out = io.StringIO()
    display = Display(make_console(file=out, force_terminal=False, width=120), threshold=50.0, print_interval=1.0)
    monitor = Monitor(
        load_settings(values),
        SecretStr(api.password if password is None else password),
        display,
        sampler=sampler,  # type: ignore[arg-type]
        hostname="testhost",
        transport=api.transport(),
    )
    return monitor, out


async def run_until(monitor: Monitor, sampler: ScriptedSampler, samples: int) -> ReportFigures:
    task = asyncio.create_task(monitor.run())
    for _ in range(2000):
        if sampler.taken >= samples or task.done():
            break
        await asyncio.sleep(0.005)
    monitor.signals.trigger()
    return await asyncio.wait_for(task, 10)


async def test_a_complete_run_is_finished(tmp_path: Path) -> None:
    api = FakeApi()
    sampler = ScriptedSampler([10.0, 90.0, 95.0, 20.0])
    monitor, _ = make_monitor(api, tmp_path, sampler)
    figures = await run_until(monitor, sampler, 12)
    run_id = api.runs_created[0]["id"]
    assert figures.run_id == run_id
    assert figures.finished
    assert figures.samples_taken == figures.samples_stored == len(api.seqs(run_id))
    assert api.seqs(run_id) == list(range(figures.samples_taken))
    assert figures.samples_kept == 0
    assert figures.alerts == (figures.samples_taken + 2) // 4  # one per pass over 90, 95
    assert run_id in api.finished
    assert api.runs_created[0]["name"].startswith("testhost ")
    assert api.runs_created[0]["threshold_percent"] == 50.0
    assert list(Spool(tmp_path).run_dirs()) == []


async def test_samples_the_api_did_not_take_are_kept_with_the_end_time(tmp_path: Path) -> None:
    api = FakeApi(failing_suffixes={"/cpu-usage"})
    sampler = ScriptedSampler([10.0])
    monitor, out = make_monitor(api, tmp_path, sampler)
    figures = await run_until(monitor, sampler, 5)
    assert not figures.finished
    assert figures.samples_stored == 0
    assert figures.samples_kept == figures.samples_taken
    spool = RunSpool(tmp_path, figures.run_id)
    assert spool.read_meta().ended_at == figures.ended_at
    kept = sorted(s.seq for path in spool.segments() for s in spool.read_segment(path))
    assert kept == list(range(figures.samples_taken))
    assert api.finished == {}
    assert "upload failed" in out.getvalue()

    # The next start delivers them to the old run, then finishes it with the saved end time.
    api.failing_suffixes.clear()
    sampler = ScriptedSampler([10.0])
    monitor, _ = make_monitor(api, tmp_path, sampler)
    second = await run_until(monitor, sampler, 3)
    assert api.seqs(figures.run_id) == kept
    assert api.finished[figures.run_id] == figures.ended_at.isoformat()
    assert second.finished
    assert list(Spool(tmp_path).run_dirs()) == []


async def test_when_only_the_finish_fails_the_next_start_finishes_the_run(tmp_path: Path) -> None:
    api = FakeApi(failing_suffixes={"/finish"})
    sampler = ScriptedSampler([10.0])
    monitor, out = make_monitor(api, tmp_path, sampler)
    figures = await run_until(monitor, sampler, 5)
    assert not figures.finished
    assert figures.samples_kept == 0
    assert figures.samples_stored == figures.samples_taken
    assert "could not finish the run" in out.getvalue()
    assert RunSpool(tmp_path, figures.run_id).read_meta().ended_at == figures.ended_at

    api.failing_suffixes.clear()
    sampler = ScriptedSampler([10.0])
    monitor, _ = make_monitor(api, tmp_path, sampler)
    await run_until(monitor, sampler, 3)
    assert api.finished[figures.run_id] == figures.ended_at.isoformat()


async def test_spilled_samples_are_all_delivered_when_the_api_comes_back(tmp_path: Path) -> None:
    api = FakeApi()
    api.faults.extend(["ok", "ok"] + ["down"] * 6)  # login and create, then an outage
    sampler = ScriptedSampler([30.0, 70.0])
    monitor, _ = make_monitor(api, tmp_path, sampler, queue_size="4", batch_size="3", flush_timeout="5")
    figures = await run_until(monitor, sampler, 40)
    assert figures.finished
    assert api.seqs(figures.run_id) == list(range(figures.samples_taken))


async def test_wrong_password_is_an_authentication_error(tmp_path: Path) -> None:
    api = FakeApi()
    monitor, _ = make_monitor(api, tmp_path, ScriptedSampler([1.0]), password="wrong")
    with pytest.raises(AuthenticationError, match="refused the username and password"):
        await monitor.run()


async def test_no_api_is_unavailable_with_require_api(tmp_path: Path) -> None:
    api = FakeApi()
    api.faults.extend(["down"])
    monitor, _ = make_monitor(api, tmp_path, ScriptedSampler([1.0]), require_api="true")
    with pytest.raises(ApiUnavailableError, match=r"cannot connect to http://api\.test"):
        await monitor.run()


class BrokenDownSampler(ScriptedSampler):
    def read(self) -> Reading:
        total = super().read().cpu_percent
        parts = {
            "user_percent": total * 0.75,
            "system_percent": total * 0.25,
            "max_core_percent": min(100.0, total * 4),
        }
        return Reading(total, parts)


async def test_duration_stops_by_itself_and_the_breakdown_reaches_the_api(tmp_path: Path) -> None:
    api = FakeApi()
    sampler = BrokenDownSampler([10.0, 30.0])
    monitor, _ = make_monitor(api, tmp_path, sampler, duration="0.3", threshold_on="core")
    figures = await asyncio.wait_for(monitor.run(), 10)  # no signal: --duration ends it
    run_id = api.runs_created[0]["id"]
    assert figures.finished
    assert 1 <= figures.samples_taken <= 7  # 0.3 s at 0.05 s, the start included: never more
    first = api.stored[run_id][0]
    assert (first["user_percent"], first["max_core_percent"]) == (7.5, 40.0)
    assert figures.max_core_percent == (100.0 if figures.samples_taken > 1 else 40.0)
    assert figures.threshold_on == "core"


async def test_a_run_started_while_the_api_is_down_is_created_and_complete_once_it_answers(tmp_path: Path) -> None:
    api = FakeApi()
    api.faults.extend(["down"] * 4)  # the start's login, then the uploader's first attempts
    sampler = ScriptedSampler([30.0, 70.0])
    monitor, out = make_monitor(api, tmp_path, sampler, queue_size="4", batch_size="3", flush_timeout="5")
    figures = await run_until(monitor, sampler, 30)
    assert len(api.runs_created) == 1
    run_id = api.runs_created[0]["id"]
    assert figures.run_id == run_id
    assert figures.finished
    assert api.seqs(run_id) == list(range(figures.samples_taken))
    assert api.runs_created[0]["hostname"] == "testhost"
    text = out.getvalue()
    assert "(not created at the API yet)" in text
    assert len([line for line in text.splitlines() if "does not answer" in line and "recording anyway" in line]) == 1
    assert re.search(
        rf"run [0-9a-f-]{{36}} \({re.escape(api.runs_created[0]['name'])}\) created at \S+ as {run_id}", text
    )
    assert list(Spool(tmp_path).run_dirs()) == []


async def test_a_lost_answer_to_the_creation_does_not_create_a_second_run(tmp_path: Path) -> None:
    api = FakeApi()
    # Login down; then the uploader's lookup (nothing), a creation whose answer is lost, a lookup that finds it.
    api.faults.extend(["down", "ok", "stored-then-503"])
    sampler = ScriptedSampler([30.0])
    monitor, _ = make_monitor(api, tmp_path, sampler, flush_timeout="5")
    figures = await run_until(monitor, sampler, 10)
    assert len(api.runs_created) == 1
    assert figures.finished
    assert api.seqs(figures.run_id) == list(range(figures.samples_taken))


async def test_a_run_recorded_while_the_api_stayed_down_is_created_by_the_next_start(tmp_path: Path) -> None:
    api = FakeApi(failing_suffixes={"/login", "/api/test-runs"})
    sampler = ScriptedSampler([10.0])
    monitor, _ = make_monitor(api, tmp_path, sampler, batch_size="2")
    figures = await run_until(monitor, sampler, 5)
    assert not figures.finished
    assert figures.samples_kept == figures.samples_taken
    (spooled,) = Spool(tmp_path).run_dirs()
    meta = spooled.read_meta()
    assert meta.create is not None
    assert meta.create.hostname == "testhost"
    assert meta.api_id is None
    assert meta.ended_at == figures.ended_at

    api.failing_suffixes.clear()
    sampler = ScriptedSampler([10.0])
    monitor, _ = make_monitor(api, tmp_path, sampler, run_name="second")  # the default name may be the same
    await run_until(monitor, sampler, 3)
    (old_run,) = [run for run in api.runs_created if run["name"] == meta.name]
    assert old_run["started_at"] == meta.started_at.isoformat()
    assert api.seqs(old_run["id"]) == list(range(figures.samples_taken))
    assert api.finished[old_run["id"]] == figures.ended_at.isoformat()
    assert len(api.runs_created) == 2  # the old run once, and this start's own
    assert list(Spool(tmp_path).run_dirs()) == []


async def test_wrong_credentials_met_once_the_api_answers_end_with_exit_3_and_keep_the_samples(tmp_path: Path) -> None:
    api = FakeApi()
    api.faults.extend(["down"])
    sampler = ScriptedSampler([10.0])
    monitor, _ = make_monitor(api, tmp_path, sampler, password="wrong")
    task = asyncio.create_task(monitor.run())
    with pytest.raises(AuthenticationError, match="refused the username and password") as caught:
        await asyncio.wait_for(task, 10)
    assert "kept in" in caught.value.message
    assert api.runs_created == []
    (spooled,) = Spool(tmp_path).run_dirs()
    kept = [s.seq for path in spooled.segments() for s in spooled.read_segment(path)]
    assert kept == list(range(sampler.taken))
