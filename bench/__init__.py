"""cpumon's benchmark suite: `python -m bench` (or `nox -s bench`). See bench/README.md."""
