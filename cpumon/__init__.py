"""cpumon: record a machine's CPU usage during test runs."""

__version__ = "0.1.0"
