"""Run trials of a design study: propose, sample, measure, record, tell.

:func:`run_trials` is the one mechanism behind ``design``, ``worker`` and the dashboard: any number
of processes may run it on the same study at once (proposals under the study's proposal lock,
heartbeats for the trials it runs, dead processes' trials failed and retried).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from generators.protocol import RECIPE_NAMES
from invdesign.loop.measure import DescribeBatch, Measurement, SampleBatches, Screen, measure
from invdesign.loop.proposers import batch_seed, open_trials
from invdesign.loop.scoring import score_samples
from invdesign.loop.space import ConditionSpace
from invdesign.recipes.candidates import candidate_recipes
from invdesign.studies.artifacts import save_trial_arrays
from invdesign.studies.heartbeats import TrialHeartbeats
from invdesign.studies.optuna_internals import storage_of, trial_id_of
from invdesign.studies.records import TrialRecord
from invdesign.studies.study import Settings, artifact_store

__all__ = ["RECIPE_NAMES", "check_generator", "complete_count", "record_trial", "run_trials"]
TrialCallback = Callable[[optuna.trial.FrozenTrial], None]
StopCheck = Callable[[], bool]


def check_generator(generator, settings: Settings) -> ConditionSpace:
    """The stored condition space, after checking the generator matches it."""
    names = tuple(generator.condition_names)
    if names != tuple(settings.condition_names):
        raise ValueError(
            f"generator conditions {names} differ from the study's {tuple(settings.condition_names)}"
        )
    return ConditionSpace(names, torch.tensor(settings.bounds), settings.constraints)


def record_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    meas: Measurement,
    i: int,
    settings: Settings,
    seed: int,
    recipes: dict[str, list[float]] | None = None,
) -> float:
    """Store trial ``i`` of a measured batch and tell its value (its best candidate's distance,
    :mod:`invdesign.loop.scoring`).

    Writes the measurement part of the trial's :class:`~invdesign.studies.records.TrialRecord`
    (``n``, ``means``, ``variances``, ``samples``, ``predicted``, ``recipe``, distances, success),
    ``surrogate_recipe`` (per sample, when ``recipes`` is given: see
    :func:`invdesign.recipes.candidates.candidate_recipes`) and the artifact (``artifact_id`` and its
    ``artifact_sha256``) holding ``volume`` uint8 ``(n, X, Y, Z)`` and ``condition`` float64 ``(d,)``.
    """
    targets = settings.target_spec
    per_sample = np.stack([meas.descriptors[n][i] for n in targets.names], axis=-1)
    score = score_samples(per_sample, targets, settings.distance)
    value = score.value
    record = TrialRecord(
        n=int(meas.volumes.shape[1]),
        sample_seed=int(seed),
        means={k: float(v[i]) for k, v in meas.means().items()},
        variances={k: float(v[i]) for k, v in meas.variances().items()},
        samples={k: [float(x) for x in v[i]] for k, v in meas.descriptors.items()},
        predicted={k: [float(x) for x in v[i]] for k, v in meas.predicted.items()},
        recipe={k: float(np.mean(meas.predicted[k][i])) for k in RECIPE_NAMES if k in meas.predicted},
        sample_distances=score.distances,
        sample_success=score.success,
        success=bool(any(score.success)),
        mean_distance=score.mean_distance,
        surrogate_recipe={} if recipes is None else {k: [float(x) for x in v] for k, v in recipes.items()},
    )
    record.write(trial)
    condition = TrialRecord.read(trial).condition or []
    record.artifact_id, record.artifact_sha256 = save_trial_arrays(
        artifact_store(settings), trial, volume=meas.volumes[i], condition=np.asarray(condition, dtype=np.float64))
    TrialRecord(artifact_id=record.artifact_id, artifact_sha256=record.artifact_sha256).write(trial)
    study.tell(trial, value)
    return value


def run_trials(
    study: optuna.Study,
    generator,
    n_trials: int,
    *,
    describe: DescribeBatch | None = None,
    time_budget: float | None = None,
    callback: TrialCallback | None = None,
    should_stop: StopCheck | None = None,
    batches: SampleBatches | None = None,
) -> int:
    """Run up to ``n_trials`` more trials of a design study; return how many completed.

    Everything (targets, method, samples per trial, ...) is read from the study, so any process
    with the generator can call this, and many may at once (e.g. workers sharing the storage).

    Parameters
    ----------
    study : optuna.Study
        A study created by :func:`invdesign.design` (settings in its user attrs).
    generator : Generator
        The model the study was created for, on the device to run.
    n_trials : int
        Trials to run (>= 0).
    describe : callable, optional
        Batched descriptor function (default: the generator's ``describe_batch``, else
        ``objectives.describe_batch``).
    time_budget : float, optional
        Seconds; no new batch starts after this much time.
    callback : callable, optional
        Called with each completed ``FrozenTrial``.
    should_stop : callable, optional
        Asked before each batch is proposed; ``True`` ends the run there (what is complete stays).
    batches : SampleBatches, optional
        How ``generator.sample`` is split (shrinks after a CUDA out-of-memory error; pass the same
        object to later calls to keep the smaller size).

    Raises
    ------
    ValueError
        ``n_trials < 0`` or a generator whose conditions differ from the study's.
    SamplingOutOfMemory
        Out of GPU memory at one volume per call (the trial is marked FAIL).
    """
    if n_trials < 0:
        raise ValueError(f"number of trials must be >= 0, got {n_trials}")
    settings = Settings.from_study(study)
    space = check_generator(generator, settings)
    batches = batches or SampleBatches(generator)
    start = time.monotonic()
    done = 0
    storage = storage_of(study)
    with TrialHeartbeats(storage) as beats:
        while done < n_trials:
            if time_budget is not None and time.monotonic() - start >= time_budget:
                break
            if should_stop is not None and should_stop():
                break
            q = min(settings.batch_size, n_trials - done)
            opened = open_trials(study, space, settings, q, beats)
            trials = [t for t, _ in opened]
            X = torch.stack([x for _, x in opened])
            seed = batch_seed(settings, trials[0].number) % (2**31)
            try:
                meas = measure(generator, X, settings.samples_per_trial, seed, describe, batches=batches,
                               screen=Screen.for_study(study, settings, generator))
                for i, trial in enumerate(trials):
                    recipes = candidate_recipes(
                        generator, {k: v[i] for k, v in meas.descriptors.items()},
                        {k: v[i] for k, v in meas.predicted.items()}, settings.target_spec)
                    record_trial(study, trial, meas, i, settings, seed, recipes)
            except BaseException:
                for trial in trials:
                    if storage.get_trial(trial_id_of(trial)).state == TrialState.RUNNING:
                        study.tell(trial, state=TrialState.FAIL)
                raise
            done += len(trials)
            if callback is not None:
                for trial in trials:
                    callback(storage.get_trial(trial_id_of(trial)))
    return done


def complete_count(study: optuna.Study) -> int:
    """Number of COMPLETE trials."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
