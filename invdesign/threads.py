"""How many CPU threads a design uses: the cores that are free, checked again while it runs.

On a shared machine a torch job with more threads than free cores loses far more than its share
(every small kernel waits for its slowest thread; measured 9.5x slower beside another torch job).
So the count is picked from the cores this process may use (CPU affinity and a cgroup CPU quota)
minus the cores other processes keep busy (``/proc/stat`` busy time less this process's own CPU
time; the 1-minute load average where ``/proc/stat`` is absent), and checked again every
``recheck_s`` seconds while a design runs.

Precedence: an explicit count (``--threads N``, ``design(threads=N)``, the dashboard's field) over
the environment variable ``INVDESIGN_THREADS`` (a count, or ``auto``) over the automatic choice.
The count is set through :func:`objectives.threads.set_threads` (safe beside other threads) and
put back when the design ends.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from objectives.threads import base_threads, set_threads

__all__ = ["ENV", "ThreadPolicy", "busy_elsewhere", "free_cores", "parse_threads", "refresh",
           "usable_cores"]

ENV = "INVDESIGN_THREADS"
_log = logging.getLogger(__name__)
_ACTIVE = threading.local()


def parse_threads(value) -> int | None:
    """A requested count: a positive int, or ``None`` for automatic (``None``, ``0``, ``"auto"``).

    Raises
    ------
    ValueError
        Anything else (negative, not a number), with the value in the message.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    try:
        n = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ValueError(f"threads must be a positive integer or 'auto', got {value!r}") from None
    if isinstance(value, float) and value != n or n < 0:
        raise ValueError(f"threads must be a positive integer or 'auto', got {value!r}")
    return n or None


def _affinity() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` quota (None when unlimited or unknown)."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(float(quota) / float(period), 1.0)
    except (ValueError, ZeroDivisionError):
        return None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup quota."""
    aff = _affinity()
    n = len(aff) if aff else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    return max(1, min(n, math.floor(quota)) if quota else n)


def _busy_jiffies(cpus: set[int] | None, path: Path = Path("/proc/stat")) -> float | None:
    """Busy CPU time (seconds) of ``cpus`` (all when None) since boot, from ``/proc/stat``."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0.0
    found = False
    for line in lines:
        name, *vals = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            idx = int(name[3:])
        except ValueError:
            continue
        if cpus is not None and idx not in cpus:
            continue
        v = [float(x) for x in vals[:8]] + [0.0] * max(0, 8 - len(vals))
        # user nice system idle iowait irq softirq steal: busy = all but idle and iowait
        busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
        found = True
    return busy / hz if found else None


@dataclass
class _Sample:
    wall: float
    busy: float | None
    own: float


def _sample() -> _Sample:
    return _Sample(time.monotonic(), _busy_jiffies(_affinity()), time.process_time())


def _busy_between(a: _Sample, b: _Sample) -> float:
    dt = b.wall - a.wall
    if dt <= 0:
        return 0.0
    own_rate = (b.own - a.own) / dt
    if a.busy is not None and b.busy is not None:
        return max(0.0, (b.busy - a.busy) / dt - own_rate)
    try:  # no /proc/stat: the load average, less what this process itself used
        return max(0.0, os.getloadavg()[0] - own_rate)
    except (AttributeError, OSError):
        return 0.0


def busy_elsewhere(window_s: float = 0.2) -> float:
    """Cores kept busy by other processes (on this process's cores), averaged over ``window_s``."""
    start = _sample()
    time.sleep(window_s)
    return _busy_between(start, _sample())


def free_cores(busy: float | None = None) -> int:
    """Cores free for this process (>= 1): usable cores less those busy elsewhere (rounded)."""
    usable = usable_cores()
    busy = busy_elsewhere() if busy is None else busy
    return max(1, min(usable, math.floor(usable - busy + 0.5)))


@dataclass
class ThreadPolicy:
    """The thread count of a design: fixed, or re-picked from the free cores while it runs.

    Use as a context manager around a design: it sets the count on entry (and makes itself the
    policy :func:`refresh` re-checks in this thread) and puts the previous count back on exit.

    Parameters
    ----------
    requested : int, str or None
        A count (>= 1), or ``None`` / ``0`` / ``"auto"``: the environment's ``INVDESIGN_THREADS``
        if set, else automatic.
    recheck_s : float
        Seconds between automatic re-checks (:meth:`refresh`).
    window_s : float
        Length of the first look at the machine (later checks average over the time since the
        previous one).
    """

    requested: int | str | None = None
    recheck_s: float = 10.0
    window_s: float = 0.2
    threads: int = 0
    source: str = ""
    _fixed: int | None = field(default=None, repr=False)
    _last: _Sample | None = field(default=None, repr=False)
    _previous: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        fixed = parse_threads(self.requested)
        self.source = "option"
        if fixed is None:
            env = os.environ.get(ENV)
            try:
                fixed = parse_threads(env)
            except ValueError:
                raise ValueError(f"{ENV}={env!r}: give a positive integer or 'auto'") from None
            self.source = "environment" if fixed is not None else "auto"
        self._fixed = fixed

    @property
    def automatic(self) -> bool:
        return self._fixed is None

    def pick(self) -> int:
        """Choose the count now (does not apply it)."""
        if self._fixed is not None:
            return self._fixed
        if self._last is None:  # first pick: a short look at the machine
            self._last = _sample()
            time.sleep(self.window_s)
        now = _sample()
        busy = _busy_between(self._last, now)  # since the last pick: a running design's interval
        self._last = now
        return free_cores(busy)

    def apply(self) -> int:
        """Pick and set the count (through :func:`objectives.threads.set_threads`); return it."""
        n = self.pick()
        if n != self.threads:
            if self.threads:
                _log.info("torch threads %d -> %d (free cores changed)", self.threads, n)
            set_threads(n)
            self.threads = n
        return n

    def refresh(self) -> int:
        """Re-pick and set the count if automatic and ``recheck_s`` have passed since the last pick."""
        if self.automatic and self._last is not None and time.monotonic() - self._last.wall >= self.recheck_s:
            return self.apply()
        return self.threads

    def __enter__(self) -> "ThreadPolicy":
        self._previous = base_threads()
        self.apply()
        stack = getattr(_ACTIVE, "stack", None)
        if stack is None:
            stack = _ACTIVE.stack = []
        stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.stack.remove(self)
        if self._previous is not None:
            set_threads(self._previous)


def refresh() -> int | None:
    """Re-check the thread count of the design running in this thread (if any); return it."""
    stack = getattr(_ACTIVE, "stack", None)
    return stack[-1].refresh() if stack else None
