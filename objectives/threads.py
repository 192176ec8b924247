"""torch's CPU thread count, shared safely by concurrent callers.

``torch.set_num_threads`` writes a process-wide default (the count every new thread starts with)
and the calling thread's own OpenMP count. A plain save / set / restore around a block is wrong as
soon as two threads do it at once: one restores while the other still runs limited, and a thread
created inside someone's block starts with the limited count and later "restores" it. Here every
change goes through one lock and one record:

- :func:`set_threads` sets the process count (the *base*): what a thread runs with outside any
  :func:`limit_threads` block, and what the default is left at when every block has ended;
- :func:`limit_threads` runs a block with at most ``n`` threads in the calling thread; its
  outermost exit sets the calling thread back to the base (never to a count it inherited from
  another thread's block), and the last block to end leaves the process default at the base.

Use these two instead of ``torch.set_num_threads`` in code that may run beside other threads (the
dashboard runs designs in a background thread; descriptor workers run volumes side by side).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

__all__ = ["base_threads", "limit_threads", "set_threads"]

_LOCK = threading.Lock()
_STATE = {"base": None, "active": 0}
_LOCAL = threading.local()


def _stack() -> list[int | None]:
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    return stack


def _base_locked() -> int:
    if _STATE["base"] is None or _STATE["active"] == 0 and not _stack():
        # nobody is limited: torch's own setting is the truth (it may have been set directly)
        _STATE["base"] = torch.get_num_threads()
    return int(_STATE["base"])


def base_threads() -> int:
    """The process's thread count outside :func:`limit_threads` blocks."""
    with _LOCK:
        return _base_locked()


def set_threads(n: int) -> int:
    """Make ``n`` (>= 1) the process's torch thread count; return the count before.

    Inside a :func:`limit_threads` block of the calling thread the block's limit still holds until
    it ends; other threads' blocks are not disturbed (their own count stays theirs).
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    with _LOCK:
        before = _base_locked()
        _STATE["base"] = n
        if not _stack():
            torch.set_num_threads(n)
        return before


@contextlib.contextmanager
def limit_threads(n: int | None) -> Iterator[int]:
    """Run the block with at most ``n`` torch threads in the calling thread (``None``: no limit).

    Yields the count in force inside the block. Safe beside other threads doing the same: when the
    outermost block of a thread ends, that thread runs at the base count again, and when the last
    block of the process ends the default for new threads is the base again.
    """
    stack = _stack()
    with _LOCK:
        base = _base_locked()
        # the outermost block restores the base as it is at exit (None); a nested one the count
        # of its enclosing block
        prev = torch.get_num_threads() if stack else base
        stack.append(None if not stack else prev)
        _STATE["active"] += 1
        now = prev if n is None else max(1, min(prev, int(n)))
        if now != torch.get_num_threads():
            torch.set_num_threads(now)
    try:
        yield now
    finally:
        with _LOCK:
            back = stack.pop()
            _STATE["active"] -= 1
            if back is None:  # outermost: also puts the default for new threads back at the base
                torch.set_num_threads(int(_STATE["base"]))
            elif back != torch.get_num_threads():
                torch.set_num_threads(back)
