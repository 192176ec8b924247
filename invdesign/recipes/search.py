"""Inverting the recipe surrogate: target descriptors -> recipes (phi, chi, log_time) predicted to
make them, and the pathway of such recipes.

A recipe is scored by the probability that the mean of ``seeds`` fresh simulations lands within
tolerance of every target:

    P = P(separated) * prod_k [Phi((t_k + tol_k - mu_k) / s_k) - Phi((t_k - tol_k - mu_k) / s_k)]
    s_k^2 = model_std_k^2 + seed_std_k^2 / seeds

(descriptors taken as independent), and by its *predicted distance* ``max_k |mu_k - t_k| / tol_k``
(tolerance units, as everywhere in the project: <= 1 is predicted to meet every target). The
search evaluates a grid over the recipe box, refines the best points and the given starting
recipes (e.g. the feature predictor's guess) by gradient ascent on ``log P`` minus a small
penalty on annealing time (shorter runs are cheaper to make and to verify), and keeps a spread-out
set: recipes closer than ``min_separation`` (unit-box distance) to a better one are dropped.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from generators.surrogate import INPUTS, Prediction, RecipeSurrogate


@dataclass
class PredictedRecipe:
    """A recipe and what the surrogate predicts for it.

    Attributes
    ----------
    phi, chi, log_time : float
    p_success : float  probability that the mean of ``seeds`` simulations meets every target
    predicted_distance : float  max |mean - target| / tolerance
    mean, seed_std, model_std : dict name -> float
    p_separated : float
    source : str  ``"grid"`` or ``"start"`` (refined from a given starting recipe)
    """

    phi: float
    chi: float
    log_time: float
    p_success: float
    predicted_distance: float
    mean: dict[str, float] = field(default_factory=dict)
    seed_std: dict[str, float] = field(default_factory=dict)
    model_std: dict[str, float] = field(default_factory=dict)
    p_separated: float = 1.0
    source: str = "grid"

    @property
    def time(self) -> float:
        return 10.0 ** self.log_time

    @classmethod
    def from_summary(cls, d: dict) -> "PredictedRecipe":
        """Inverse of :meth:`summary`."""
        pred = d.get("predicted", {})
        return cls(d["phi"], d["chi"], d["log_time"], d["p_success"], d["predicted_distance"],
                   {n: v["mean"] for n, v in pred.items()}, {n: v["seed_std"] for n, v in pred.items()},
                   {n: v["model_std"] for n, v in pred.items()}, d.get("p_separated", 1.0), d.get("source", "grid"))

    def recipe(self) -> dict[str, float]:
        return {"phi": self.phi, "chi": self.chi, "log_time": self.log_time, "time": self.time}

    def summary(self) -> dict:
        return {**self.recipe(), "p_success": self.p_success, "predicted_distance": self.predicted_distance,
                "p_separated": self.p_separated, "source": self.source,
                "predicted": {n: {"mean": self.mean[n], "seed_std": self.seed_std[n],
                                  "model_std": self.model_std[n]} for n in self.mean}}


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, stable."""
    x = x.clamp_max(-1e-300)
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def log_interval_probability(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """log(Phi(hi) - Phi(lo)) for lo < hi, stable in both tails."""
    flip = lo > 0
    a = torch.where(flip, -hi, lo)
    b = torch.where(flip, -lo, hi)
    la, lb = torch.special.log_ndtr(a), torch.special.log_ndtr(b)
    return lb + _log1mexp(la - lb)


def log_success(mean, seed_std, model_std, p_sep, target, tol, seeds: int) -> torch.Tensor:
    """``log P`` (see the module docstring) ``(...)`` from predictions ``(..., k)``."""
    s = (model_std.pow(2) + seed_std.pow(2) / seeds).clamp_min(1e-12).sqrt()
    lo = (target - tol - mean) / s
    hi = (target + tol - mean) / s
    return log_interval_probability(lo, hi).sum(-1) + torch.log(p_sep.clamp_min(1e-300))


def predicted_distance(mean: torch.Tensor, target: torch.Tensor, tol: torch.Tensor) -> torch.Tensor:
    """max_k |mean_k - t_k| / tol_k, ``(...)``."""
    return ((mean - target).abs() / tol).amax(-1)


class RecipeSearch:
    """Recipe search for a set of descriptor names on a surrogate (grid predictions cached).

    Parameters
    ----------
    surrogate : RecipeSurrogate
    names : sequence of str  the target descriptors (modelled by the surrogate)
    bounds : mapping, optional
        ``{"phi": (lo, hi), "chi": (lo, hi), "time": (lo, hi)}`` (or ``log_time``) narrowing the
        surrogate's training box (never widening it: the surrogate does not extrapolate).
    resolution : int
        Grid points per axis.
    """

    def __init__(self, surrogate: RecipeSurrogate, names: Sequence[str],
                 bounds: Mapping[str, tuple[float, float]] | None = None, resolution: int = 21):
        self.surrogate = surrogate
        self.names = tuple(names)
        surrogate.predict(torch.tensor([surrogate.lower]), self.names)  # validates the names
        lo, hi = list(surrogate.lower), list(surrogate.upper)
        for key, (a, b) in dict(bounds or {}).items():
            i = INPUTS.index("log_time" if key == "time" else key) if key in (*INPUTS, "time") else None
            if i is None:
                raise ValueError(f"unknown recipe bound {key!r}; use phi, chi, time or log_time")
            if key == "time":
                if not (a > 0 and b > 0):
                    raise ValueError("time bounds must be positive")
                a, b = math.log10(a), math.log10(b)
            if not a <= b:
                raise ValueError(f"recipe bound {key}: low {a} > high {b}")
            lo[i], hi[i] = max(lo[i], a), min(hi[i], b)
            if lo[i] > hi[i]:
                raise ValueError(f"recipe bound {key} lies outside the surrogate's training range "
                                 f"({surrogate.lower[i]:.4g}, {surrogate.upper[i]:.4g})")
        self.lower = torch.tensor(lo, dtype=torch.float64)
        self.upper = torch.tensor(hi, dtype=torch.float64)
        axes = [torch.linspace(0, 1, resolution, dtype=torch.float64)] * 3
        self.grid_u = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        with torch.no_grad():
            self.grid = self._predict(self.grid_u)

    def to_recipe(self, u: torch.Tensor) -> torch.Tensor:
        """Unit box -> raw (phi, chi, log_time)."""
        return self.lower + u * (self.upper - self.lower)

    def _predict(self, u: torch.Tensor):
        return self.surrogate.predict(self.to_recipe(u), self.names)

    def _objective(self, pred, target, tol, seeds, u, time_penalty):
        ls = log_success(pred.mean, pred.seed_std, pred.model_std, pred.p_separated, target, tol, seeds)
        return ls - time_penalty * u[..., 2]

    def _refine(self, u0: torch.Tensor, target, tol, seeds: int, time_penalty: float,
                steps: int = 40) -> torch.Tensor:
        """Gradient ascent from ``u0 (m, 3)`` (targets ``(m, k)`` or ``(k,)``); stays in the box."""
        z = torch.logit(u0.clamp(1e-4, 1 - 1e-4)).clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.15)
        for _ in range(steps):
            opt.zero_grad()
            u = torch.sigmoid(z)
            obj = self._objective(self._predict(u), target, tol, seeds, u, time_penalty)
            (-obj.sum()).backward()
            opt.step()
        return torch.sigmoid(z).detach()

    def _describe(self, u: torch.Tensor, target, tol, seeds: int, source: str) -> list[PredictedRecipe]:
        with torch.no_grad():
            pred = self._predict(u)
            p = log_success(pred.mean, pred.seed_std, pred.model_std, pred.p_separated, target, tol,
                            seeds).exp()
            dist = predicted_distance(pred.mean, target, tol)
            raw = self.to_recipe(u)
        out = []
        for i in range(u.shape[0]):
            out.append(PredictedRecipe(
                float(raw[i, 0]), float(raw[i, 1]), float(raw[i, 2]), float(p[i]), float(dist[i]),
                {n: float(pred.mean[i, j]) for j, n in enumerate(self.names)},
                {n: float(pred.seed_std[i, j]) for j, n in enumerate(self.names)},
                {n: float(pred.model_std[i, j]) for j, n in enumerate(self.names)},
                float(pred.p_separated[i]), source))
        return out

    def _start_u(self, starts) -> torch.Tensor:
        s = torch.as_tensor(starts, dtype=torch.float64).reshape(-1, 3)
        return ((s - self.lower) / (self.upper - self.lower).clamp_min(1e-12)).clamp(0, 1)

    def find(self, target, tol, seeds: int = 3, n: int = 5, starts=None, min_separation: float = 0.15,
             time_penalty: float = 0.5, refine: int = 8, max_ratio: float = 20.0) -> list[PredictedRecipe]:
        """Up to ``n`` spread-out recipes for one target, best (highest objective) first.

        Parameters
        ----------
        target, tol : sequence of float (k)  in ``names`` order
        seeds : int  simulations whose mean must meet the targets
        starts : array-like ``(s, 3)`` of (phi, chi, log_time), optional  extra starting recipes
        min_separation : float  unit-box distance between listed recipes
        max_ratio : float  listed recipes score at least 1/max_ratio of the best (objective
            exp(log P - time penalty)); fewer than ``n`` when the pathway is short
        """
        t = torch.as_tensor(target, dtype=torch.float64)
        tl = torch.as_tensor(tol, dtype=torch.float64)
        obj = self._objective(self.grid, t, tl, seeds, self.grid_u, time_penalty)
        order = torch.argsort(obj, descending=True)
        # refine from spread-out good grid points (and the given starts)
        u0 = self.grid_u[_spread(order, self.grid_u, max(refine, n), min_separation)]
        n_grid = u0.shape[0]
        if starts is not None and len(starts):
            u0 = torch.cat([u0, self._start_u(starts)])
        u = self._refine(u0, t, tl, seeds, time_penalty)
        sources = ["grid"] * n_grid + ["start"] * (u.shape[0] - n_grid)
        # candidates: refined points, then the best grid points as fall-backs (refined points may
        # slide together along the pathway)
        pool_u = torch.cat([u, self.grid_u[order[:2000]]])
        pool_src = sources + ["grid"] * (pool_u.shape[0] - u.shape[0])
        with torch.no_grad():
            pool_obj = self._objective(self._predict(pool_u), t, tl, seeds, pool_u, time_penalty)
        ranked = torch.argsort(pool_obj, descending=True)
        good = ranked[pool_obj[ranked] >= pool_obj[ranked[0]] - math.log(max_ratio)]
        chosen = _spread(good, pool_u, n, min_separation)
        recs = []
        for i in chosen:
            recs += self._describe(pool_u[i:i + 1], t, tl, seeds, pool_src[i])
        return recs

    def find_each(self, targets, tol, seeds: int = 1, starts=None, time_penalty: float = 0.5,
                  refine: int = 4) -> list[PredictedRecipe]:
        """The best recipe for each row of ``targets (b, k)`` (e.g. every design candidate's measured
        values), refining the grid's best points and ``starts (b, 3)`` in one batch."""
        t = torch.as_tensor(targets, dtype=torch.float64).reshape(-1, len(self.names))
        tl = torch.as_tensor(tol, dtype=torch.float64)
        b = t.shape[0]
        obj = self._objective(_expand(self.grid, b), t[:, None, :], tl, seeds, self.grid_u, time_penalty)
        top = torch.argsort(obj, dim=1, descending=True)[:, :refine]  # (b, refine)
        u0 = self.grid_u[top]  # (b, refine, 3)
        if starts is not None:
            u0 = torch.cat([u0, self._start_u(starts).reshape(b, 1, 3)], dim=1)
        r = u0.shape[1]
        tt = t[:, None, :].expand(b, r, -1).reshape(b * r, -1)
        u = self._refine(u0.reshape(b * r, 3), tt, tl, seeds, time_penalty).reshape(b, r, 3)
        with torch.no_grad():
            o = self._objective(self._predict(u.reshape(-1, 3)), tt, tl, seeds, u.reshape(-1, 3),
                                time_penalty).reshape(b, r)
        best = o.argmax(dim=1)
        out = []
        for i in range(b):
            k = int(best[i])
            src = "start" if starts is not None and k == r - 1 else "grid"
            out += self._describe(u[i, k:k + 1], t[i], tl, seeds, src)
        return out

    def plane(self, phi: float, target, tol, seeds: int = 3, resolution: int = 41):
        """The pathway map at blend ratio ``phi``: chi axis ``(a,)``, log-time axis ``(b,)``,
        predicted distance ``(b, a)`` and success probability ``(b, a)``."""
        chi = torch.linspace(float(self.lower[1]), float(self.upper[1]), resolution, dtype=torch.float64)
        lt = torch.linspace(float(self.lower[2]), float(self.upper[2]), resolution, dtype=torch.float64)
        cc, tt = torch.meshgrid(chi, lt, indexing="xy")  # (b, a)
        rec = torch.stack([torch.full_like(cc, float(phi)), cc, tt], -1).reshape(-1, 3)
        t = torch.as_tensor(target, dtype=torch.float64)
        tl = torch.as_tensor(tol, dtype=torch.float64)
        with torch.no_grad():
            pred = self.surrogate.predict(rec, self.names)
            dist = predicted_distance(pred.mean, t, tl).reshape(cc.shape)
            p = log_success(pred.mean, pred.seed_std, pred.model_std, pred.p_separated, t, tl, seeds).exp()
        return chi, lt, dist, p.reshape(cc.shape)

    def pathway(self, target, tol, seeds: int = 3) -> list[dict]:
        """The best grid recipe at each annealing time of the grid (the chi - time trade-off):
        ``[{phi, chi, log_time, time, predicted_distance, p_success}]``, shortest time first."""
        t = torch.as_tensor(target, dtype=torch.float64)
        tl = torch.as_tensor(tol, dtype=torch.float64)
        with torch.no_grad():
            ls = log_success(self.grid.mean, self.grid.seed_std, self.grid.model_std,
                             self.grid.p_separated, t, tl, seeds)
            dist = predicted_distance(self.grid.mean, t, tl)
        raw = self.to_recipe(self.grid_u)
        out = []
        levels = torch.unique(self.grid_u[:, 2])
        for level in levels:
            idx = torch.nonzero(self.grid_u[:, 2] == level).squeeze(-1)
            i = int(idx[torch.argmax(ls[idx])])
            out.append({"phi": float(raw[i, 0]), "chi": float(raw[i, 1]), "log_time": float(raw[i, 2]),
                        "time": 10.0 ** float(raw[i, 2]), "predicted_distance": float(dist[i]),
                        "p_success": float(ls[i].exp())})
        return out


def _spread(order: torch.Tensor, u: torch.Tensor, n: int, min_separation: float) -> list[int]:
    """Greedy: walk ``order`` (indices into ``u``, best first), keep points at least
    ``min_separation`` from every kept one, until ``n`` are kept."""
    chosen: list[int] = []
    for i in order.tolist():
        if not chosen or bool(((u[chosen] - u[i]).norm(dim=-1) >= min_separation).all()):
            chosen.append(i)
            if len(chosen) == n:
                break
    return chosen


def _expand(pred: Prediction, b: int) -> Prediction:
    """Grid predictions as ``(1, G, k)`` views, to broadcast against ``b`` targets."""
    return Prediction(pred.names, pred.mean[None], pred.seed_std[None], pred.model_std[None],
                      pred.p_separated[None])


_CACHE: "weakref.WeakKeyDictionary[RecipeSurrogate, dict]" = weakref.WeakKeyDictionary()


def search_for(surrogate: RecipeSurrogate, names: Sequence[str], bounds=None) -> RecipeSearch:
    """A :class:`RecipeSearch`, cached per surrogate and names (no bounds) so repeated inversions,
    e.g. one per design trial, reuse the grid predictions."""
    if bounds:
        return RecipeSearch(surrogate, names, bounds)
    per = _CACHE.setdefault(surrogate, {})
    key = tuple(names)
    if key not in per:
        per[key] = RecipeSearch(surrogate, key)
    return per[key]
