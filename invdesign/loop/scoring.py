"""The one definition of a candidate's distance, a trial's value and a study's best.

A *candidate* is one generated volume. Its **distance** is :func:`objectives.losses.distance` of
its measured descriptors to the targets, in tolerance units, with the study's distance kind
(``max`` by default: <= 1 exactly when every target is met); it **succeeds** when every
descriptor is within its tolerance. A trial's **value** (what Optuna is told and shows) is the
distance of its best candidate, and a study's **best** is its best candidate over every complete
trial (ties: lowest trial, then lowest sample): rank 0 of
:func:`invdesign.loop.results.candidates_table`. The CLI, ``summary.json``, the API and the
dashboard all read these functions, so they show the same number for the same study.

(The distance of a trial's *mean* is kept as the trial's ``mean_distance`` attribute: a volume is
one sample, so a mean can meet the targets when no volume does, and the other way round.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from invdesign.studies.records import TrialRecord
from objectives.losses import distance, target_tensors, within_tolerance
from objectives.targets import Targets

__all__ = ["TrialScore", "score_samples", "study_best", "trial_best"]


@dataclass
class TrialScore:
    """Scores of one trial's candidates.

    Attributes
    ----------
    distances : list of float ``(n,)``
        Each candidate's distance.
    success : list of bool ``(n,)``
        Each candidate within every tolerance.
    value : float
        The best candidate's distance (the trial's value).
    mean_distance : float
        Distance of the candidates' mean (kept for reference).
    """

    distances: list[float]
    success: list[bool]
    value: float
    mean_distance: float


def score_samples(per_sample: np.ndarray | torch.Tensor, targets: Targets, kind: str = "max") -> TrialScore:
    """Score ``per_sample (n, k)`` measured values (columns in ``targets.names`` order)."""
    y = torch.as_tensor(np.asarray(per_sample), dtype=torch.float64)
    if y.ndim != 2 or y.shape[1] != len(targets.names):
        raise ValueError(f"per-sample values must be (n, {len(targets.names)}), got {tuple(y.shape)}")
    t, tol = target_tensors(targets)
    d = distance(y, t, tol, kind)
    return TrialScore(distances=[float(v) for v in d], success=[bool(v) for v in within_tolerance(y, t, tol)],
                      value=float(d.min()), mean_distance=float(distance(y.mean(dim=0), t, tol, kind)))


def trial_best(trial: optuna.trial.FrozenTrial) -> float | None:
    """The trial's best candidate distance (``None`` when it holds no measured candidates)."""
    dists = TrialRecord.read(trial).sample_distances
    return float(min(dists)) if dists else None


def study_best(study: optuna.Study) -> dict | None:
    """The study's best candidate: ``{"distance", "trial", "sample", "success"}`` (``None`` before
    any trial is complete).

    A complete trial without candidates (a study not made by the design loop) counts with its
    value, as sample ``None``.
    """
    best = None
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        rec = TrialRecord.read(t)
        dists = rec.sample_distances
        if not dists:
            if t.value is not None and (best is None or (float(t.value), t.number, -1) < best[0]):
                best = ((float(t.value), t.number, -1), None)
            continue
        ok = rec.sample_success or [False] * len(dists)
        for s, d in enumerate(dists):
            key = (float(d), t.number, s)
            if best is None or key < best[0]:
                best = (key, bool(ok[s]))
    if best is None:
        return None
    (d, trial, sample), success = best
    return {"distance": d, "trial": trial, "sample": None if sample < 0 else sample, "success": success}
