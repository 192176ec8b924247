"""Heartbeats of the trials one process runs, so other processes can tell live trials from dead ones."""

from __future__ import annotations

import threading

from optuna.trial import TrialState

from invdesign.studies.optuna_internals import heartbeats_enabled


class TrialHeartbeats:
    """Record a heartbeat every ``heartbeat_interval`` seconds for each trial added, while RUNNING.

    A no-op on storages without heartbeats. Use as a context manager around the trials; call
    :meth:`add` right after a trial is opened (it records the first heartbeat at once).

    Parameters
    ----------
    storage : optuna storage
    """

    def __init__(self, storage) -> None:
        self.storage = storage
        self.enabled = heartbeats_enabled(storage)
        self.ids: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        """Beat for this trial (now, and every interval until it is finished)."""
        if self.enabled:
            self.ids.add(trial_id)
            self.storage.record_heartbeat(trial_id)

    def _beat(self) -> None:
        interval = self.storage.get_heartbeat_interval() or 10
        while not self._stop.wait(interval):
            for tid in list(self.ids):
                try:
                    if self.storage.get_trial(tid).state != TrialState.RUNNING:
                        self.ids.discard(tid)
                        continue
                except Exception:  # noqa: BLE001 - the storage is away; the trial will say so
                    continue
                self.storage.record_heartbeat(tid)

    def __enter__(self) -> "TrialHeartbeats":
        if self.enabled:
            self._thread = threading.Thread(target=self._beat, daemon=True, name="invdesign-heartbeat")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
