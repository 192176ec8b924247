"""Composite Bayesian optimisation: a GP per measured descriptor, the distance to the targets as
a Monte-Carlo objective, qLogNoisyExpectedImprovement, constrained acquisition optimisation.

Modelling each descriptor (a smooth function of the condition) and composing the non-smooth
distance afterwards is better informed than modelling the distance itself.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

from invdesign.loop.space import ConditionSpace
from objectives.losses import distance


@contextlib.contextmanager
def small_problem_threads() -> Iterator[None]:
    """Run torch on one CPU thread inside the block (restored after).

    The GP problems here are tiny (tens of points); with several intra-op threads on a busy
    machine each small kernel can cost ~100x more in thread synchronisation than in compute.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_descriptor_models(
    X: torch.Tensor,
    means: torch.Tensor,
    variances: torch.Tensor,
    n_samples: torch.Tensor | int,
    bounds: torch.Tensor,
    noise_floor: torch.Tensor,
):
    """Fit one ``SingleTaskGP`` per descriptor column and return them as a ``ModelListGP``.

    Parameters
    ----------
    X : Tensor ``(N, d)``
        Conditions of the completed trials.
    means, variances : Tensor ``(N, k)``
        Replicate mean and variance of each targeted descriptor.
    n_samples : int or Tensor ``(N,)``
        Replicates per trial; the observed noise of a mean is ``variance / n``.
    bounds : Tensor ``(2, d)``
        Condition bounds (inputs are normalised to the unit cube).
    noise_floor : Tensor ``(k,)``
        Smallest noise variance per descriptor (replicates can agree exactly).
    """
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import SumMarginalLogLikelihood

    X = X.double()
    n = torch.as_tensor(n_samples, dtype=torch.float64).reshape(-1, 1).expand(len(X), 1)
    yvar = torch.maximum(variances.double() / n, noise_floor.double())
    models = []
    for j in range(means.shape[1]):
        models.append(
            SingleTaskGP(
                X,
                means[:, j : j + 1].double(),
                train_Yvar=yvar[:, j : j + 1],
                input_transform=Normalize(d=X.shape[1], bounds=bounds.double()),
                outcome_transform=Standardize(m=1),
            )
        )
    model = ModelListGP(*models)
    mll = SumMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit_gpytorch_mll(mll)
        except Exception:  # noqa: BLE001 - keep the prior hyperparameters if fitting fails
            pass
    return model


def propose_bo(
    space: ConditionSpace,
    X: torch.Tensor,
    means: torch.Tensor,
    variances: torch.Tensor,
    n_samples: torch.Tensor | int,
    target: torch.Tensor,
    tolerance: torch.Tensor,
    q: int = 1,
    X_pending: torch.Tensor | None = None,
    seed: int = 0,
    distance_kind: str = "max",
    num_restarts: int = 4,
    raw_samples: int = 128,
    mc_samples: int = 128,
) -> torch.Tensor:
    """Propose ``q`` conditions ``(q, d)`` that most improve the distance to the targets.

    The objective of a posterior sample ``Y (..., k)`` is ``-distance(Y, target, tolerance)``.
    """
    with small_problem_threads():
        return _propose_bo(
            space, X, means, variances, n_samples, target.double(), tolerance.double(), q,
            X_pending, seed, distance_kind, num_restarts, raw_samples, mc_samples,
        )


def _propose_bo(space, X, means, variances, n_samples, target, tolerance, q, X_pending, seed,
                distance_kind, num_restarts, raw_samples, mc_samples):
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.optim import optimize_acqf
    from botorch.sampling.normal import SobolQMCNormalSampler

    model = fit_descriptor_models(
        X, means, variances, n_samples, space.bounds, noise_floor=(0.05 * tolerance) ** 2
    )
    objective = GenericMCObjective(lambda Y, X=None: -distance(Y, target, tolerance, distance_kind))
    acq = qLogNoisyExpectedImprovement(
        model=model,
        X_baseline=X.double(),
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed),
        objective=objective,
        X_pending=None if X_pending is None or len(X_pending) == 0 else X_pending.double(),
        prune_baseline=True,
    )
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        cand, _ = optimize_acqf(
            acq,
            bounds=space.bounds,
            q=q,
            num_restarts=num_restarts,
            raw_samples=raw_samples,
            inequality_constraints=space.botorch_constraints(),
        )
    return space.repair(cand.detach())
