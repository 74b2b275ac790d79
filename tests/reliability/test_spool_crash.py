"""Crash safety of the agent's spool: SIGKILL mid-run, then damaged spool files.

A SIGKILLed agent runs no cleanup. What it had sent is stored; what it had spooled is delivered by
the next start (which finishes the run at its last sample); what was only in its memory is lost.
The tests measure that loss (the samples taken after the last stored one: one per interval from its
timestamp to the kill) and check that what is stored is a gap-free prefix 0..m-1 of the seqs, each
exactly once.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cpumon.spool import RunSpool, segment_seqs
from tests.e2e.conftest import AgentProcess, ApiReader, ServerProcess, agent_env, wait_for

pytestmark = pytest.mark.e2e

StartAgent = Callable[[dict[str, str]], AgentProcess]
INTERVAL = 0.05
FLUSH = 0.5
QUEUE = 1000  # far more than a flush interval: what waits in memory during an outage is bounded by that
BATCH = 10


def sigkill(agent: AgentProcess, *, after: float = 0.0) -> dt.datetime:
    """SIGKILL `after` seconds from now (the worst moment: just before the next flush or spill)."""
    if after:
        until = time.monotonic() + after
        wait_for(lambda: time.monotonic() >= until, within=after + 1, what="the moment to kill", every=0.005)
    agent.process.send_signal(signal.SIGKILL)
    killed_at = dt.datetime.now(dt.UTC)
    agent.process.wait(timeout=10)
    return killed_at


def taken_before(api: ApiReader, run_id: str, killed_at: dt.datetime) -> int:
    """Samples the agent had taken when it died: the last stored one, then one per interval after it.

    Counted from the last stored sample rather than the run's start, so a schedule that fell behind on
    a busy machine (or skipped ticks) does not show up as a loss.
    """
    last = max(api.samples(run_id), key=lambda item: int(item["seq"]))
    last_at = dt.datetime.fromisoformat(str(last["recorded_at"]))
    return int(last["seq"]) + 1 + math.floor((killed_at - last_at).total_seconds() / INTERVAL)


def stored_seqs(api: ApiReader, run_id: str) -> list[int]:
    return sorted(int(item["seq"]) for item in api.samples(run_id))


def deliver_with_a_new_start(start_agent: StartAgent, env: dict[str, str], old_run: str) -> AgentProcess:
    agent = start_agent(env)
    agent.wait_output(rf"run {old_run} \(.*\) completed")
    agent.process.send_signal(signal.SIGTERM)
    assert agent.wait_exit() == 0, agent.stderr
    return agent


def env_for(server: ServerProcess, spool: Path, **extra: str) -> dict[str, str]:
    return agent_env(
        server.url,
        spool,
        CPUMON_INTERVAL=str(INTERVAL),
        CPUMON_FLUSH_INTERVAL=str(FLUSH),
        CPUMON_BATCH_SIZE=str(BATCH),
        CPUMON_QUEUE_SIZE=str(QUEUE),
        **extra,
    )


def test_sigkill_while_uploading_loses_at_most_one_flush_interval(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    env = env_for(cpumon_server, tmp_path / "spool")
    agent = start_agent(env)
    run_id = agent.run_id()
    api = cpumon_server.client()
    wait_for(lambda: api.stored_count(run_id) >= 40, within=30, what="40 stored samples")
    killed_at = sigkill(agent, after=0.9 * FLUSH)  # an upload just happened: kill just before the next
    deliver_or_drop = start_agent(env)  # the next start tidies the spool (nothing is there to deliver)
    deliver_or_drop.wait_output(r"recording run")
    deliver_or_drop.process.send_signal(signal.SIGTERM)
    assert deliver_or_drop.wait_exit() == 0

    seqs = stored_seqs(api, run_id)
    assert seqs == list(range(len(seqs)))  # a gap-free prefix, each once
    lost = taken_before(api, run_id, killed_at) - len(seqs)
    per_flush = math.ceil(FLUSH / INTERVAL)
    print(f"\nSIGKILL while uploading: {len(seqs)} stored, {lost} lost; one flush interval = {per_flush} samples")
    # One flush interval of samples, plus one for the sample being taken and one for timer slack.
    assert 0 <= lost <= per_flush + 2


def crash_during_outage(
    server: ServerProcess, start_agent: StartAgent, spool: Path
) -> tuple[str, dict[str, str], dt.datetime]:
    """An agent that spilled to the spool while the API was down, then SIGKILLed; the API back up."""
    env = env_for(server, spool)
    agent = start_agent(env)
    run_id = agent.lose_the_api(server, stored=10, within=30, kill=True)
    run_spool = RunSpool(spool, run_id)
    wait_for(lambda: len(run_spool.segments()) >= 4, within=30, what="4 spooled segments")
    killed_at = sigkill(agent, after=0.9 * FLUSH)  # a spill just happened: kill just before the next
    server.start()
    return run_id, env, killed_at


def test_sigkill_during_an_outage_keeps_the_spool_and_loses_only_memory(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    old_run, env, killed_at = crash_during_outage(cpumon_server, start_agent, spool)
    on_disk = sum(len(RunSpool(spool, old_run).read_segment(p)) for p in RunSpool(spool, old_run).segments())
    second = deliver_with_a_new_start(start_agent, env, old_run)
    assert "did not stop cleanly" in second.stdout

    api = cpumon_server.client()
    seqs = stored_seqs(api, old_run)
    assert seqs == list(range(len(seqs)))  # what was sent and what was spooled: gap-free, each once
    taken = taken_before(api, old_run, killed_at)
    lost = taken - len(seqs)
    run = api.run(old_run)
    assert run["ended_at"] is not None  # finished at its last delivered sample
    assert dt.datetime.fromisoformat(run["ended_at"]) == dt.datetime.fromisoformat(run["summary"]["last_sample_at"])
    print(f"\nSIGKILL during an outage: {taken} taken, {on_disk} were on disk, {len(seqs)} stored, {lost} lost")
    per_flush = math.ceil(FLUSH / INTERVAL)
    print(f"one flush interval = {per_flush} samples")
    # Lost: what was only in memory, at most one flush interval (plus the sample being taken and slack).
    assert 0 <= lost <= per_flush + 2
    assert not RunSpool(spool, old_run).path.exists()


def test_damaged_and_half_written_spool_files_are_skipped_with_one_line_each(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    old_run, env, _ = crash_during_outage(cpumon_server, start_agent, spool)
    run_spool = RunSpool(spool, old_run)
    segments = run_spool.segments()
    spooled = {s.seq for path in segments for s in run_spool.read_segment(path)}
    # One segment cut in half (a torn write), one with a byte changed (bit rot), one temp file left
    # by a crash between write and rename.
    torn, rotten = segments[1], segments[2]
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    data = bytearray(rotten.read_bytes())
    data[data.index(b'"samples":[[') + 12] ^= 0x01  # a digit of the first seq
    rotten.write_bytes(bytes(data))
    half_written = run_spool.path / f".{segments[-1].name}.4242.tmp"
    half_written.write_bytes(b'{"format":1,"kind":"samp')
    damaged: set[int] = set()
    for path in (torn, rotten):
        seqs = segment_seqs(path)
        assert seqs is not None
        damaged |= set(range(seqs[0], seqs[1] + 1))

    api = cpumon_server.client()
    before = set(stored_seqs(api, old_run))
    second = deliver_with_a_new_start(start_agent, env, old_run)
    out = second.stdout
    for path in (torn, rotten):
        lines = [line for line in out.splitlines() if path.name in line]
        assert len(lines) == 1, out  # reported in one line
        assert re.search(r"WARNING  skipped damaged spool file", lines[0])
    assert len([line for line in out.splitlines() if half_written.name in line]) == 1, out

    stored = stored_seqs(api, old_run)
    assert len(stored) == len(set(stored))  # nothing twice
    assert set(stored) == before | (spooled - damaged)  # every intact spooled sample delivered
    assert not set(stored) & (damaged - before)  # nothing of the damaged files is invented
    corrupt = {p.name for p in (spool / "corrupt").iterdir()}
    ours = {f"{old_run}-{path.name.lstrip('.')}" for path in (torn, rotten, half_written)}
    assert ours <= corrupt, sorted(corrupt)  # kept for a human to look at
    # Anything more is a temporary file the SIGKILL itself cut short: on busy cores it can land during a spill.
    assert all(name.startswith(old_run) and name.endswith(".tmp") for name in corrupt - ours), sorted(corrupt)
