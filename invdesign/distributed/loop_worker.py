"""Run trials of a study made by ``invdesign design`` (the design loop's settings) as one worker.

The loop's :func:`invdesign.loop.runner.run_trials` does the proposing (composite BO counting every
worker's RUNNING trials as pending), sampling, measuring and recording. This module adds what many
workers need around it: heartbeats for the trials this process opens (``study.ask`` is wrapped to
see them), failing other workers' stale trials before each trial, and clear errors when the
storage goes away.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState

SETTINGS_ATTR = "invdesign_settings"


def is_loop_study(study: optuna.Study) -> bool:
    """True for a study created by the design loop (``invdesign design``)."""
    return SETTINGS_ATTR in study.user_attrs


class TrialHeartbeats:
    """Record a heartbeat every interval for each RUNNING trial this process opened.

    Use as a context manager around the trials; :meth:`track` wraps ``study.ask``.
    """

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.storage = study._storage
        self.ids: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.enabled = is_heartbeat_enabled(self.storage)

    def track(self) -> None:
        ask = self.study.ask

        def tracked_ask(*args: Any, **kwargs: Any) -> optuna.Trial:
            trial = ask(*args, **kwargs)
            self.ids.add(trial._trial_id)
            if self.enabled:
                self.storage.record_heartbeat(trial._trial_id)
            return trial

        self.study.ask = tracked_ask  # type: ignore[method-assign]

    def _beat(self) -> None:
        assert isinstance(self.storage, BaseHeartbeat)
        interval = self.storage.get_heartbeat_interval() or 10
        while not self._stop.wait(interval):
            for tid in list(self.ids):
                try:
                    if self.storage.get_trial(tid).state != TrialState.RUNNING:
                        self.ids.discard(tid)
                        continue
                except Exception:
                    continue
                self.storage.record_heartbeat(tid)

    def __enter__(self) -> "TrialHeartbeats":
        self.track()
        if self.enabled:
            self._thread = threading.Thread(target=self._beat, daemon=True, name="invdesign-heartbeat")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class ProposalLock:
    """A lock shared by every worker of one study, held while a trial is proposed and opened.

    The loop's proposals depend on how many trials exist (initial design index, pending points)
    and open trials by enqueue + ask; without a lock two workers starting together propose the
    same condition or take each other's enqueued trial. PostgreSQL: a session advisory lock;
    journal file or SQLite: ``flock`` on ``<file>.propose.lock``; other databases: no lock.
    """

    def __init__(self, storage: Any, storage_url: str, study_name: str) -> None:
        from invdesign.distributed.storage import journal_path

        self.engine = getattr(storage, "engine", None)
        self.key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
        path = journal_path(storage_url)
        if path is None and storage_url.startswith("sqlite:///"):
            path = Path(storage_url[len("sqlite:///"):])
        self.path = None if path is None else Path(f"{path}.propose.lock")
        self._conn = None
        self._fh = None

    def __enter__(self) -> "ProposalLock":
        if self.path is not None:
            import fcntl

            self._fh = open(self.path, "a")
            fcntl.flock(self._fh, fcntl.LOCK_EX)
        elif self.engine is not None and self.engine.dialect.name == "postgresql":
            import sqlalchemy

            self._conn = self.engine.connect()
            self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            import fcntl

            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
        if self._conn is not None:
            import sqlalchemy

            try:
                self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            finally:
                self._conn.close()
                self._conn = None


def run_loop_trials(study: optuna.Study, generator: Any, n_trials: int, lock: ProposalLock,
                    on_trial=None) -> tuple[list[int], list[int]]:
    """Run ``n_trials`` trials of a design-loop study one at a time; return (completed, failed) numbers.

    Each trial: fail other workers' trials whose heartbeat stopped (their condition is then no
    longer pending, so the BO proposes that region again); under the proposal lock, propose and
    open the trial (the loop's ``open_trials``); sample, measure and record it (the loop's
    ``measure`` and ``_record``); a failure marks the trial FAIL and is raised.
    """
    import torch

    from invdesign.loop.measure import measure
    from invdesign.loop.proposers import batch_seed, open_trials
    from invdesign.loop.runner import _record, check_generator
    from invdesign.loop.study import Settings

    settings = Settings.from_study(study)
    space = check_generator(generator, settings)
    describe = getattr(generator, "describe_batch", None)
    completed: list[int] = []
    failed: list[int] = []
    with TrialHeartbeats(study):
        for _ in range(n_trials):
            optuna.storages.fail_stale_trials(study)
            with lock:
                (trial, x), = open_trials(study, space, settings, 1)
            seed = batch_seed(settings, trial.number) % (2**31)
            try:
                meas = measure(generator, torch.stack([x]), settings.samples_per_trial, seed, describe)
                _record(study, trial, meas, 0, settings, seed)
            except BaseException:
                if study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                    study.tell(trial, state=TrialState.FAIL)
                failed.append(trial.number)
                raise
            completed.append(trial.number)
            if on_trial is not None:
                on_trial(study._storage.get_trial(trial._trial_id))
    return completed, failed
