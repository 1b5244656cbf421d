"""The thread count a network uses when none is given: a property of the machine."""
from __future__ import annotations

import os


def default_threads() -> int:
    """The CPUs this process may run on: n_threads=None's value."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
