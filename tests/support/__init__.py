"""Helpers shared by the tests and the benchmarks (`python -m bench` imports them from the checkout)."""
