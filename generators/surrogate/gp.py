"""An exact Gaussian process for one descriptor of simulated series, with seed noise.

Data: rows ``x_i`` (normalised recipe, ``(n, 3)`` in [0, 1], the last column log time), one
descriptor value ``y_i`` each, and the series ``g_i`` each row came from (one simulation = one
seed, observed at several times). The model is

    y_i = m + f(x_i) + e_i
    f   ~ GP(0, s^2 Matern-5/2 with one length scale per input)          (the recipe's effect)
    e   ~ N(0, N),  N_ij = sigma(x_i) sigma(x_j) [g_i = g_j] ((1 - a) exp(-|t_i - t_j| / lam) + a [i = j])

``e`` is the seed noise: heteroscedastic (``sigma^2`` = a small floor + exp(quadratic in ``x``)) and correlated
along the times of one series (the same seed anneals on), so a series' whole offset is not taken
for a recipe effect. At a new recipe run with a fresh seed, a descriptor is Gaussian with mean
``m + E[f]``, the model's uncertainty ``Var[f]`` and the seed spread ``sigma(x)^2``. Fitted by
maximum marginal likelihood (weak log-normal priors, L-BFGS), in float64.
"""

from __future__ import annotations

import math

import torch

NOISE_FLOOR = 1e-4  # seed variance floor (standardised units): saturated values (e.g. exactly 1)
# would otherwise buy unbounded likelihood by shrinking the noise to zero
PARAMS = ("mean", "log_ls0", "log_ls1", "log_ls2", "log_s2", "log_lam", "logit_a")
N_QUAD = 10  # 1, x1..x3, x1^2..x3^2, x1x2, x1x3, x2x3


def quad_features(x: torch.Tensor) -> torch.Tensor:
    """``(..., 10)`` quadratic features of normalised inputs ``(..., 3)`` (centred at 0.5)."""
    z = x - 0.5
    a, b, c = z[..., 0], z[..., 1], z[..., 2]
    one = torch.ones_like(a)
    return torch.stack([one, a, b, c, a * a, b * b, c * c, a * b, a * c, b * c], -1)


def matern52(x1: torch.Tensor, x2: torch.Tensor, ls: torch.Tensor) -> torch.Tensor:
    """Matern-5/2 correlation ``(n1, n2)`` of inputs ``(n1, 3)``, ``(n2, 3)``, length scales ``(3,)``."""
    d = ((x1[:, None, :] - x2[None, :, :]) / ls).pow(2).sum(-1).clamp_min(1e-30).sqrt()
    d = torch.where(d < 1e-12, torch.zeros_like(d), d)
    s5 = math.sqrt(5.0) * d
    return (1 + s5 + s5 * s5 / 3) * torch.exp(-s5)


class SeriesGP:
    """GP of one standardised descriptor (see the module docstring).

    Parameters
    ----------
    x : Tensor ``(n, 3)`` normalised inputs (last column: log time)
    y : Tensor ``(n,)`` standardised values
    groups : Tensor ``(n,)`` int series ids
    theta : dict of float
        ``PARAMS`` (unconstrained) and ``noise`` (the ``N_QUAD`` weights of ``log sigma^2``).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, groups: torch.Tensor, theta: dict):
        self.x = x.double()
        self.y = y.double()
        self.groups = groups.long()
        self.theta = {k: (list(map(float, v)) if k == "noise" else float(v)) for k, v in theta.items()}
        p = _tensors(self.theta)
        k = _covariance(p, self.x, self.groups)
        self._chol = _cholesky(k)
        self._alpha = torch.cholesky_solve((self.y - p["mean"]).unsqueeze(-1), self._chol).squeeze(-1)
        self._p = p

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean ``(m,)``, model variance ``(m,)`` and seed variance ``(m,)`` at inputs ``(m, 3)``
        (standardised units; differentiable in ``x``)."""
        p = self._p
        x = x.double()
        ks = p["s2"] * matern52(x, self.x, p["ls"])
        mean = p["mean"] + ks @ self._alpha
        v = torch.cholesky_solve(ks.T, self._chol)
        var_f = (p["s2"] - (ks * v.T).sum(-1)).clamp_min(0.0)
        var_seed = seed_variance(p, x)
        return mean, var_f, var_seed


def _tensors(theta: dict) -> dict[str, torch.Tensor]:
    t = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in theta.items()}
    return {"mean": t["mean"], "ls": torch.exp(torch.stack([t["log_ls0"], t["log_ls1"], t["log_ls2"]])),
            "s2": torch.exp(t["log_s2"]), "lam": torch.exp(t["log_lam"]),
            "a": torch.sigmoid(t["logit_a"]), "noise": t["noise"]}


def seed_variance(p: dict, x: torch.Tensor) -> torch.Tensor:
    """Seed-noise variance ``(m,)`` at normalised inputs: between the floor and 1 (the data's
    variance: one seed cannot scatter more than the whole data set), logistic in a quadratic."""
    return NOISE_FLOOR + (1.0 - NOISE_FLOOR) * torch.sigmoid(quad_features(x) @ p["noise"])


def _covariance(p: dict, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    kf = p["s2"] * matern52(x, x, p["ls"])
    sig = seed_variance(p, x).sqrt()
    same = (groups[:, None] == groups[None, :]).double()
    dt = (x[:, None, 2] - x[None, :, 2]).abs()
    eye = torch.eye(n, dtype=x.dtype)
    corr = same * ((1 - p["a"]) * torch.exp(-dt / p["lam"])) + p["a"] * eye
    return kf + sig[:, None] * sig[None, :] * corr + 1e-6 * eye


def _cholesky(k: torch.Tensor) -> torch.Tensor:
    jitter = 0.0
    for _ in range(6):
        chol, info = torch.linalg.cholesky_ex(k + jitter * torch.eye(k.shape[0], dtype=k.dtype))
        if int(info) == 0:
            return chol
        jitter = 1e-6 if jitter == 0 else jitter * 10
    raise ValueError("the surrogate's covariance is not positive definite")


def _neg_log_posterior(vec: torch.Tensor, x, y, groups) -> torch.Tensor:
    theta = _unpack(vec)
    p = _tensors(theta)  # as_tensor keeps the graph of float64 slices
    k = _covariance(p, x, groups)
    chol, info = torch.linalg.cholesky_ex(k)
    if int(info) != 0:
        return torch.tensor(float("inf"), dtype=torch.float64)
    r = y - p["mean"]
    alpha = torch.cholesky_solve(r.unsqueeze(-1), chol).squeeze(-1)
    nll = 0.5 * (r @ alpha) + torch.log(torch.diagonal(chol)).sum()
    # weak priors (standardised data, inputs in [0, 1])
    ls = torch.stack([theta["log_ls0"], theta["log_ls1"], theta["log_ls2"]])
    prior = 0.5 * ((ls - math.log(0.4)) / 1.0).pow(2).sum()
    prior = prior + 0.5 * (theta["log_s2"] / 1.5).pow(2)
    prior = prior + 0.5 * ((theta["log_lam"] - math.log(0.3)) / 1.0).pow(2)
    prior = prior + 0.5 * (theta["logit_a"] / 2.0).pow(2)
    prior = prior + 0.5 * (theta["noise"][1:] / 3.0).pow(2).sum()
    return nll + prior


def _unpack(vec: torch.Tensor) -> dict:
    out = {k: vec[i] for i, k in enumerate(PARAMS)}
    out["noise"] = vec[len(PARAMS):]
    return out


def _start(log_ls: float, noise_frac: float) -> torch.Tensor:
    vec = torch.zeros(len(PARAMS) + N_QUAD, dtype=torch.float64)
    vec[1:4] = log_ls
    vec[4] = math.log(1.0 - noise_frac)
    vec[5] = math.log(0.3)
    vec[len(PARAMS)] = math.log(noise_frac / (1 - noise_frac))
    return vec


def fit_gp(x: torch.Tensor, y: torch.Tensor, groups: torch.Tensor, max_iter: int = 150) -> SeriesGP:
    """Fit a :class:`SeriesGP` to standardised ``y`` by maximum marginal likelihood (with priors),
    from a few starting points; the best one is kept."""
    x, y, groups = x.double(), y.double(), groups.long()
    best, best_val = None, float("inf")
    for log_ls, noise_frac in ((math.log(0.4), 0.1), (math.log(0.15), 0.02), (math.log(1.0), 0.3)):
        vec = _start(log_ls, noise_frac).requires_grad_(True)
        opt = torch.optim.LBFGS([vec], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _neg_log_posterior(vec, x, y, groups)
            if torch.isfinite(loss):
                loss.backward()
            return loss

        try:
            opt.step(closure)
        except RuntimeError:
            continue
        with torch.no_grad():
            val = float(_neg_log_posterior(vec, x, y, groups))
        if math.isfinite(val) and val < best_val:
            best, best_val = vec.detach().clone(), val
    if best is None:
        raise ValueError("the surrogate's Gaussian process could not be fitted")
    theta = {k: float(v) for k, v in _unpack(best).items() if k != "noise"}
    theta["noise"] = [float(v) for v in best[len(PARAMS):]]
    return SeriesGP(x, y, groups, theta)
