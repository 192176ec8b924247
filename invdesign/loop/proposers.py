"""How each method proposes the next conditions and opens Optuna trials for them.

Every method returns open (RUNNING) Optuna trials with the condition each will run, opened under
the study's proposal lock. Composite BO (:mod:`invdesign.loop.composite_bo`), direct conditioning
and random search compute the conditions themselves and create each RUNNING trial with them in one
storage call; Optuna TPE and GP sample them with the study's sampler (their proposals are
repaired into the linear constraints, which those samplers do not know). Each trial records how
its condition was chosen (user attr ``proposal``: ``initial``, ``search``, ``resample``,
``fallback``, ``direct``, ``random``, ``tpe``, ``gp``, ``retry``) and, for the BO, the model's
``p_success`` there.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings

import numpy as np
import optuna
import torch
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from invdesign.loop.composite_bo import (BOFallbackWarning, GeneratorPrior, ModelFitError, propose_bo,
                                         small_problem_threads)
from invdesign.loop.space import ConditionSpace
from invdesign.studies.heartbeats import TrialHeartbeats
from invdesign.studies.locks import ProposalLock
from invdesign.studies.optuna_internals import create_running_trial, storage_of, trial_id_of
from invdesign.studies.records import CONDITION as CONDITION_ATTR  # noqa: F401 (this path's name)
from invdesign.studies.records import TrialRecord
from invdesign.studies.study import Settings, fail_stale_trials_locked
from objectives.losses import target_tensors

_log = logging.getLogger(__name__)


def distributions(space: ConditionSpace) -> dict[str, FloatDistribution]:
    """One float distribution per condition over its bounds."""
    lo, hi = space.bounds.tolist()
    return {n: FloatDistribution(lo[i], hi[i]) for i, n in enumerate(space.names)}


def initial_design(space: ConditionSpace, settings: Settings) -> torch.Tensor:
    """``(n_initial, d)``: the condition equal to the target (when some conditions are targeted
    descriptors) followed by scrambled-Sobol points: around that condition, within
    ``settings.initial_radius`` of each condition's range, or over the whole space (radius 1, or
    no targeted condition)."""
    targeted = any(n in settings.targets for n in space.names)
    first = [space.direct(settings.targets).unsqueeze(0)] if targeted else []
    around = first[0][0] if first else None
    sobol = space.sobol(max(settings.n_initial - len(first), 0), seed=settings.seed, around=around,
                        radius=settings.initial_radius)
    return torch.cat(first + [sobol])[: settings.n_initial]


def trial_conditions(trials: list[optuna.trial.FrozenTrial]) -> torch.Tensor:
    """Stacked ``condition`` user attrs of ``trials`` ``(len, d)``."""
    rows = [c for c in (TrialRecord.read(t).condition for t in trials) if c is not None]
    return torch.tensor(rows, dtype=torch.float64) if rows else torch.empty(0, 0, dtype=torch.float64)


def history(study: optuna.Study, settings: Settings):
    """``(X, means, variances, n)`` of complete trials over the targeted descriptors."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    recs = [r for r in map(TrialRecord.read, done) if r.condition is not None and r.means]
    names = list(settings.targets)
    X = torch.tensor([r.condition for r in recs], dtype=torch.float64) if recs \
        else torch.empty(0, 0, dtype=torch.float64)
    means = torch.tensor([[r.means[k] for k in names] for r in recs], dtype=torch.float64)
    var = torch.tensor([[r.variances[k] for k in names] for r in recs], dtype=torch.float64)
    n = torch.tensor([settings.samples_per_trial if r.n is None else r.n for r in recs], dtype=torch.float64)
    return X, means, var, n


def batch_seed(settings: Settings, number: int) -> int:
    """A seed derived from the design's seed and a trial number (stable across resumes)."""
    return int(np.random.SeedSequence([settings.seed, number]).generate_state(1)[0])


def propose(study: optuna.Study, space: ConditionSpace, settings: Settings, q: int
            ) -> tuple[torch.Tensor, list[dict]]:
    """Conditions ``(q, d)`` for the next trials of a method that computes its own proposals, and
    per row how each was chosen (``{"proposal": ..., "p_success": ...}``)."""
    trials = study.get_trials(deepcopy=False)
    running = [t for t in trials if t.state == TrialState.RUNNING]
    # Trials ever created (any state): the initial-design index and the seed of every draw.
    # A count of running + complete trials repeats when a trial fails between two proposals,
    # and two proposals would then draw the same Sobol point; this count never repeats.
    used = len(trials)
    if settings.method == "direct":
        return space.direct(settings.targets).unsqueeze(0).repeat(q, 1), [{"proposal": "direct"}] * q
    if settings.method == "random":
        return space.sobol(q, seed=batch_seed(settings, used)), [{"proposal": "random"}] * q
    if settings.method != "bo":
        raise ValueError(f"method {settings.method!r} does not propose conditions itself")
    init = initial_design(space, settings)
    rows = [init[i] for i in range(used, min(used + q, len(init)))]
    info = [{"proposal": "initial"}] * len(rows)
    rest = q - len(rows)
    if rest > 0:
        X, means, var, n = history(study, settings)
        prior = GeneratorPrior.of(space, settings.targets) if settings.prior == "generator" else None
        if len(X) < (1 if prior is not None else 2):
            rows += list(space.sobol(rest, seed=batch_seed(settings, used)))
            info += [{"proposal": "initial"}] * rest
        else:
            pending = [r.unsqueeze(0) for r in rows]
            pend_running = trial_conditions(list(running))
            if len(pend_running):
                pending.append(pend_running)
            X_pending = torch.cat(pending) if pending else None
            target, tol = target_tensors(settings.target_spec)
            try:
                new, how = propose_bo(
                    space, X, means, var, n, target, tol, q=rest, X_pending=X_pending,
                    seed=batch_seed(settings, used) % (2**31), return_info=True, prior=prior)
            except ModelFitError as exc:
                msg = f"{exc}; trial {used} runs a space-filling (Sobol) condition instead"
                warnings.warn(msg, BOFallbackWarning, stacklevel=2)
                _log.warning(msg)
                new = space.sobol(rest, seed=batch_seed(settings, used))
                how = [{"proposal": "fallback", "fallback_reason": str(exc)}] * rest
            rows += list(new)
            info += how
    return torch.stack(rows), info


def worker_id() -> str:
    """``host:pid`` of this process (stored on each trial it runs)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def open_trials(
    study: optuna.Study,
    space: ConditionSpace,
    settings: Settings,
    q: int,
    heartbeats: TrialHeartbeats | None = None,
) -> list[tuple[optuna.Trial, torch.Tensor]]:
    """Open ``q`` RUNNING trials and return each with the condition ``(d,)`` it will run.

    One atomic step under the study's :class:`~invdesign.loop.locks.ProposalLock`, for every
    storage and every caller: fail trials of dead processes (re-queued WAITING with their
    condition), take re-queued trials first, propose conditions for the rest (RUNNING trials of
    every process are pending points), create their RUNNING trials (params and condition in one
    storage call) and record their first heartbeat.

    The condition actually run is stored as the trial's ``condition`` user attr (the trial's
    params are what the sampler chose; they differ only where a TPE/GP proposal was repaired).
    """
    dists = distributions(space)
    lo, hi = space.bounds
    out: list[tuple[optuna.Trial, torch.Tensor]] = []
    me = worker_id()

    def opened(trial: optuna.Trial, x: torch.Tensor, how: str) -> None:
        if heartbeats is not None:
            heartbeats.add(trial_id_of(trial))
        TrialRecord(condition=x.tolist(), worker=me).write(trial)
        if TrialRecord.read(trial).proposal is None:  # a retried trial keeps how it was first chosen
            TrialRecord(proposal=how).write(trial)
        out.append((trial, x))

    def create_running(x: torch.Tensor, how: dict) -> None:
        # params, condition and worker in the storage's one create call: a process killed at
        # any moment leaves a trial that can be retried as it was meant to run
        template = optuna.trial.create_trial(
            state=TrialState.RUNNING, params={n: float(x[i]) for i, n in enumerate(space.names)},
            distributions=dists, user_attrs=TrialRecord(condition=x.tolist(), worker=me, **how).attrs())
        trial = create_running_trial(study, template)
        if heartbeats is not None:
            heartbeats.add(trial_id_of(trial))
        out.append((trial, x))

    with ProposalLock(storage_of(study), study.study_name), warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for Study.optimize; this loop beats itself
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        fail_stale_trials_locked(study)
        retries = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        for _ in retries[:q]:
            trial = study.ask(dists)
            x = TrialRecord.read(trial).condition or [trial.params[n] for n in space.names]
            opened(trial, space.repair(torch.tensor([x], dtype=torch.float64))[0], "retry")
        rest = q - len(out)
        if rest and settings.method in ("tpe", "gp"):
            for _ in range(rest):
                with small_problem_threads():
                    trial = study.ask(dists)
                x = torch.tensor([trial.params[n] for n in space.names], dtype=torch.float64)
                opened(trial, space.repair(x.unsqueeze(0))[0], settings.method)
        elif rest:
            conditions, how = propose(study, space, settings, rest)
            for x, h in zip(conditions, how):
                create_running(torch.minimum(torch.maximum(x, lo), hi), h)
    return out
