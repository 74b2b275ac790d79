"""How many live streams a worker holds, and for how long a stream may stop reading.

Each open stream costs its worker a task, a bounded queue and socket buffers, and each watched run a
poll of the database twice a second: so a worker holds at most `live_max_streams` streams, at most
`live_max_per_user` of them for one user, and answers 429 with Retry-After beyond. A client that
accepts no byte for `live_send_timeout` seconds is cut off (the gate of cpumon_backend/http/gate.py,
which the CSV export uses too), which frees its place; a client that goes away frees it at once.
"""

from __future__ import annotations

from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from litestar.types import Scope

from cpumon_backend.http.gate import GateLimits, Refusals, SlotGate, Slots
from cpumon_backend.settings import ServerSettings

#: A refused client waits 5 s (a stream ends when its page closes or its run ends); a full worker is a 429
#: too: the client may retry, nothing is wrong with the server.
LIVE_REFUSALS = Refusals(
    per_user="{limit} of your live streams are already open: close one or retry later",
    busy="server busy: too many live streams open",
    busy_status=HTTP_429_TOO_MANY_REQUESTS,
    retry_after_s=5,
)


def stream_slots(settings: ServerSettings) -> Slots:
    limits = GateLimits(settings.live_max_per_user, settings.live_max_streams, settings.live_send_timeout)
    return Slots(limits, LIVE_REFUSALS)


class LiveGate(SlotGate):
    """Route middleware of the live stream: takes a place (or answers 429) and cuts clients that stop reading."""

    what = "live stream"

    def slots(self, scope: Scope) -> Slots:
        slots: Slots = scope["litestar_app"].state.live_slots
        return slots
