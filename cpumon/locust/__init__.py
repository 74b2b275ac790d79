"""cpumon inside a Locust load test: `import cpumon.locust` in a locustfile is all it takes.

Importing this package adds the --cpumon-* options to Locust and, on the master (or a local
runner), shows each monitored host's CPU in a "System under test" tab, warns on the console when
a host goes above its threshold, adds a table to Locust's end summary, HTML report and CSV files,
and fails the run (exit code 5) when a host spent more than --cpumon-max-above seconds above it.
"""

from __future__ import annotations

from locust import events

from cpumon.locust.plugin import on_init
from cpumon.locust_options import add_options

events.init_command_line_parser.add_listener(add_options)
events.init.add_listener(on_init)
