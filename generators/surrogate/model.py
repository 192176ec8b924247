"""The recipe surrogate: recipe (phi, chi, log_time) -> each descriptor's mean and seed spread.

One :class:`~generators.surrogate.gp.SeriesGP` per descriptor, fitted on the separated rows of a
label table, and a logistic model of whether the blend has separated at all. Saved as one
``surrogate.safetensors`` file: the training inputs and values as tensors, everything else (names,
bounds, fitted hyper-parameters, training seeds, a summary) as JSON in the file's metadata. No
pickle anywhere.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from generators.protocol import RECIPE_NAMES
from generators.surrogate.gp import SeriesGP, fit_gp, quad_features
from generators.surrogate.table import table_data
from objectives.targets import is_fraction

INPUTS = RECIPE_NAMES
FORMAT = "invdesign-recipe-surrogate"
FILENAME = "surrogate.safetensors"


@dataclass
class Prediction:
    """Surrogate output at ``m`` recipes for ``k`` descriptors.

    Attributes
    ----------
    names : tuple of str (k)
    mean : Tensor ``(m, k)``  expected descriptor value of one fresh simulation
    seed_std : Tensor ``(m, k)``  spread between simulations (seeds) at the same recipe
    model_std : Tensor ``(m, k)``  the surrogate's own uncertainty about ``mean``
    p_separated : Tensor ``(m,)``  probability that the blend has phase-separated
    """

    names: tuple[str, ...]
    mean: torch.Tensor
    seed_std: torch.Tensor
    model_std: torch.Tensor
    p_separated: torch.Tensor

    def column(self, name: str) -> dict[str, torch.Tensor]:
        j = self.names.index(name)
        return {"mean": self.mean[:, j], "seed_std": self.seed_std[:, j], "model_std": self.model_std[:, j]}


@dataclass(eq=False)
class RecipeSurrogate:
    """A fitted surrogate of the simulator (see the module docstring).

    Attributes
    ----------
    names : list of str  descriptors it predicts
    lower, upper : list of float (3)  recipe bounds of the training data (phi, chi, log_time)
    x : Tensor ``(n, 3)`` normalised training recipes (separated rows)
    groups : Tensor ``(n,)`` series ids
    y : Tensor ``(n, k)`` descriptor values (raw units)
    y_mean, y_std : list of float (k)  standardisation
    thetas : dict name -> GP hyper-parameters (None: a constant descriptor)
    separation : list of float (10)  logistic weights of ``P(separated)`` on quadratic features
    seeds : list of int  noise seeds of the training simulations
    info : dict  summary (rows, series, fit seconds, held-out scores when measured)
    """

    names: list[str]
    lower: list[float]
    upper: list[float]
    x: torch.Tensor
    groups: torch.Tensor
    y: torch.Tensor
    y_mean: list[float]
    y_std: list[float]
    thetas: dict[str, dict | None]
    separation: list[float]
    seeds: list[int] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._gps: dict[str, SeriesGP | None] = {}

    # -- prediction -----------------------------------------------------------------------
    def normalise(self, recipes: torch.Tensor) -> torch.Tensor:
        """Recipes ``(m, 3)`` (phi, chi, log_time) -> the unit cube of the training bounds."""
        lo = torch.tensor(self.lower, dtype=torch.float64)
        hi = torch.tensor(self.upper, dtype=torch.float64)
        return (torch.as_tensor(recipes, dtype=torch.float64) - lo) / (hi - lo).clamp_min(1e-12)

    def _gp(self, name: str) -> SeriesGP | None:
        if name not in self._gps:
            j = self.names.index(name)
            theta = self.thetas[name]
            self._gps[name] = None if theta is None else SeriesGP(
                self.x, (self.y[:, j].double() - self.y_mean[j]) / self.y_std[j], self.groups, theta)
        return self._gps[name]

    def predict(self, recipes, names: Sequence[str] | None = None) -> Prediction:
        """Predict descriptors at recipes ``(m, 3)`` = (phi, chi, log_time) (differentiable).

        Raises
        ------
        ValueError
            A name the surrogate does not model (the message lists those it does).
        """
        names = tuple(self.names if names is None else names)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"the recipe surrogate does not model {', '.join(unknown)}; "
                             f"it models: {', '.join(self.names)}")
        r = torch.as_tensor(recipes, dtype=torch.float64)
        if r.dim() == 1:
            r = r.unsqueeze(0)
        if r.dim() != 2 or r.shape[1] != 3:
            raise ValueError(f"recipes must be (m, 3) rows of {INPUTS}, got shape {tuple(r.shape)}")
        x = self.normalise(r)
        means, seeds, models = [], [], []
        for n in names:
            j = self.names.index(n)
            gp = self._gp(n)
            if gp is None:
                mu = torch.full((x.shape[0],), self.y_mean[j], dtype=torch.float64)
                zero = torch.zeros_like(mu)
                means.append(mu), seeds.append(zero), models.append(zero)
                continue
            mu, var_f, var_s = gp.predict(x)
            mu = mu * self.y_std[j] + self.y_mean[j]
            if is_fraction(n):
                mu = mu.clamp(0.0, 1.0)
            means.append(mu)
            seeds.append(var_s.sqrt() * self.y_std[j])
            models.append(var_f.sqrt() * self.y_std[j])
        w = torch.tensor(self.separation, dtype=torch.float64)
        p_sep = torch.sigmoid(quad_features(x) @ w)
        return Prediction(names, torch.stack(means, -1), torch.stack(seeds, -1),
                          torch.stack(models, -1), p_sep)

    # -- files ----------------------------------------------------------------------------
    def config(self) -> dict:
        return {"format": FORMAT, "inputs": list(INPUTS), "names": self.names, "lower": self.lower,
                "upper": self.upper, "y_mean": self.y_mean, "y_std": self.y_std, "thetas": self.thetas,
                "separation": self.separation, "seeds": self.seeds, "info": self.info}

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (a directory gets :data:`FILENAME` inside it), atomically."""
        p = Path(path)
        if p.is_dir():
            p = p / FILENAME
        tmp = p.with_name(p.name + ".tmp")
        tensors = {"x": self.x.double().contiguous(), "groups": self.groups.long().contiguous(),
                   "y": self.y.double().contiguous()}
        save_file(tensors, str(tmp), metadata={"config": json.dumps(self.config())})
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> "RecipeSurrogate":
        """Read a file written by :meth:`save` (a directory: its :data:`FILENAME`).

        Raises
        ------
        ValueError
            No such file, or not a recipe surrogate.
        """
        p = Path(path)
        if p.is_dir():
            p = p / FILENAME
        if not p.is_file():
            raise ValueError(f"no recipe surrogate at {p}")
        try:
            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in ("x", "groups", "y")}
            cfg = json.loads(meta["config"])
        except (KeyError, OSError, json.JSONDecodeError, Exception) as exc:
            raise ValueError(f"{p} is not a recipe surrogate ({type(exc).__name__})") from None
        if cfg.get("format") != FORMAT:
            raise ValueError(f"{p} is not a recipe surrogate (format {cfg.get('format')!r})")
        return cls(cfg["names"], cfg["lower"], cfg["upper"], tensors["x"], tensors["groups"], tensors["y"],
                   cfg["y_mean"], cfg["y_std"], cfg["thetas"], cfg["separation"], cfg.get("seeds", []),
                   cfg.get("info", {}))


def fit_separation(x: torch.Tensor, separated: torch.Tensor) -> list[float]:
    """Logistic weights ``(10,)`` of P(separated) on :func:`quad_features` (normal prior, sd 3);
    a table of one class gives a constant (logit +-8)."""
    s = separated.double()
    if bool(s.all()) or not bool(s.any()):
        return [8.0 if bool(s.all()) else -8.0] + [0.0] * 9
    q = quad_features(x.double())
    w = torch.zeros(q.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(q @ w, s, reduction="sum")
        loss = loss + 0.5 * (w[1:] / 3.0).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return [float(v) for v in w.detach()]


def fit_surrogate(table_rows, descriptor_names: Iterable[str], sets: Sequence[str] | None = ("train",),
                  progress: Callable[[str], None] | None = None) -> RecipeSurrogate:
    """Fit a :class:`RecipeSurrogate` to a label table.

    Parameters
    ----------
    table_rows : path, DataFrame or sequence of mappings
        The label table (format: :mod:`generators.surrogate.table`): one row per simulated
        snapshot with ``phi``, ``chi``, ``time``/``log_time``, ``series``, ``seed``, ``separated``
        and the descriptor columns.
    descriptor_names : iterable of str
        Descriptor columns to model.
    sets : sequence of str, optional
        Rows of these ``set`` values are used (default the ``train`` split; None: every row).
    progress : callable, optional
        Called with each descriptor name before it is fitted.

    Returns
    -------
    RecipeSurrogate
        Its bounds are the training rows' ranges; its seed spread comes from the differences
        between simulations (series) at neighbouring recipes, correlated along each series.
    """
    start = time.perf_counter()
    data = table_data(table_rows, descriptor_names, sets)
    lower = data.recipes.min(axis=0).tolist()
    upper = data.recipes.max(axis=0).tolist()
    for i, name in enumerate(INPUTS):
        if upper[i] - lower[i] < 1e-9:
            raise ValueError(f"the label table's {name} does not vary: the surrogate needs a range")
    span = np.asarray(upper) - np.asarray(lower)
    x_all = torch.from_numpy((data.recipes - np.asarray(lower)) / span)
    sep = torch.from_numpy(data.separated)
    separation = fit_separation(x_all, sep)
    keep = sep if bool(sep.sum() >= 8) else torch.ones_like(sep)
    x, groups = x_all[keep], torch.from_numpy(data.groups)[keep]
    y = torch.from_numpy(data.values)[keep]
    y_mean, y_std, thetas = [], [], {}
    for j, name in enumerate(data.names):
        if progress is not None:
            progress(name)
        col = y[:, j]
        mu, sd = float(col.mean()), float(col.std())
        if not math.isfinite(sd) or sd < 1e-9 * max(1.0, abs(mu)):
            y_mean.append(mu), y_std.append(1.0)
            thetas[name] = None
            continue
        y_mean.append(mu), y_std.append(sd)
        thetas[name] = fit_gp(x, (col - mu) / sd, groups).theta
    info = {"rows": int(x_all.shape[0]), "rows_fitted": int(x.shape[0]),
            "rows_unseparated": int((~sep).sum()), "rows_dropped": data.dropped,
            "series": int(len(set(data.groups.tolist()))), "sets": list(sets) if sets else None,
            "fit_seconds": round(time.perf_counter() - start, 2)}
    return RecipeSurrogate(data.names, lower, upper, x, groups, y, y_mean, y_std, thetas, separation,
                           data.seeds, info)


def score(surrogate: RecipeSurrogate, table_rows, sets: Sequence[str] | None = ("held",)) -> dict:
    """Held-out check: per descriptor R^2 of the mean, RMSE, and the fraction of values inside the
    predicted central 95% (mean +- 1.96 sqrt(seed_std^2 + model_std^2)), on separated rows."""
    data = table_data(table_rows, surrogate.names, sets)
    keep = data.separated
    if not keep.any():
        raise ValueError("no separated rows to score")
    pred = surrogate.predict(torch.from_numpy(data.recipes[keep]))
    y = torch.from_numpy(data.values[keep])
    out = {}
    for j, n in enumerate(surrogate.names):
        err = y[:, j] - pred.mean[:, j]
        ss = float(((y[:, j] - y[:, j].mean()) ** 2).sum())
        total = (pred.seed_std[:, j] ** 2 + pred.model_std[:, j] ** 2).sqrt()
        out[n] = {"r2": 1 - float((err ** 2).sum()) / ss if ss > 0 else float("nan"),
                  "rmse": float((err ** 2).mean().sqrt()),
                  "coverage95": float(((err.abs() <= 1.96 * total + 1e-12).double()).mean()),
                  "mean_seed_std": float(pred.seed_std[:, j].mean())}
    return {"rows": int(keep.sum()), "descriptors": out}
