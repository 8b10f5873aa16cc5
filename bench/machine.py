"""Facts about the machine a benchmark runs on, the process's peak resident memory, and the
min / median / max every benchmark prints for a figure measured more than once."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
from collections.abc import Iterable
from datetime import UTC, datetime


def memory_gib() -> float:
    """Total physical memory in GiB (from ``/proc/meminfo``, else ``sysconf``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def cpu_model() -> str:
    """The CPU's model name, or the architecture when it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, e.g. ``"1.52 0.98 0.71"`` (``"?"`` if unknown).

    On a machine shared with other work this is what tells a noisy figure from a slow change.
    """
    try:
        return " ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "?"


def describe() -> str:
    """One line: date, cores, memory, CPU, Python, OS and the load average at this moment."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return (
        f"{now}; {os.cpu_count()} cores ({cpu_model()}), {memory_gib():.1f} GiB memory; "
        f"{python}; {platform.system()} {platform.release()}; load average {load_average()}"
    )


def spread(values: Iterable[float], digits: int = 2, unit: str = "") -> str:
    """``min / median / max`` of repeated measurements, e.g. ``"1.02 / 1.10 / 1.31 s"``.

    Args:
        values: the measurements (at least one).
        digits: decimals printed.
        unit: appended after the three figures (with a space) when given.
    """
    ordered = sorted(values)
    figures = (ordered[0], statistics.median(ordered), ordered[-1])
    text = " / ".join(f"{figure:,.{digits}f}" for figure in figures)
    return f"{text} {unit}" if unit else text


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def header(title: str) -> None:
    """Print a benchmark's title and the machine it runs on."""
    print(f"== {title}")
    print(f"   {describe()}")
