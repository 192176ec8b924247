"""Composite BoTorch BO as an Optuna sampler that counts other workers' RUNNING trials as pending.

One multi-output GP models every targeted descriptor's trial mean as a function of the condition;
the acquisition (qLogNEI) scores the composite objective ``-mean_k ((y_k - target_k) / tol_k)^2``
on posterior samples, so the GP never has to model the (non-smooth) loss itself. Conditions of
RUNNING and WAITING trials of all workers are passed as ``X_pending``, so parallel workers spread out
instead of proposing the same point.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
import torch
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState

_log = logging.getLogger(__name__)

DESCRIPTORS_ATTR = "descriptors"


class PendingAwareBOSampler(BaseSampler):
    """Propose conditions with composite BO; random until ``n_init`` trials are complete.

    Parameters
    ----------
    names : sequence of str
        Condition names (Optuna parameter names), in the generator's order.
    bounds : Tensor ``(2, d)``
        Lower and upper bound of each condition.
    targets, tolerances : mapping name -> float
        The design target (descriptor units).
    n_init : int
        Complete trials needed before BO takes over from random proposals.
    inequality_constraints : list, optional
        BoTorch linear constraints ``(indices, coefficients, rhs)`` on the raw conditions.
    seed : int, optional
        Seed of the random phase and of the acquisition optimiser.
    """

    def __init__(self, names: Sequence[str], bounds: torch.Tensor, targets: Mapping[str, float],
                 tolerances: Mapping[str, float], n_init: int = 4,
                 inequality_constraints: list | None = None, seed: int | None = None) -> None:
        self.names = tuple(names)
        self.bounds = torch.as_tensor(bounds, dtype=torch.float64)
        if self.bounds.shape != (2, len(self.names)):
            raise ValueError(f"bounds must have shape (2, {len(self.names)}), got {tuple(self.bounds.shape)}")
        self.targets = dict(targets)
        self.tolerances = dict(tolerances)
        self.n_init = n_init
        self.constraints = inequality_constraints or None
        self._random = RandomSampler(seed=seed)
        self._seed = seed
        self.last_pending = 0
        self.last_mode = ""

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {n: FloatDistribution(float(lo), float(hi))
                for n, lo, hi in zip(self.names, self.bounds[0].tolist(), self.bounds[1].tolist())}

    def _x(self, t: FrozenTrial) -> list[float] | None:
        if all(n in t.params for n in self.names):
            return [float(t.params[n]) for n in self.names]
        return None

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space or self._x(trial) is not None:
            return {}  # a re-queued trial keeps its conditions
        names = list(self.targets)
        X, Y = [], []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            x, d = self._x(t), t.user_attrs.get(DESCRIPTORS_ATTR)
            if x is not None and isinstance(d, dict) and all(n in d for n in names):
                X.append(x)
                Y.append([float(d[n]) for n in names])
        pending = [x for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
                   if t.number != trial.number and (x := self._x(t)) is not None]
        self.last_pending = len(pending)
        self.last_mode = "random"
        if len(X) < self.n_init:
            return {}
        try:
            cand = self._propose(torch.tensor(X, dtype=torch.float64), torch.tensor(Y, dtype=torch.float64),
                                 torch.tensor(pending, dtype=torch.float64) if pending else None, names)
        except Exception as exc:  # a numerically bad fit must not stop the study
            _log.warning("BO proposal failed (%s); proposing at random", exc)
            return {}
        self.last_mode = "bo"
        return {n: float(v) for n, v in zip(self.names, cand.tolist())}

    def _propose(self, X: torch.Tensor, Y: torch.Tensor, X_pending: torch.Tensor | None,
                 names: list[str]) -> torch.Tensor:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a tiny GP: more threads only contend with other work
        try:
            return self._propose_1thread(X, Y, X_pending, names)
        finally:
            torch.set_num_threads(threads)

    def _propose_1thread(self, X: torch.Tensor, Y: torch.Tensor, X_pending: torch.Tensor | None,
                         names: list[str]) -> torch.Tensor:
        from botorch.acquisition.logei import qLogNoisyExpectedImprovement
        from botorch.acquisition.objective import GenericMCObjective
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Normalize, Standardize
        from botorch.optim import optimize_acqf
        from gpytorch.mlls import ExactMarginalLogLikelihood

        d, k = X.shape[-1], Y.shape[-1]
        model = SingleTaskGP(X, Y, input_transform=Normalize(d, bounds=self.bounds),
                             outcome_transform=Standardize(m=k))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                         optimizer_kwargs={"options": {"maxiter": 75}})
        target = torch.tensor([self.targets[n] for n in names], dtype=torch.float64)
        tol = torch.tensor([self.tolerances[n] for n in names], dtype=torch.float64)
        objective = GenericMCObjective(lambda Z, X=None: -(((Z - target) / tol) ** 2).mean(-1))
        acqf = qLogNoisyExpectedImprovement(model, X_baseline=X, objective=objective, X_pending=X_pending,
                                            prune_baseline=True)
        constraints = None
        if self.constraints:
            constraints = [(torch.as_tensor(i, dtype=torch.long), torch.as_tensor(c, dtype=torch.float64),
                            float(r)) for i, c, r in self.constraints]
        cand, _ = optimize_acqf(acqf, bounds=self.bounds, q=1, num_restarts=2, raw_samples=32,
                                inequality_constraints=constraints,
                                options={"maxiter": 50, "seed": self._seed})
        return cand[0].clamp(self.bounds[0], self.bounds[1])

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        self._random.reseed_rng()
