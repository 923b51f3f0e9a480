"""Peak memory of the current process, for benchmarks that measure in a child.

Imports nothing heavy, so a measured child pays for it nothing.
"""

from __future__ import annotations

import re


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MiB.

    Not ``getrusage().ru_maxrss``: Linux carries ru_maxrss over from the parent
    across fork/vfork + exec, so a child started by a 600 MB parent reports
    600 MB however little it uses itself. VmHWM belongs to the process's own
    address space.
    """
    with open("/proc/self/status") as status:
        match = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    if match is None:
        raise RuntimeError("no VmHWM in /proc/self/status (the benchmarks need Linux)")
    return int(match.group(1)) / 1024.0
