"""Parameters of the Cahn-Hilliard solver and its time-step schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from generators.cahn_hilliard.free_energy import EPS


@dataclass(frozen=True)
class CHParams:
    """Physical and numerical parameters (all dimensionless, grid spacing 1).

    Attributes
    ----------
    kappa : float
        Gradient-energy coefficient (k_B T times grid spacing squared). Default 1.
    mobility : float
        Constant mobility M in ``dc/dt = div(M grad mu)``. Default 1.
    dt : float or None
        Fixed time step. ``None`` (default) uses the adaptive schedule
        ``dt(t) = min(dt_max, dt_min + dt_growth * t)``: small steps while the blend
        separates (growth rates are O(1)), larger ones while it coarsens.
    dt_min, dt_growth, dt_max : float
        The adaptive schedule (defaults 0.05, 0.02, 1.0). Each step is also shortened to land
        exactly on the next requested snapshot time.
    stabilization : float or None
        The linear stabiliser A of the semi-implicit scheme. ``None`` (default) takes, per run and
        per step, ``A = max(1, f''(c_far) / 2 * stab_safety)`` where ``c_far`` is the composition
        furthest from 1/2 in the current field; that bound keeps the scheme energy stable.
    stab_safety : float
        Safety factor of the adaptive stabiliser (default 1.0).
    noise : float
        Amplitude of the uniform initial noise around phi (default 0.01); the noise is shifted
        to zero mean so the mean composition is phi exactly.
    eps : float
        Clamp of c inside the logarithms (default 1e-6). The field itself is never clamped,
        so mass is conserved exactly.
    """

    kappa: float = 1.0
    mobility: float = 1.0
    dt: float | None = None
    dt_min: float = 0.05
    dt_growth: float = 0.02
    dt_max: float = 1.0
    stabilization: float | None = None
    stab_safety: float = 1.0
    noise: float = 0.01
    eps: float = EPS

    def __post_init__(self) -> None:
        for name in ("kappa", "mobility", "dt_min", "dt_max", "noise", "eps", "stab_safety"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"CHParams.{name} must be a positive finite number, got {value!r}")
        if self.dt is not None and not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"CHParams.dt must be positive or None, got {self.dt!r}")
        if self.dt_growth < 0 or self.dt_max < self.dt_min:
            raise ValueError("CHParams needs dt_growth >= 0 and dt_max >= dt_min")
        if self.stabilization is not None and self.stabilization < 0:
            raise ValueError(f"CHParams.stabilization must be >= 0, got {self.stabilization!r}")
        if self.eps >= 0.5:
            raise ValueError("CHParams.eps must be below 0.5")

    def step_size(self, t: float) -> float:
        """Time step at time ``t`` (before shortening to hit a snapshot)."""
        if self.dt is not None:
            return self.dt
        return min(self.dt_max, self.dt_min + self.dt_growth * t)


def default_times(n: int = 8, t_min: float = 10.0, t_max: float = 10_000.0) -> list[float]:
    """``n`` log-spaced snapshot times from ``t_min`` to ``t_max`` (simulation time units)."""
    if n < 1 or not (0 < t_min <= t_max):
        raise ValueError("default_times needs n >= 1 and 0 < t_min <= t_max")
    if n == 1:
        return [float(t_max)]
    a, b = math.log10(t_min), math.log10(t_max)
    return [10 ** (a + (b - a) * i / (n - 1)) for i in range(n)]


def on_coarse_grid(params: CHParams, upsample: int) -> CHParams:
    """``params`` (in output voxels) for a grid ``upsample`` times coarser.

    With grid spacing f = ``upsample`` output voxels and the same time units, the same equation has
    ``kappa / f**2`` and ``mobility / f**2``; the simulated field is interpolated back to the output
    grid (``solver.fourier_upsample``) before its phase map.
    """
    if upsample == 1:
        return params
    f2 = float(upsample) ** 2
    return replace(params, kappa=params.kappa / f2, mobility=params.mobility / f2)
