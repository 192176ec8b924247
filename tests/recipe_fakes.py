"""A fast fake simulator with a known recipe pathway, its label table, and a design generator that
ships a surrogate: for the recipe tests.

``PathwaySimulator`` maps a recipe (phi, chi, time) to 16x16x4 thresholded seeded noise whose donor
fraction is ``phi`` and whose columns line up more as ``chi + log10(time)`` grows (the fake
``CT_f_D_tort1`` of ``fake_describe_batch`` rises with it): the same structure comes from high chi
with short annealing or low chi with long annealing, as in the paper's pathway map.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from generators.protocol import Samples
from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

SHAPE = (16, 16, 4)
TIMES = (300.0, 700.0, 1600.0, 4000.0, 10000.0)


def alignment(chi, log_time):
    """The column alignment ``a`` in [0, 1] of a recipe: rises with chi + log10(time)."""
    return np.clip((np.asarray(chi) + np.asarray(log_time) - 5.5) / 2.5, 0.0, 1.0)


class PathwaySimulator:
    """A generator over (phi, chi, time); counts the runs it simulates (``runs``)."""

    condition_names = ("phi", "chi", "time")
    phases = 2
    shape = SHAPE

    def __init__(self) -> None:
        self.bounds = torch.tensor([[0.3, 2.5, 300.0], [0.7, 4.0, 1e4]], dtype=torch.float64)
        self.runs = 0
        self.seeds: list[int] = []

    def sample(self, conditions, n: int = 1, seed: int | None = None) -> Samples:
        c = torch.as_tensor(conditions, dtype=torch.float64).reshape(-1, 3)
        rows = c.repeat_interleave(n, 0)
        self.runs += rows.shape[0]
        self.seeds.append(int(seed))
        g = torch.Generator().manual_seed(int(seed))
        X, Y, Z = SHAPE
        m = rows.shape[0]
        f = rows[:, 0].clamp(0.02, 0.98).view(m, 1, 1, 1)
        a = torch.from_numpy(alignment(rows[:, 1].numpy(), np.log10(rows[:, 2].numpy()))).view(m, 1, 1, 1)
        col = torch.randn(m, X, Y, 1, generator=g, dtype=torch.float64)
        vox = torch.randn(m, X, Y, Z, generator=g, dtype=torch.float64)
        field = a.sqrt() * col + (1 - a).sqrt() * vox
        vols = (field >= torch.special.ndtri(f)).to(torch.uint8)
        return Samples(volumes=vols, conditions=rows.float())


def make_table(n_series: int = 24, seed: int = 0, sets=("train",)) -> list[dict]:
    """Label rows (set, series, phi, chi, seed, time, log_time, separated, ABS_f_D, CT_f_D_tort1)
    of the fake simulator: a Latin hypercube over phi x chi, every series at :data:`TIMES`."""
    sim = PathwaySimulator()
    rows = []
    for si, set_name in enumerate(sets):
        rng = np.random.default_rng([seed, si])
        u = (np.stack([rng.permutation(n_series) for _ in range(2)], 1) + rng.random((n_series, 2))) / n_series
        for i in range(n_series):
            phi, chi = 0.3 + 0.4 * u[i, 0], 2.5 + 1.5 * u[i, 1]
            s = int(rng.integers(0, 2**31))
            cond = torch.tensor([[phi, chi, t] for t in TIMES])
            d = fake_describe_batch(sim.sample(cond, 1, s).volumes)
            for j, t in enumerate(TIMES):
                rows.append({"set": set_name, "series": i, "phi": phi, "chi": chi, "seed": s, "time": t,
                             "log_time": math.log10(t), "separated": True,
                             "ABS_f_D": float(d["ABS_f_D"][j]), "CT_f_D_tort1": float(d["CT_f_D_tort1"][j])})
    return rows


class SurrogateFakeGenerator(BiasedFakeGenerator):
    """:class:`BiasedFakeGenerator` shipping a recipe surrogate (``surrogate`` attribute)."""

    name = "fake-surrogate"

    def __init__(self, device: str = "cpu", surrogate=None) -> None:
        super().__init__(device)
        self.surrogate = surrogate


@functools.lru_cache(maxsize=None)
def fitted_surrogate(n_series: int = 16):
    """A surrogate of :class:`PathwaySimulator` (``ABS_f_D``, ``CT_f_D_tort1``), fitted once per
    test session on :func:`make_table` (the caller must not modify it)."""
    from generators.surrogate import fit_surrogate

    return fit_surrogate(make_table(n_series), ["ABS_f_D", "CT_f_D_tort1"])
