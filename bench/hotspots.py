"""`python -m bench.hotspots FILE [--top N] [--filter TEXT]`: read a py-spy raw profile (`--profile DIR`).

Prints the functions with the most samples inclusive (on the stack) and exclusive (on top of it),
as a share of all samples: the evidence for where a workload's server time goes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3.", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})"


def summarize(path: Path, top: int, needle: str | None) -> str:
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";")[1:]]  # the first frame is the process
        if needle and not any(needle in f for f in frames):
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            exclusive[frames[-1]] += count
    lines = [f"{path.name}: {total} samples"]
    for title, counter in (("inclusive", inclusive), ("exclusive", exclusive)):
        lines.append(f"-- {title}")
        lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)] if total else []
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotspots", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--filter", help="only stacks with a frame containing this text")
    args = parser.parse_args(argv)
    for file in args.files:
        print(summarize(file, args.top, args.filter))
    return 0


if __name__ == "__main__":
    sys.exit(main())
