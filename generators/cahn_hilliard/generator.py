"""The Cahn-Hilliard simulator as a :class:`generators.protocol.Generator` (recipe -> volume)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import torch

from generators.cahn_hilliard.params import CHParams, on_coarse_grid
from generators.cahn_hilliard.phases import phase_map
from generators.cahn_hilliard.solver import (fourier_upsample, initial_field, integrate,
                                             wavenumbers_squared)
from generators.protocol import RECIPE_NAMES, Samples

#: Default condition bounds: phi (donor fraction), chi, time (simulation units).
DEFAULT_BOUNDS = ((0.3, 2.5, 10.0), (0.7, 4.0, 10_000.0))  # as the default data-set design


def simulator_spec(shape: Sequence[int], params: CHParams | None = None, upsample: int = 1) -> dict:
    """A model's ``simulator`` block: :class:`CahnHilliardGenerator` keyword arguments as JSON
    (``shape``, ``upsample``, ``params``), by default the project's one physics (:class:`CHParams`
    defaults: kappa 1, mobility 1, grid spacing 1). Recipe verification rebuilds the simulator
    from it (``LatentDiffusionGenerator.recipe_simulator``)."""
    return {"shape": [int(n) for n in shape], "upsample": int(upsample), "params": asdict(params or CHParams())}


def run_seeds(seed: int | None, count: int) -> list[int]:
    """``count`` independent 32-bit seeds derived from ``seed`` (fresh entropy when None)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


class CahnHilliardGenerator:
    """Volumes from the recipe (phi, chi, time) by simulating Cahn-Hilliard annealing.

    Parameters
    ----------
    shape : tuple of int
        Volume shape (default 128x128x64; the last axis is the film thickness).
    phases : int
        2 or 3 (see :mod:`generators.cahn_hilliard.phases` for the labelling rule).
    bounds : array-like ``(2, 3)``, optional
        Lower and upper bounds of (phi, chi, time); default :data:`DEFAULT_BOUNDS`.
    device, dtype
        Where and in which precision to simulate (float32 default).
    params : CHParams, optional
        Solver parameters.
    batch_size : int
        Runs simulated at once (default 16).
    upsample : int
        Simulate on a grid this many times coarser (params still in output voxels) and
        interpolate the field spectrally before the phase map, as the data-set builder's
        ``BuildConfig.upsample`` does (default 1: simulate at ``shape``).

    Notes
    -----
    ``sample`` returns ``predicted`` = the recipe itself: ``phi``, ``chi`` and ``log_time``
    (log10 of the time).
    """

    condition_names = ("phi", "chi", "time")
    predicted_names = RECIPE_NAMES

    def __init__(self, shape: Sequence[int] = (128, 128, 64), phases: int = 2, bounds=None,
                 device=None, dtype=torch.float32, params: CHParams | dict | None = None,
                 batch_size: int = 16, upsample: int = 1) -> None:
        if phases not in (2, 3):
            raise ValueError(f"phases must be 2 or 3, got {phases!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.shape = tuple(int(n) for n in shape)
        wavenumbers_squared(self.shape)  # validates
        self.phases = phases
        self.bounds = torch.as_tensor(DEFAULT_BOUNDS if bounds is None else bounds, dtype=torch.float64)
        if self.bounds.shape != (2, 3) or not (self.bounds[0] <= self.bounds[1]).all():
            raise ValueError("bounds must be (2, 3) with lower <= upper for (phi, chi, time)")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype
        self.params = CHParams(**params) if isinstance(params, dict) else (params or CHParams())
        self.batch_size = batch_size
        if not isinstance(upsample, int) or upsample < 1 or any(
                n % upsample or n // upsample < 2 for n in self.shape):
            raise ValueError(f"upsample must be a positive integer dividing every size of {self.shape} "
                             f"(coarse sizes >= 2), got {upsample!r}")
        self.upsample = upsample
        # simulate on a coarser grid and interpolate, exactly as the data-set builder does
        self._sim_shape = tuple(n // upsample for n in self.shape)
        self._sim_params = on_coarse_grid(self.params, upsample)

    def sample(self, conditions: torch.Tensor, n: int = 1, seed: int | None = None) -> Samples:
        """Simulate ``n`` runs (different noise) for each recipe row ``(phi, chi, time)``."""
        cond = torch.as_tensor(conditions, dtype=torch.float64).cpu()
        if cond.dim() == 1:
            cond = cond.unsqueeze(0)
        if cond.dim() != 2 or cond.shape[1] != 3:
            raise ValueError(f"conditions must be (m, 3) rows of (phi, chi, time), got {tuple(cond.shape)}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not torch.isfinite(cond).all():
            raise ValueError("conditions must be finite")
        if ((cond[:, 0] <= 0) | (cond[:, 0] >= 1)).any():
            raise ValueError("phi must lie in (0, 1)")
        if (cond[:, 2] <= 0).any():
            raise ValueError("time must be positive")
        rows = cond.repeat_interleave(n, dim=0)
        seeds = run_seeds(seed, rows.shape[0])
        volumes = torch.empty((rows.shape[0],) + self.shape, dtype=torch.uint8, device=self.device)
        order = torch.argsort(rows[:, 2], stable=True).tolist()
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            sub = rows[idx]
            times = sorted(set(sub[:, 2].tolist()))
            c0 = initial_field(sub[:, 0], self._sim_shape, [seeds[i] for i in idx], self.params.noise,
                               device=self.device, dtype=self.dtype)
            snaps = integrate(c0, sub[:, 1], times, self._sim_params)
            if self.upsample > 1:
                snaps = fourier_upsample(snaps, self.upsample)
            pick = torch.tensor([times.index(t) for t in sub[:, 2].tolist()], device=self.device)
            c = snaps[torch.arange(len(idx), device=self.device), pick]
            volumes[torch.tensor(idx, device=self.device)] = phase_map(
                c, self.phases, chi=sub[:, 1]).to(self.device)
        out_cond = rows.to(device=self.device, dtype=torch.float32)
        predicted = {
            "phi": rows[:, 0].to(self.device, torch.float32),
            "chi": rows[:, 1].to(self.device, torch.float32),
            "log_time": torch.log10(rows[:, 2]).to(self.device, torch.float32),
        }
        return Samples(volumes=volumes, conditions=out_cond, latents=None, predicted=predicted)


def log_time(time: float) -> float:
    """log10 of an annealing time (the recipe's ``log_time``)."""
    if time <= 0:
        raise ValueError(f"time must be positive, got {time}")
    return math.log10(time)
