"""Alembic migrations of the cpumon API, shipped in the wheel so `cpumon-server migrate` works anywhere."""

from pathlib import Path

#: Alembic's `script_location`: this package's folder, wherever it is installed.
MIGRATIONS_DIR = Path(__file__).resolve().parent
