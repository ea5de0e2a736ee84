#!/usr/bin/env python3
"""Run a command and report its wall time and the peak memory of its whole process tree.

GNU time reports the largest single process; a roomrec run spreads its memory over the
runner, one notebook kernel and that kernel's JVM, so this script sums the resident set
size (RSS, from /proc) of the command and all its descendants every half second.

    bench/peak_memory.py -- .venv/bin/roomrec run --params params/default.yaml
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def tree_rss_bytes(root: int) -> int:
    """Return the summed RSS of ``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue  # the process ended while we looked
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        rss[int(entry.name)] = int(statm[1]) * page
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.perf_counter()
    process = subprocess.Popen(argv)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(0.5)
    wall = time.perf_counter() - start
    print(f"exit status: {process.returncode}")
    print(f"wall time: {wall:.1f} s")
    print(f"peak memory of the process tree: {peak / 2**30:.2f} GiB")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
