"""One worker of a shared design study: the design loop's :func:`~invdesign.loop.runner.run_trials`
plus what a long-running process on a shared database needs around it.

A study is created by ``invdesign design ... --budget 0`` (or :func:`invdesign.design` with
``budget=0``); everything a worker needs (model, targets, method, samples per trial, artifact
directory) is read from its stored :class:`~invdesign.studies.study.Settings`. Around ``run_trials``
this module adds: retrying an unreachable database at start-up, a clear message (password masked)
when the database goes away mid-run, the out-of-GPU-memory fallback kept across trials, and a
summary of what the worker did.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from invdesign.loop.api import resolve_generator
from invdesign.loop.measure import SampleBatches, SamplingOutOfMemory
from invdesign.loop.proposers import worker_id
from invdesign.loop.results import load_trial_arrays_of
from invdesign.loop.runner import run_trials
from invdesign.studies.artifacts import SafeArtifactStore
from invdesign.studies.storage import StorageUnavailable, load_study, mask_url, open_storage, redact
from invdesign.studies.study import Settings


class WorkerError(RuntimeError):
    """A worker had to stop (out of memory at batch 1); the message says why."""


@dataclass
class WorkerSummary:
    """What one worker did (JSON-friendly). ``batch_size``: volumes per ``sample`` call at the end."""

    study_name: str
    worker: str
    completed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    batch_size: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"study_name": self.study_name, "worker": self.worker, "completed": self.completed,
                "failed": self.failed, "batch_size": self.batch_size, "seconds": round(self.seconds, 3)}


def storage_reachable(storage: Any) -> bool:
    """True unless ``storage`` is a database that does not answer ``SELECT 1``."""
    engine = getattr(storage, "engine", None)
    if engine is None:
        return True
    import sqlalchemy

    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return True
    except Exception:
        return False


def run_worker(
    storage_url: str,
    study_name: str,
    n_trials: int = 1,
    *,
    device: str = "cpu",
    artifacts: str | os.PathLike | None = None,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    wait_s: float = 0.0,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> WorkerSummary:
    """Run ``n_trials`` trials of a shared design study, then return.

    Parameters
    ----------
    storage_url : str
        Storage URL or journal file (see :mod:`invdesign.studies.storage`); passwords are never printed.
    study_name : str
        An existing study made by ``invdesign design ... --budget 0``.
    n_trials : int
        Trials this worker runs (> 0).
    device : str
        Torch device of the generator (e.g. ``"cuda:0"``).
    artifacts : path, optional
        The study's artifact directory, to check it (it must be the stored one; default: stored).
    heartbeat_interval, grace_period : int, optional
        Seconds (default 10 s and 2 intervals); a trial without a heartbeat for the grace period is
        failed by the next proposal of any process and re-queued (up to 3 times). Proposals and
        sampling seeds follow the study's seed and trial numbers, not the worker.
    wait_s : float
        How long to keep retrying an unreachable database at start-up.
    on_trial : callable, optional
        Called with each completed trial.

    Raises
    ------
    ValueError
        Bad arguments, unknown study, a study without design settings, an unwritable or other
        artifact directory.
    StorageUnavailable
        The database cannot be reached (or went away during the run).
    WorkerError
        Sampling ran out of GPU memory even at one volume per call.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials <= 0:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    for name, value in (("heartbeat_interval", heartbeat_interval), ("grace_period", grace_period)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ValueError(f"{name} must be a positive integer (seconds), got {value!r}")
    import sqlalchemy.exc

    t0 = time.perf_counter()
    summary = WorkerSummary(study_name, worker_id())
    storage = None
    try:
        storage = open_storage(storage_url, heartbeat_interval=heartbeat_interval or 10,
                               grace_period=grace_period, wait_s=wait_s)
        study = load_study(storage, study_name, storage_url)
        settings = Settings.from_study(study)
        if artifacts is not None and Path(artifacts).resolve() != Path(settings.artifact_dir).resolve():
            SafeArtifactStore(artifacts)  # a clear error for an unusable directory first
            raise ValueError(f"this study keeps its artifacts in {settings.artifact_dir!r}; "
                             f"--artifacts {str(artifacts)!r} differs")
        SafeArtifactStore(settings.artifact_dir)  # writable, or a clear error before any trial
        settings.target_spec  # noqa: B018 - stored targets and tolerances are checked here
        generator = resolve_generator(settings.model, device=device)
        batches = SampleBatches(generator)

        def completed(trial: optuna.trial.FrozenTrial) -> None:
            summary.completed.append(trial.number)
            if on_trial is not None:
                on_trial(trial)

        try:
            run_trials(study, generator, n_trials, callback=completed, batches=batches)
        except SamplingOutOfMemory as exc:
            raise WorkerError(str(exc)) from None
        except (ValueError, OSError, WorkerError):
            raise
        except Exception:  # Optuna may hide a lost database behind other errors
            if storage_reachable(storage):
                raise
            raise StorageUnavailable(
                f"lost storage {mask_url(storage_url)} during a trial; "
                "its trial will be failed and retried after the grace period"
            ) from None
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
            sqlalchemy.exc.DBAPIError, optuna.exceptions.StorageInternalError) as exc:
        orig = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise StorageUnavailable(
            f"lost storage {mask_url(storage_url)}: {redact(orig[0] if orig else type(exc).__name__, storage_url)}"
        ) from None
    summary.batch_size = batches.size or settings.samples_per_trial
    summary.seconds = time.perf_counter() - t0
    return summary


def read_artifact(storage_url: str, study_name: str, trial_number: int) -> dict[str, np.ndarray]:
    """Load one trial's artifact (``volume``, ``condition``), checking its SHA-256.

    Raises
    ------
    ValueError
        The trial has no artifact, or the artifact's bytes do not match the recorded hash
        (:class:`~invdesign.studies.artifacts.ArtifactCorrupted`).
    """
    study = load_study(open_storage(storage_url, heartbeat_interval=None), study_name, storage_url)
    trials = study.get_trials(deepcopy=False)
    if not 0 <= trial_number < len(trials) or trials[trial_number].state != TrialState.COMPLETE:
        raise ValueError(f"trial {trial_number} has no artifact")
    return load_trial_arrays_of(study, trial_number)
