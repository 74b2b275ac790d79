"""`RUN` on the command line: a full run id, a unique prefix of one, or `latest`."""

from __future__ import annotations

import itertools
import string
import uuid

from cpumon.errors import CpumonError
from cpumon.review.client import ReviewClient, Run, RunNotFoundError

LATEST = "latest"
RUN_HELP = "a run id, a unique prefix of one (as `cpumon runs` shows it), or `latest`"
SHOWN_CANDIDATES = 3
# This many hex digits hold a run id's creation time to the millisecond and one random digit.
NEARLY_UNIQUE = 13
_HEX = frozenset(string.hexdigits.lower())


def normalise(text: str) -> str:
    """Lower case without dashes: how ids and prefixes are compared."""
    return text.strip().lower().replace("-", "")


async def resolve_run(client: ReviewClient, given: str, *, threshold: float | None = None) -> Run:
    """The run `given` names, with its summary; RunNotFoundError / CpumonError (exit 1) otherwise."""
    wanted = given.strip()
    if wanted.lower() == LATEST:
        page = await client.list_runs(limit=1)
        if not page.items:
            raise RunNotFoundError("no runs yet: start one with `cpumon`")
        return await client.run(page.items[0].id, threshold=threshold)
    if _is_full_id(wanted):
        return await client.run(str(uuid.UUID(wanted)), threshold=threshold)
    prefix = normalise(wanted)
    if not prefix or not set(prefix) <= _HEX:
        raise RunNotFoundError(
            f"{given!r} is not a run id: give an id or a prefix of one (see `cpumon runs`), or latest"
        )
    matches = [run async for run in client.all_runs() if normalise(run.id).startswith(prefix)]
    if not matches:
        raise RunNotFoundError(f"no run id starts with {given!r} among your runs (see `cpumon runs`)")
    if len(matches) > 1:
        shown = ", ".join(f"{run.id} ({run.name})" for run in matches[:SHOWN_CANDIDATES])
        more = f" and {len(matches) - SHOWN_CANDIDATES} more" if len(matches) > SHOWN_CANDIDATES else ""
        raise CpumonError(f"{given!r} matches {len(matches)} runs: {shown}{more}; type more of the id")
    return await client.run(matches[0].id, threshold=threshold)


def _is_full_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def short_ids(ids: list[str], *, among: list[str] | None = None, minimum: int = 8) -> dict[str, str]:
    """For each of `ids`, its shortest prefix (at least `minimum` hex digits) that no other id of `among` shares.

    Run ids are UUIDv7: their first 12 hex digits are the creation time in ms, so runs started close
    together share long prefixes; the prefix grows as far as needed, never beyond the full id.
    """
    keys = {run_id: normalise(run_id) for run_id in ids}
    ordered = sorted(set(keys.values()) | {normalise(run_id) for run_id in among or ()})
    shared: dict[str, int] = dict.fromkeys(ordered, 0)
    for left, right in itertools.pairwise(ordered):
        common = _common_length(left, right)
        shared[left] = max(shared[left], common)
        shared[right] = max(shared[right], common)
    return {run_id: _prefix_of(run_id, max(minimum, shared[key] + 1)) for run_id, key in keys.items()}


def _common_length(left: str, right: str) -> int:
    n = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        n += 1
    return n


def _prefix_of(run_id: str, hex_digits: int) -> str:
    """The start of `run_id` (dashes kept) that holds `hex_digits` hex digits."""
    seen = 0
    for position, char in enumerate(run_id):
        if char != "-":
            seen += 1
            if seen == hex_digits:
                return run_id[: position + 1]
    return run_id
