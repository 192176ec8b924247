"""The proposal lock: one process at a time proposes and opens trials of a study.

Proposals depend on the trials that exist (initial-design index, pending conditions), and opening a
trial with fixed conditions is an ``enqueue_trial`` followed by an ``ask``; both must happen as one
step, or two processes starting together propose the same condition or take each other's queued
trial. Which lock depends on the storage:

- journal file opened by :func:`invdesign.studies.storage.open_storage`, or SQLite: ``flock`` on
  ``<file>.propose.lock`` (every process on the machine);
- PostgreSQL: a session advisory lock keyed by the study name (every process on every machine);
- anything else (in-memory storage, MySQL, a storage object of unknown kind): a lock shared by the
  threads of this process only.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from invdesign.studies.optuna_internals import backend_of

__all__ = ["ProposalLock", "backend_of", "lock_file"]

_PROCESS_LOCKS: dict[tuple[int, str], threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def lock_file(storage: Any) -> Path | None:
    """The lock file next to a file-based storage (journal or SQLite), or None."""
    storage = backend_of(storage)
    path = getattr(storage, "lock_path", None)
    if path is not None:
        return Path(path)
    engine = getattr(storage, "engine", None)
    if engine is not None and engine.dialect.name == "sqlite" and engine.url.database:
        return Path(f"{engine.url.database}.propose.lock")
    return None


class ProposalLock:
    """Context manager held while trials are proposed and opened (see the module docstring).

    Parameters
    ----------
    storage : optuna storage
        The study's storage object.
    study_name : str
        Studies of one storage lock independently.
    """

    def __init__(self, storage: Any, study_name: str) -> None:
        self.path = lock_file(storage)
        engine = getattr(backend_of(storage), "engine", None)
        self.engine = engine if engine is not None and engine.dialect.name == "postgresql" else None
        self.key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
        with _PROCESS_LOCKS_GUARD:
            self._thread_lock = _PROCESS_LOCKS.setdefault((id(storage), study_name), threading.Lock())
        self._conn = None
        self._fh = None

    def __enter__(self) -> "ProposalLock":
        self._thread_lock.acquire()
        try:
            if self.path is not None:
                import fcntl

                self._fh = open(self.path, "a")
                fcntl.flock(self._fh, fcntl.LOCK_EX)
            elif self.engine is not None:
                import sqlalchemy

                self._conn = self.engine.connect()
                self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        try:
            if self._fh is not None:
                import fcntl

                fcntl.flock(self._fh, fcntl.LOCK_UN)
                self._fh.close()
            if self._conn is not None:
                import sqlalchemy

                try:
                    self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                finally:
                    self._conn.close()
        finally:
            self._fh = self._conn = None
            self._thread_lock.release()
