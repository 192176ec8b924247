"""Composite Bayesian optimisation of the probability that one sample meets every target.

A candidate is one generated volume, so what decides success is each descriptor's *distribution*
at a condition, not its mean. Per targeted descriptor ``j`` two GPs over the condition ``x``:

- the mean ``mu_j(x)``: a GP on the trials' replicate means, each with its observed noise
  ``s^2 / n`` (:func:`fit_descriptor_models`);
- the spread ``sigma_j^2(x)``: a GP on the bias-corrected log replicate variance, with
  the sampling noise of a log variance of ``n`` samples (:func:`fit_spread_models`); the pooled
  replicate variance when too few trials have replicates.

A new sample at ``x`` is then ``N(mu_j(x), sigma_j^2(x) + v_j(x))`` per descriptor (``v_j``: the
posterior variance of the mean), and the probability that it meets every target is

    p(x) = prod_j [Phi((t_j + tol_j - m_j) / s_j) - Phi((t_j - tol_j - m_j) / s_j)],

descriptors taken as independent within a sample (:class:`SuccessModel`). With a
:class:`GeneratorPrior` (the default of ``invdesign.design``) the mean GPs model the generator's
error ``y_j - x_c(j)`` where a targeted descriptor is a condition: the prior belief is that a sample
meets its condition, so one trial at the target condition already says where to go next. Proposals
(:func:`propose_success`) maximise an optimistic ``p`` (each mean moved towards its target by up to
``beta`` posterior standard deviations, as an upper confidence bound does) over the constrained
space; when the best condition already run has a higher plain ``p`` than the best optimistic new
one (within ``resample_ratio``), the budget goes to resampling it. The pieces are BoTorch's: models, an acquisition function,
``optimize_acqf``.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import torch

from invdesign.loop.space import ConditionSpace
from objectives.threads import limit_threads

_log = logging.getLogger(__name__)

__all__ = ["BOFallbackWarning", "GeneratorPrior", "ModelFitError", "Observations", "SuccessModel", "fit_descriptor_models",
           "fit_spread_models", "propose_bo", "propose_success", "small_problem_threads"]


class ModelFitError(RuntimeError):
    """The descriptor models could not be fitted (the message says why)."""


class BOFallbackWarning(UserWarning):
    """A BO proposal fell back to a space-filling point (the models could not be fitted)."""


def small_problem_threads():
    """One torch CPU thread inside the block (restored after, safe beside other threads).

    The GP problems here are tiny (tens of points); with several intra-op threads on a busy
    machine each small kernel can cost ~100x more in thread synchronisation than in compute.
    """
    return limit_threads(1)


@dataclass
class Observations:
    """The complete trials, over the targeted descriptors.

    Attributes
    ----------
    X : Tensor ``(N, d)`` float64
        Conditions.
    means, variances : Tensor ``(N, k)`` float64
        Replicate mean and variance (ddof 1; 0 for one sample) per targeted descriptor.
    n : Tensor ``(N,)`` float64
        Samples per trial.
    """

    X: torch.Tensor
    means: torch.Tensor
    variances: torch.Tensor
    n: torch.Tensor

    def __post_init__(self) -> None:
        self.X, self.means, self.variances = (torch.as_tensor(a, dtype=torch.float64)
                                              for a in (self.X, self.means, self.variances))
        self.n = torch.as_tensor(self.n, dtype=torch.float64).reshape(-1).expand(len(self.X))

    def pooled_variance(self, floor: torch.Tensor) -> torch.Tensor | None:
        """``(k,)`` replicate variance pooled over trials with replicates (None when none has)."""
        dof = (self.n - 1).clamp(min=0)
        if dof.sum() <= 0:
            return None
        return torch.maximum((self.variances * dof[:, None]).sum(0) / dof.sum(), floor)


def _quiet_models(build):
    """Build models without BoTorch's input-scaling notices (outcomes are standardised anyway)."""
    from botorch.exceptions import InputDataWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        return build()


def _fit(model, what: str):
    """Fit ``model``'s hyperparameters by marginal likelihood (raises :class:`ModelFitError`)."""
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        # optimizer chatter (line-search, iteration limits); a failure still raises below
        warnings.simplefilter("ignore")
        try:
            fit_gpytorch_mll(mll)
        except Exception as exc:  # noqa: BLE001 - re-raised as one clear error
            raise ModelFitError(f"fitting the {what} GPs failed: {type(exc).__name__}: {exc}") from exc
    return model.eval()


def _gp(X: torch.Tensor, Y: torch.Tensor, Yvar: torch.Tensor | None, bounds: torch.Tensor,
        standardize: bool = True):
    """One ``SingleTaskGP`` with an independent output (batched GP) per column of ``Y (N, k)``
    (outcomes standardised unless ``standardize`` is False: the caller scaled them)."""
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize

    return _quiet_models(lambda: SingleTaskGP(
        X, Y, train_Yvar=Yvar, input_transform=Normalize(d=X.shape[1], bounds=bounds.double()),
        outcome_transform=Standardize(m=Y.shape[1]) if standardize else None))


def fit_descriptor_models(
    X: torch.Tensor,
    means: torch.Tensor,
    variances: torch.Tensor,
    n_samples: torch.Tensor | int,
    bounds: torch.Tensor,
    noise_floor: torch.Tensor,
    standardize: bool = True,
):
    """Fit a GP per descriptor column (the mean): one ``SingleTaskGP`` with independent outputs.

    Parameters
    ----------
    X : Tensor ``(N, d)``
        Conditions of the completed trials.
    means, variances : Tensor ``(N, k)``
        Replicate mean and variance of each targeted descriptor.
    n_samples : int or Tensor ``(N,)``
        Replicates per trial; the observed noise of a mean is ``variance / n``. Trials with one
        sample use the variance pooled over those with more (when there are any).
    bounds : Tensor ``(2, d)``
        Condition bounds (inputs are normalised to the unit cube).
    noise_floor : Tensor ``(k,)``
        Smallest noise variance per descriptor (replicates can agree exactly).
    standardize : bool
        Standardise the outcomes (False: ``means`` are already on the GP's unit scale).

    Raises
    ------
    ModelFitError
        The marginal likelihood could not be optimised (the cause is chained).
    """
    obs = Observations(X, means, variances, n_samples)
    floor = noise_floor.double()
    pooled = obs.pooled_variance(floor)
    var = obs.variances.clone()
    if pooled is not None:
        var[obs.n < 2] = pooled
    yvar = torch.maximum(var / obs.n[:, None], floor) if pooled is not None else None
    return _fit(_gp(obs.X, obs.means, yvar, bounds, standardize), "descriptor mean")


def fit_spread_models(obs: Observations, bounds: torch.Tensor, floor: torch.Tensor, min_trials: int = 3):
    """A GP per descriptor on the log replicate variance, or ``None`` with too few replicates.

    ``log s^2`` of ``n`` normal samples has mean ``log sigma^2 + psi((n-1)/2) + log(2/(n-1))`` and
    variance ``psi'((n-1)/2)``: the GP is fitted on the corrected values with that noise.

    Raises
    ------
    ModelFitError
        As :func:`fit_descriptor_models`.
    """
    keep = obs.n >= 2
    if int(keep.sum()) < min_trials:
        return None
    half = (obs.n[keep] - 1) / 2
    z = torch.log(torch.maximum(obs.variances[keep], floor.double())) - (torch.digamma(half) - torch.log(half))[:, None]
    noise = torch.polygamma(1, half)[:, None].expand_as(z)
    return _fit(_gp(obs.X[keep], z, noise.contiguous(), bounds), "descriptor spread")


def _log_box_probability(m: torch.Tensor, s: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """``log P(lo <= N(m, s^2) <= hi)`` element-wise, stable far in the tails (differentiable)."""
    a, b = (lo - m) / s, (hi - m) / s
    # reflect so the interval lies mostly on the negative side, where log_ndtr keeps its precision
    flip = (a + b) > 0
    a, b = torch.where(flip, -b, a), torch.where(flip, -a, b)
    lb, la = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return lb + torch.log(-torch.expm1((la - lb).clamp(max=-1e-15)))


@dataclass
class GeneratorPrior:
    """The generator's own claim as the prior mean of the descriptor GPs: a sample meets the
    condition it was asked for.

    Where a targeted descriptor is also a condition, its GP models the generator's error
    ``y_j - x_c(j)`` rather than ``y_j``: before any trial the best condition is the target itself
    (direct conditioning), after one trial the condition corrected by the error seen there, and the
    GP learns how the error changes across the space as trials come. The residuals are centred on
    their mean and scaled by their spread across trials, never below the tolerance (one trial has
    no spread), so far from the data the model trusts the generator to within about that scale.

    Attributes
    ----------
    columns : Tensor ``(k,)`` long
        Per targeted descriptor, the index of the condition equal to it (-1: none; its GP then
        models the descriptor itself, centred and scaled the same way).
    """

    columns: torch.Tensor
    shift: torch.Tensor | None = None
    scale: torch.Tensor | None = None

    @classmethod
    def of(cls, space: ConditionSpace, names) -> "GeneratorPrior":
        """The prior for descriptors ``names`` over ``space``'s conditions."""
        cols = [space.names.index(n) if n in space.names else -1 for n in names]
        return cls(torch.tensor(cols, dtype=torch.long))

    def offset(self, X: torch.Tensor) -> torch.Tensor:
        """``(..., k)``: the condition each descriptor was asked to equal (0 where none)."""
        off = X.double()[..., self.columns.clamp(min=0)]
        return torch.where(self.columns >= 0, off, torch.zeros_like(off))

    def fitted(self, obs: Observations, tolerance: torch.Tensor) -> "GeneratorPrior":
        """A copy with the residuals' centre and scale from ``obs``."""
        r = obs.means - self.offset(obs.X)
        spread = r.std(0) if len(r) > 1 else torch.zeros_like(tolerance)
        return GeneratorPrior(self.columns, r.mean(0), torch.maximum(spread, tolerance.double()))


class SuccessModel:
    """Per condition, each targeted descriptor's mean and spread, and the success probability.

    Parameters
    ----------
    mean_model : SingleTaskGP
        From :func:`fit_descriptor_models`.
    spread_model : SingleTaskGP or None
        From :func:`fit_spread_models`; ``None``: the constant ``pooled`` variance.
    pooled : Tensor ``(k,)``
        Replicate variance pooled over the trials (used without a spread model).
    target, tolerance : Tensor ``(k,)``
    prior : GeneratorPrior, optional
        Fitted (:meth:`GeneratorPrior.fitted`): the mean GPs model the generator's scaled error.
        ``None``: they model the descriptors (standardised), with a flat prior mean.
    """

    def __init__(self, mean_model, spread_model, pooled: torch.Tensor, target: torch.Tensor,
                 tolerance: torch.Tensor, prior: GeneratorPrior | None = None) -> None:
        self.mean_model, self.spread_model = mean_model, spread_model
        self.pooled = pooled.double()
        self.target, self.tolerance = target.double(), tolerance.double()
        self.prior = prior

    @classmethod
    def fit(cls, obs: Observations, bounds: torch.Tensor, target: torch.Tensor,
            tolerance: torch.Tensor, prior: GeneratorPrior | None = None) -> "SuccessModel":
        """Fit both models to ``obs`` (raises :class:`ModelFitError`); with ``prior`` (unfitted),
        the mean GPs model the generator's error (:class:`GeneratorPrior`)."""
        floor = (0.05 * tolerance.double()) ** 2
        if prior is None:
            mean_model = fit_descriptor_models(obs.X, obs.means, obs.variances, obs.n, bounds, floor)
            unit = mean_model.outcome_transform.stdvs.detach().reshape(-1)
        else:
            prior = prior.fitted(obs, tolerance)
            z = (obs.means - prior.offset(obs.X) - prior.shift) / prior.scale
            mean_model = fit_descriptor_models(obs.X, z, obs.variances / prior.scale ** 2, obs.n, bounds,
                                               floor / prior.scale ** 2, standardize=False)
            unit = prior.scale
        pooled = obs.pooled_variance(floor)
        if pooled is None:  # one sample per trial: the mean GPs' fitted noise is the sample spread
            pooled = torch.maximum(mean_model.likelihood.noise.detach().reshape(-1) * unit ** 2, floor)
        spread = fit_spread_models(obs, bounds, floor)
        return cls(mean_model, spread, pooled, target, tolerance, prior)

    def predict(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(mean, mean variance, sample variance)``, each ``(..., k)``, at conditions ``X (..., d)``."""
        X = X.double()
        post = self.mean_model.posterior(X.unsqueeze(-2))
        mu, v = post.mean.squeeze(-2), post.variance.squeeze(-2).clamp(min=0)
        if self.prior is not None:
            mu = self.prior.offset(X) + self.prior.shift + self.prior.scale * mu
            v = v * self.prior.scale ** 2
        if self.spread_model is None:
            s2 = self.pooled.expand_as(mu)
        else:
            log_s2 = self.spread_model.posterior(X.unsqueeze(-2)).mean.squeeze(-2)
            s2 = torch.maximum(log_s2.clamp(max=20).exp(), (0.05 * self.tolerance) ** 2)
        return mu, v, s2

    def log_success(self, X: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
        """``(...)``: log probability that one sample at ``X (..., d)`` meets every target.

        ``beta > 0``: optimistic, each mean moved towards its target by up to ``beta`` posterior
        standard deviations.
        """
        mu, v, s2 = self.predict(X)
        if beta:
            reach = beta * v.clamp(min=1e-18).sqrt()
            mu = mu + torch.minimum(torch.maximum(self.target - mu, -reach), reach)
        sd = (s2 + v).clamp(min=1e-18).sqrt()
        return _log_box_probability(mu, sd, self.target - self.tolerance, self.target + self.tolerance).sum(-1)


def _acquisition(model: SuccessModel, beta: float, avoid: torch.Tensor | None, bounds: torch.Tensor,
                 radius: float):
    from botorch.acquisition import AcquisitionFunction

    class OptimisticSuccess(AcquisitionFunction):
        """log optimistic success probability, damped near ``avoid`` (pending) points."""

        def __init__(self) -> None:
            super().__init__(model=model.mean_model)

        def forward(self, X: torch.Tensor) -> torch.Tensor:  # X: (b, 1, d)
            x = X[..., 0, :]
            out = model.log_success(x, beta)
            if avoid is not None and len(avoid):
                span = bounds[1] - bounds[0]
                d2 = (((x.unsqueeze(-2) - avoid) / span) ** 2).sum(-1)  # (b, P)
                out = out + torch.log1p(-torch.exp(-d2 / (2 * radius ** 2)) + 1e-9).sum(-1)
            return out

    return OptimisticSuccess()


def propose_success(
    space: ConditionSpace,
    obs: Observations,
    target: torch.Tensor,
    tolerance: torch.Tensor,
    q: int = 1,
    X_pending: torch.Tensor | None = None,
    seed: int = 0,
    beta: float = 1.0,
    radius: float = 0.05,
    resample_ratio: float = 0.8,
    num_restarts: int = 4,
    raw_samples: int = 256,
    prior: GeneratorPrior | None = None,
) -> tuple[torch.Tensor, list[dict]]:
    """Propose ``q`` conditions ``(q, d)`` and, per row, how (``proposal``: ``search`` or
    ``resample``) with the model's ``p_success`` there.

    Parameters
    ----------
    space : ConditionSpace
    obs : Observations
        The complete trials (at least 2; at least 1 with ``prior``).
    target, tolerance : Tensor ``(k,)``
    q : int
        Conditions to propose.
    X_pending : Tensor ``(P, d)``, optional
        Conditions being run (other workers, earlier rows of this batch): a new search point keeps
        about ``radius`` (normalised units) away from them.
    seed : int
        Seeds the restarts of the acquisition optimiser.
    beta : float
        Optimism of the search (posterior standard deviations a mean may move towards its target).
    resample_ratio : float
        Resample the best condition already run when its plain ``p`` is at least this fraction of
        the best optimistic ``p`` of a new condition.
    prior : GeneratorPrior, optional
        Model the generator's error, not the descriptors (:class:`GeneratorPrior`).

    Raises
    ------
    ModelFitError
        The models could not be fitted (the caller decides what to do instead).
    """
    with small_problem_threads(), torch.random.fork_rng():
        torch.manual_seed(int(seed))
        model = SuccessModel.fit(obs, space.bounds, target, tolerance, prior)
        with torch.no_grad():
            p_run = model.log_success(obs.X)  # (N,) plain probability at the conditions run
        best_run = int(torch.argmax(p_run))
        rows, info = [], []
        avoid = [] if X_pending is None or len(X_pending) == 0 else [X_pending.double()]
        for _ in range(q):
            x, opt = _maximise(model, beta, torch.cat(avoid) if avoid else None, space, radius,
                               num_restarts, raw_samples)
            if float(p_run[best_run]) >= opt + math.log(resample_ratio):
                x, kind = obs.X[best_run], "resample"
            else:
                kind = "search"
                avoid.append(x.unsqueeze(0))
            with torch.no_grad():
                p = float(model.log_success(x.unsqueeze(0))[0].exp())
            rows.append(x)
            info.append({"proposal": kind, "p_success": p})
    return torch.stack(rows), info


def _maximise(model: SuccessModel, beta: float, avoid, space: ConditionSpace, radius: float,
              num_restarts: int, raw_samples: int) -> tuple[torch.Tensor, float]:
    from botorch.optim import optimize_acqf

    acq = _acquisition(model, beta, avoid, space.bounds, radius)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cand, val = optimize_acqf(acq, bounds=space.bounds, q=1, num_restarts=num_restarts,
                                  raw_samples=raw_samples,
                                  inequality_constraints=space.botorch_constraints())
    x = space.repair(cand.detach())[0]
    with torch.no_grad():
        opt = float(model.log_success(x.unsqueeze(0), beta)[0])
    return x, opt if math.isfinite(opt) else -math.inf


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
    return_info: bool = False,
    **kwargs,
):
    """:func:`propose_success` on arrays: conditions ``(q, d)`` (and the per-row info when
    ``return_info``). ``kwargs`` go to :func:`propose_success` (``beta``, ``radius``, ...)."""
    rows, info = propose_success(space, Observations(X, means, variances, n_samples), target.double(),
                                 tolerance.double(), q=q, X_pending=X_pending, seed=seed, **kwargs)
    return (rows, info) if return_info else rows
