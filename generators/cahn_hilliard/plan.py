"""Deterministic plans of (phi, chi, seed) series for simulated data sets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Series:
    """One simulated run: its position in the plan, recipe and noise seed."""

    index: int
    phi: float
    chi: float
    seed: int


def _check_range(name: str, lo: float, hi: float, low: float | None = None,
                 high: float | None = None) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} range must be finite with low <= high, got ({lo}, {hi})")
    if low is not None and lo <= low or high is not None and hi >= high:
        raise ValueError(f"{name} range ({lo}, {hi}) must lie inside ({low}, {high})")


def grid_shape(n: int) -> tuple[int, int]:
    """Factor ``n`` into (n_phi, n_chi) as square as possible, n_phi <= n_chi."""
    a = int(math.isqrt(n))
    while n % a:
        a -= 1
    return a, n // a


def _axis(lo: float, hi: float, k: int) -> np.ndarray:
    return np.array([0.5 * (lo + hi)]) if k == 1 else np.linspace(lo, hi, k)


def plan_series(n_series: int, phi_range: tuple[float, float], chi_range: tuple[float, float],
                design: str = "lhs", seed: int = 0) -> list[Series]:
    """The (phi, chi, seed) of every series, identical for identical arguments.

    Parameters
    ----------
    n_series : int
        Number of simulated runs.
    phi_range, chi_range : (float, float)
        Bounds of the donor fraction (inside (0, 1)) and of chi.
    design : {"lhs", "grid"}
        ``lhs``: a Latin hypercube (one point per stratum of each axis, uniform within it).
        ``grid``: a full factorial grid of ``n_phi x n_chi = n_series`` points, the axes as
        square as possible (:func:`grid_shape`; a single-level axis sits at its midpoint).
    seed : int
        Seeds the design and each series' noise seed.
    """
    if n_series < 1:
        raise ValueError(f"n_series must be >= 1, got {n_series}")
    _check_range("phi", *phi_range, low=0.0, high=1.0)
    _check_range("chi", *chi_range)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xC4]))
    if design == "lhs":
        u = (np.stack([rng.permutation(n_series) for _ in range(2)], 1)
             + rng.random((n_series, 2))) / n_series
        phi = phi_range[0] + u[:, 0] * (phi_range[1] - phi_range[0])
        chi = chi_range[0] + u[:, 1] * (chi_range[1] - chi_range[0])
    elif design == "grid":
        n_phi, n_chi = grid_shape(n_series)
        pp, cc = np.meshgrid(_axis(*phi_range, n_phi), _axis(*chi_range, n_chi), indexing="ij")
        phi, chi = pp.ravel(), cc.ravel()
    else:
        raise ValueError(f"design must be 'lhs' or 'grid', got {design!r}")
    seeds = np.random.SeedSequence([int(seed), 0x5EED]).generate_state(n_series)
    return [Series(i, float(p), float(c), int(s)) for i, (p, c, s) in enumerate(zip(phi, chi, seeds))]
