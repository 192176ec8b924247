"""Every use of Optuna's private API, in one place, for the supported Optuna range only.

The study infrastructure needs a few things Optuna does not publish: the storage and ids behind a
``Study``/``Trial`` (to lock, beat and create trials in one storage call), the database under
Optuna's storage cache, whether a storage has heartbeats, and the private stale-trial hook that
:func:`optuna.storages.fail_stale_trials` calls (overridden here so that a RUNNING trial that never
recorded a heartbeat counts as stale, and so that journal files get heartbeats at all).

Nothing else in the project touches a name with a leading underscore from ``optuna``
(``tests/test_optuna_internals.py`` checks it). :data:`OPTUNA_RANGE` is the range these uses were
tested with; ``pyproject.toml`` pins the same range, and importing this module warns on an Optuna
outside it.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState

__all__ = [
    "OPTUNA_RANGE", "HEARTBEAT_ATTR", "HeartbeatJournalStorage", "HeartbeatRDBStorage", "backend_of",
    "create_running_trial", "first_line", "heartbeats_enabled", "in_supported_range", "storage_of",
    "study_id_of", "trial_id_of",
]

_log = logging.getLogger(__name__)

#: The Optuna versions this module was tested with, as in ``pyproject.toml``: ``(lowest, below)``.
OPTUNA_RANGE = ("4.9", "5.1")
#: Trial system attribute holding a journal trial's last heartbeat (seconds since the epoch).
HEARTBEAT_ATTR = "invdesign:heartbeat"


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def in_supported_range(version: str = optuna.__version__) -> bool:
    """Whether an Optuna version lies in :data:`OPTUNA_RANGE` (``lowest <= version < below``)."""
    return _version(OPTUNA_RANGE[0]) <= _version(version) < _version(OPTUNA_RANGE[1])


if not in_supported_range():
    warnings.warn(
        f"invdesign's study infrastructure was tested with optuna >={OPTUNA_RANGE[0]},<{OPTUNA_RANGE[1]}; "
        f"optuna {optuna.__version__} is installed and its private API may differ "
        "(see invdesign/studies/optuna_internals.py)", RuntimeWarning, stacklevel=2)


# ------------------------------------------------------------------ accessors
def storage_of(study: optuna.Study) -> Any:
    """The storage a study reads and writes (Optuna's cache over a database, or the storage)."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """The study's id in its storage."""
    return study._study_id


def trial_id_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """A trial's id in its storage (unique across the storage's studies; not ``trial.number``)."""
    return trial._trial_id


def backend_of(storage: Any) -> Any:
    """The storage itself, or the database storage under Optuna's cache (``study._storage``)."""
    return storage._backend if isinstance(storage, _CachedStorage) else storage


def heartbeats_enabled(storage: Any) -> bool:
    """Whether ``storage`` records heartbeats (a heartbeat storage with an interval set)."""
    return is_heartbeat_enabled(storage)


def create_running_trial(study: optuna.Study, template: optuna.trial.FrozenTrial) -> optuna.Trial:
    """Create a trial from ``template`` (state, params, distributions, user attrs) in one storage
    call and return it as an ``optuna.Trial`` of ``study`` (e.g. a RUNNING trial with its condition)."""
    storage = storage_of(study)
    return optuna.Trial(study, storage.create_new_trial(study_id_of(study), template))


# ------------------------------------------------------------------ heartbeat storages
def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


class HeartbeatRDBStorage(RDBStorage):
    """RDBStorage whose heartbeat thread logs one warning (not a traceback) if the database is away,
    and which counts a RUNNING trial that never recorded a heartbeat as stale (like the journal's)."""

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        from optuna.storages._rdb import models

        stale = list(super()._get_stale_trial_ids(study_id))
        running = [trial_id_of(t) for t in self.get_all_trials(study_id, deepcopy=False,
                                                                states=(TrialState.RUNNING,))]
        if running:
            session = self.scoped_session()
            try:
                beaten = {row[0] for row in session.query(models.TrialHeartbeatModel.trial_id)
                          .filter(models.TrialHeartbeatModel.trial_id.in_(running))}
            finally:
                session.close()
            stale += [tid for tid in running if tid not in beaten and tid not in stale]
        return stale

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:  # the database went away; the trial itself will report it
            _log.warning("heartbeat of trial id %d not recorded: %s", trial_id, first_line(exc))


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """JournalStorage with heartbeats kept as a trial system attribute (:data:`HEARTBEAT_ATTR`).

    Parameters
    ----------
    backend : BaseJournalBackend
        Where the journal lives.
    heartbeat_interval : int or None
        Seconds between heartbeats; None disables heartbeats.
    grace_period : int or None
        Seconds without a heartbeat after which a RUNNING trial is stale (default 2 intervals).
    heartbeat_stale_trial_callback : callable or None
        Called with ``(study, failed_trial)`` for each trial failed for being stale.
    """

    def __init__(self, backend, heartbeat_interval=None, grace_period=None,
                 heartbeat_stale_trial_callback=None) -> None:
        if heartbeat_interval is not None and heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be > 0 s, got {heartbeat_interval}")
        if grace_period is not None and grace_period <= 0:
            raise ValueError(f"grace_period must be > 0 s, got {grace_period}")
        super().__init__(backend)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except Exception as exc:  # finished meanwhile, or the file is unreadable
            _log.debug("heartbeat of trial id %d not recorded: %s", trial_id, exc)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        assert self.heartbeat_interval is not None
        grace = self.grace_period or 2 * self.heartbeat_interval
        now = time.time()
        stale = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            last = t.system_attrs.get(HEARTBEAT_ATTR)
            if last is None or now - float(last) > grace:
                stale.append(trial_id_of(t))
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self):
        return self.heartbeat_stale_trial_callback
