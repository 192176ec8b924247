"""Trials left RUNNING by processes that died: found by heartbeat, failed, and re-queued."""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import TrialState

from invdesign.studies.locks import ProposalLock
from invdesign.studies.optuna_internals import heartbeats_enabled, storage_of, trial_id_of

__all__ = ["fail_stale_trials", "fail_stale_trials_locked"]


def fail_stale_trials(study: optuna.Study) -> int:
    """Fail the RUNNING trials of processes that died; return how many were failed.

    On a storage with heartbeats (every storage :func:`open_storage` opens) a trial is dead when its
    heartbeat is older than the grace period or it never recorded one; live workers' trials are
    left alone, and each dead trial is re-queued (WAITING, same condition) for the next process to
    retry. On a storage without heartbeats (e.g. in-memory; one process only) every RUNNING trial
    is taken as left by a dead run. Runs under the study's proposal lock, so a trial being opened
    (heartbeat not yet recorded) is never mistaken for a dead one.
    """
    with ProposalLock(storage_of(study), study.study_name):
        return fail_stale_trials_locked(study)


def fail_stale_trials_locked(study: optuna.Study) -> int:
    """:func:`fail_stale_trials` for a caller that holds the proposal lock already."""
    storage = storage_of(study)
    before = {trial_id_of(t) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if heartbeats_enabled(storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    else:
        for tid in before:
            storage.set_trial_state_values(tid, state=TrialState.FAIL)
    after = {trial_id_of(t) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    return len(before - after)
