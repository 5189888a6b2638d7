"""The machine and software a benchmark run's numbers came from: CPU model, cores, memory,
load average, versions, BLAS threads, the git revision and the date."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total_bytes() -> int | None:
    """Physical memory from /proc/meminfo (Linux); None elsewhere."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def git_revision() -> str:
    """Short hash of the checked-out revision, ``+dirty`` if tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY_ROOT,
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return None


def machine_info() -> dict[str, Any]:
    """The machine and software the numbers came from (``date_utc`` is when this was called)."""
    import eiesim

    info: dict[str, Any] = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_total_bytes": memory_total_bytes(),
        "load_average_start": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "eiesim": eiesim.__version__,
        "git_revision": git_revision(),
    }
    for module in ("numpy", "scipy", "numba", "pandas", "simpy", "matplotlib"):
        info[module] = _version(module)
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{key: pool.get(key) for key in ("internal_api", "version",
                                                         "num_threads", "architecture")}
                        for pool in threadpool_info()]
    except ImportError:
        info["blas"] = None
    return info
