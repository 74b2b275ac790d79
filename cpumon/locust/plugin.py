"""The plugin's shell: Locust options and listeners, the poller greenlet, the web tab and the end-of-test outputs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

import gevent
from flask import Blueprint, Response, make_response, request
from locust.env import Environment
from locust.runners import WorkerRunner

from cpumon import locust_figures, locust_report
from cpumon.api import ApiError
from cpumon.errors import CpumonError
from cpumon.locust import live_tab
from cpumon.locust.client import CpumonApi, plugin_settings
from cpumon.locust.phases import PhaseEvents
from cpumon.locust.timeline import Timeline, runs_of
from cpumon.locust_figures import HostFigures
from cpumon.locust_gate import NO_DATA_EXIT_CODE, gate_message, missing_data
from cpumon.locust_load import INTERVAL_S, MIN_INTERVAL_S, LoadSnapshot

logger = logging.getLogger("cpumon.locust")
# Locust prints its end-of-test summary through this logger: the table goes where the summary goes.
summary_logger = logging.getLogger("locust.stats_logger")

POLL_INTERVAL_S = 2.0  # as often as Locust's web UI refreshes its stats
SETTLE_S = 5.0  # at the end, how long to wait for the agents' last uploads
SETTLE_POLL_S = 0.25
GATE_EXIT_CODE = 5  # as the agent's --max-above gate
TAB_KEY = "cpumon"


class CpumonPlugin:
    """One per Locust master (or local runner): polls the API while a test runs and reports at the end."""

    def __init__(self, environment: Environment, api: CpumonApi | None) -> None:
        options = environment.parsed_options
        self.environment = environment
        self.api = api
        self.hosts = [h.strip() for h in (getattr(options, "cpumon_hosts", None) or "").split(",") if h.strip()]
        self.threshold: float | None = getattr(options, "cpumon_threshold", None)
        self.max_above: float | None = getattr(options, "cpumon_max_above", None)
        self.start: dt.datetime | None = None
        self.end: dt.datetime | None = None
        self.figures: list[HostFigures] = []
        self.above: dict[str, bool] = {}
        self.warned = False
        self.poller: gevent.Greenlet[Any, Any] | None = None
        self.ticker: gevent.Greenlet[Any, Any] | None = None
        self.final_table: str | None = None
        self.allow_missing: bool = bool(getattr(options, "cpumon_allow_missing", False))
        self.why_missing: str | None = None  # the last reason the API could not be read
        interval_s = getattr(options, "cpumon_interval", None) or INTERVAL_S
        self.timeline = Timeline(lambda: load_snapshot(environment), max(MIN_INTERVAL_S, interval_s))
        self.phases = PhaseEvents(api, self.hosts or None, self.warn_once) if api is not None else None

    def warn_once(self, message: str) -> None:
        self.why_missing = message
        if not self.warned:
            self.warned = True
            logger.warning("cpumon: %s; the load test goes on without it", message)

    def fetch(self, end: dt.datetime, *, settle_s: float = 0.0) -> list[HostFigures] | None:
        """The hosts' figures from the test's start to `end`; None (and one warning) when the API fails.

        With `settle_s`, waits up to that long for the agents' last uploads to cover `end`.
        """
        if self.api is None or self.start is None:
            return None
        deadline = time.monotonic() + settle_s
        try:
            windows = self.api.windows(self.hosts or None, self.start, end, self.threshold)
            while not locust_figures.settled(windows, end) and time.monotonic() < deadline:
                gevent.sleep(SETTLE_POLL_S)
                windows = self.api.windows(self.hosts or None, self.start, end, self.threshold)
            return locust_figures.combine(windows)
        except (CpumonError, ApiError) as exc:
            self.warn_once(exc.message)
        return None

    def tick(self) -> None:
        """Close an interval of the timeline every --cpumon-interval seconds (reads Locust's counters only)."""
        while True:
            gevent.sleep(self.timeline.interval_s)
            self.timeline.tick()

    def follow_load(self, *, final: bool = False) -> None:
        """Ask the CPU of the timeline's intervals whose samples are stored (all of them at the end)."""
        if self.api is None or self.start is None:
            return
        try:
            runs = runs_of(self.api, self.hosts or None, self.start, self.end or now())
            self.timeline.fill(self.api, runs, final=final)
        except (CpumonError, ApiError) as exc:
            self.warn_once(exc.message)

    def refresh(self) -> None:
        if self.phases is not None:
            self.phases.post_pending()
        self.follow_load()
        figures = self.fetch(now())
        if figures is None:
            return
        self.figures = figures
        self.above, warnings = locust_figures.newly_above(self.above, figures)
        for line in warnings:
            logger.warning(line)

    def poll(self) -> None:
        while True:
            self.refresh()
            gevent.sleep(POLL_INTERVAL_S)

    def on_test_start(self, **_: Any) -> None:
        self.start, self.end, self.figures, self.above = now(), None, [], {}
        self.timeline.start()
        if self.ticker is not None:
            self.ticker.kill(block=False)
        self.ticker = gevent.spawn(self.tick)
        if self.phases is not None:
            self.phases.test_start()
        if self.poller is None or self.poller.dead:
            self.poller = gevent.spawn(self.poll)

    def on_spawning_complete(self, user_count: int, **_: Any) -> None:
        if self.phases is not None and self.start is not None and self.end is None:
            self.phases.users_changed(user_count)

    def on_test_stop(self, **_: Any) -> None:
        self.end = now()
        if self.ticker is not None:
            self.ticker.kill(block=False)
        self.timeline.tick(final=True)
        if self.phases is not None:
            self.phases.test_stop()
        if self.poller is not None:
            self.poller.kill(block=False)

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        if self.poller is not None:
            self.poller.kill(block=True)
        if self.start is None:
            return
        end = self.end or now()
        if self.phases is not None:
            self.phases.post_pending()
        figures = self.fetch(end, settle_s=SETTLE_S)
        self.gate_on_missing_data(environment, figures)
        if figures is None:
            return
        self.follow_load(final=True)
        self.figures = figures
        self.final_table = locust_figures.text_table(figures, self.start, end) + "\n\n" + self.capacity().text()
        self.write_outputs(environment, figures, self.start, end)
        failures = locust_figures.too_hot(figures, self.max_above)
        for line in failures:
            logger.error(line)
        if failures and not environment.process_exit_code:
            environment.process_exit_code = GATE_EXIT_CODE

    def gate_on_missing_data(self, environment: Environment, figures: list[HostFigures] | None) -> None:
        """--cpumon-max-above without data to judge fails the run (its own exit code), unless allowed."""
        if self.max_above is None or self.allow_missing:
            return
        reason = missing_data(figures, self.hosts, self.why_missing)
        if reason is not None:
            logger.error(gate_message(reason))
            if not environment.process_exit_code:
                environment.process_exit_code = NO_DATA_EXIT_CODE

    def capacity(self) -> locust_report.CapacityView:
        """The capacity figures and charts of the hosts shown, over the timeline so far."""
        return locust_report.CapacityView.of(
            self.figures, self.timeline.intervals, self.phases.markers if self.phases else [], self.start, self.end
        )

    def write_outputs(
        self, environment: Environment, figures: list[HostFigures], start: dt.datetime, end: dt.datetime
    ) -> None:
        options = environment.parsed_options
        csv_prefix = getattr(options, "csv_prefix", None)
        view = self.capacity()
        if csv_prefix:
            table = locust_figures.csv_text(figures, start, end)
            Path(f"{csv_prefix}_cpumon.csv").write_text(table, encoding="utf-8")
            Path(f"{csv_prefix}_cpumon_capacity.csv").write_text(view.capacity_csv(), encoding="utf-8")
            Path(f"{csv_prefix}_cpumon_intervals.csv").write_text(view.intervals_csv(), encoding="utf-8")
        html_file = getattr(options, "html_file", None)
        if html_file and Path(html_file).is_file():  # Locust writes its report just before quitting
            report = Path(html_file)
            section = locust_figures.html_section(figures, start, end) + view.html_section()
            page = locust_figures.insert_before_body_end(report.read_text(encoding="utf-8"), section)
            report.write_text(page, encoding="utf-8")

    def on_quit(self, **_: Any) -> None:
        if self.final_table is not None:
            summary_logger.info("\n%s\n", self.final_table)
        if self.api is not None:
            self.api.close()

    def rows(self) -> list[dict[str, str]]:
        capacities = self.capacity().rows()
        return [{**figures.row(), **capacities.get(figures.host, {})} for figures in self.figures]

    def report_section(self) -> str:
        start = self.start or now()
        return locust_figures.html_section(self.figures, start, self.end or now()) + self.capacity().html_section()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def load_snapshot(environment: Environment) -> LoadSnapshot:
    """Locust's running totals now (on the master: the workers' reports added up)."""
    runner = environment.runner
    if runner is None:
        return LoadSnapshot(now(), 0, {}, 0)
    total = runner.stats.total
    return LoadSnapshot(now(), total.num_requests, dict(total.response_times), runner.user_count)


def extend_web_ui(plugin: CpumonPlugin, web_ui: Any) -> None:
    """The "System under test" tab: Locust's extended tab/table, its rows on each stats response, a CSV link."""
    args = web_ui.template_args
    args["extended_tabs"] = [*(args.get("extended_tabs") or []), {"title": "System under test", "key": TAB_KEY}]
    columns = [*locust_figures.COLUMNS, *locust_report.COLUMNS]
    structure = [{"key": key, "title": title} for key, title in columns]
    args["extended_tables"] = [*(args.get("extended_tables") or []), {"key": TAB_KEY, "structure": structure}]
    link = {"href": "./cpumon/csv", "title": "Download the system under test's CPU (cpumon) CSV"}
    args["extended_csv_files"] = [*(args.get("extended_csv_files") or []), link]

    @web_ui.app.after_request
    def add_figures(response: Response) -> Response:
        if request.path.endswith("/stats/requests") and response.is_json:
            body = response.get_json()
            extended = [*(body.get("extended_stats") or []), {"key": TAB_KEY, "data": plugin.rows()}]
            response.set_data(json.dumps({**body, "extended_stats": extended}))
        elif request.path.endswith("/stats/report") and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(locust_figures.insert_before_body_end(page, plugin.report_section()))
        elif request.path in {"/", ""} and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(locust_figures.insert_before_body_end(page, live_tab.SCRIPT_TAG))
        return response

    blueprint = Blueprint("cpumon", __name__, url_prefix="/cpumon")

    @blueprint.route("/csv")
    @web_ui.auth_required_if_enabled
    def figures_csv() -> Response:
        table = locust_figures.csv_text(plugin.figures, plugin.start or now(), plugin.end or now())
        response = make_response(table)
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = "attachment; filename=cpumon.csv"
        return response

    @blueprint.route("/charts")
    @web_ui.auth_required_if_enabled
    def charts() -> Response:
        response = make_response(plugin.capacity().live_fragment())
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        response.headers["Cache-Control"] = "no-store"
        return response

    @blueprint.route("/tab.js")
    def tab_script() -> Response:
        response = make_response(live_tab.SCRIPT)
        response.headers["Content-Type"] = "text/javascript; charset=utf-8"
        return response

    web_ui.app.register_blueprint(blueprint)


def on_init(environment: Environment, **_: Any) -> None:
    """Set the plugin up on the master or a local runner; a worker has nothing to watch."""
    if isinstance(environment.runner, WorkerRunner):
        return
    httpx_logger = logging.getLogger("httpx")
    if httpx_logger.level == logging.NOTSET:  # httpx logs every request at INFO: it would flood Locust's console
        httpx_logger.setLevel(logging.WARNING)
    options = environment.parsed_options
    api, why = None, None
    try:
        settings, password = plugin_settings(
            getattr(options, "cpumon_url", None), getattr(options, "cpumon_username", None)
        )
        api = CpumonApi(settings, password)
    except CpumonError as exc:
        logger.warning("cpumon: %s; the load test goes on without it", exc.message)
        why = exc.message
    plugin = CpumonPlugin(environment, api)
    plugin.warned = api is None
    plugin.why_missing = None if api is not None else why
    events = environment.events
    events.test_start.add_listener(plugin.on_test_start)
    events.test_stop.add_listener(plugin.on_test_stop)
    events.spawning_complete.add_listener(plugin.on_spawning_complete)
    events.quitting.add_listener(plugin.on_quitting)
    events.quit.add_listener(plugin.on_quit)
    if environment.web_ui is not None:
        extend_web_ui(plugin, environment.web_ui)
    catch_up_loop_clock()


def catch_up_loop_clock() -> None:
    """Bring gevent's cached loop time up to now, so start-up does not eat into --run-time.

    Locust arms its --run-time timer right after the init event with gevent.spawn_later, which counts
    from the time libev cached when the loop last ran: before the locustfile (and this plugin) was
    imported. On busy cores that start-up takes seconds, and a 4 s run stopped after 0.1 s.
    """
    gevent.get_hub().loop.update_now()
