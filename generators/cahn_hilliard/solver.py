"""Semi-implicit spectral Cahn-Hilliard solver on a periodic grid, batched over runs.

The model is ``dc/dt = div(M grad mu)``, ``mu = f'(c) - kappa lap c`` with constant mobility M
(see :mod:`generators.cahn_hilliard.free_energy`). One step of size ``dt`` is the linearly
stabilised scheme (Fourier space, ``k2 = |k|^2``, grid spacing 1):

    (1 + dt M (A k2 + kappa k2^2)) c_hat' = (1 + dt M A k2) c_hat - dt M k2 FFT[f'(c)]

The fourth-order term and a stabilising ``A k2`` are implicit; with ``A >= max|f''| / 2`` the
scheme is energy stable for any dt. The ``k = 0`` mode is untouched, so the mean composition is
conserved to rounding. Fields are ``(B, *shape)`` with shape 2-D or 3-D; the FFT runs over the
spatial axes. Device generic: the same code runs on CPU and CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from generators.cahn_hilliard.free_energy import chemical_potential_bulk, curvature
from generators.cahn_hilliard.params import CHParams


def wavenumbers_squared(shape: Sequence[int], device=None, dtype=torch.float32) -> torch.Tensor:
    """|k|^2 on the rfft grid of ``shape`` (last axis halved), grid spacing 1, radians per voxel."""
    if len(shape) not in (2, 3) or any(int(n) < 2 for n in shape):
        raise ValueError(f"shape must be 2-D or 3-D with every size >= 2, got {tuple(shape)}")
    ks = [2 * math.pi * torch.fft.fftfreq(n, d=1.0, device=device, dtype=dtype) for n in shape[:-1]]
    ks.append(2 * math.pi * torch.fft.rfftfreq(shape[-1], d=1.0, device=device, dtype=dtype))
    grids = torch.meshgrid(*ks, indexing="ij")
    return sum(g * g for g in grids)


def _dims(ndim: int) -> tuple[int, ...]:
    return tuple(range(-ndim, 0))


def _as_batch(value, batch: int, name: str, dtype, device) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(batch)
    if t.numel() != batch:
        raise ValueError(f"{name} has {t.numel()} values for a batch of {batch}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    return t.clone()


def stabilizer(c: torch.Tensor, chi: torch.Tensor, params: CHParams) -> torch.Tensor:
    """Per-run stabiliser A ``(B, 1, ...)``: fixed, or ``max(1, safety * f''(c_far) / 2)``."""
    view = (-1,) + (1,) * (c.dim() - 1)
    if params.stabilization is not None:
        return torch.full((c.shape[0],) + (1,) * (c.dim() - 1), params.stabilization,
                          dtype=c.dtype, device=c.device)
    far = (c - 0.5).abs().flatten(1).amax(dim=1)
    c_far = (0.5 - far).clamp_min(params.eps)
    a = 0.5 * params.stab_safety * curvature(c_far, chi, params.eps).abs()
    return a.clamp_min(1.0).reshape(view)


def initial_field(phi, shape: Sequence[int], seeds: Sequence[int], noise: float,
                  device=None, dtype=torch.float32) -> torch.Tensor:
    """``phi`` plus zero-mean uniform noise of amplitude ``noise``, one seeded draw per run.

    The noise is drawn on the CPU in float64 from ``torch.Generator().manual_seed(seed)`` so a
    seed gives the same start on every device and dtype.
    """
    phi = torch.as_tensor(phi, dtype=torch.float64).reshape(-1)
    if phi.numel() != len(seeds):
        raise ValueError(f"{phi.numel()} phi values for {len(seeds)} seeds")
    fields = []
    for p, s in zip(phi.tolist(), seeds):
        g = torch.Generator().manual_seed(int(s))
        n = (torch.rand(tuple(shape), generator=g, dtype=torch.float64) * 2 - 1) * noise
        fields.append(p + (n - n.mean()))
    return torch.stack(fields).to(device=device, dtype=dtype)


def integrate(c0: torch.Tensor, chi, times: Sequence[float], params: CHParams | None = None,
              t0: float = 0.0, callback=None) -> torch.Tensor:
    """Advance fields ``c0`` ``(B, *shape)`` and return snapshots ``(B, T, *shape)`` at ``times``.

    Parameters
    ----------
    c0 : Tensor ``(B, X, Y[, Z])``
        Initial donor fractions; float32 or float64, any device.
    chi : float or sequence or Tensor ``(B,)``
        Flory-Huggins parameter per run.
    times : sequence of float
        Snapshot times (simulation units), strictly increasing and > ``t0``.
    params : CHParams
        Physics and time stepping (defaults: kappa = M = 1, adaptive dt).
    t0 : float
        Time of ``c0``.
    callback : callable, optional
        Called as ``callback(t, c)`` after every step (for diagnostics and tests).
    """
    params = params or CHParams()
    if c0.dim() not in (3, 4):
        raise ValueError(f"c0 must be (B, X, Y) or (B, X, Y, Z), got shape {tuple(c0.shape)}")
    if not c0.is_floating_point():
        raise ValueError("c0 must be a floating-point tensor")
    times = [float(t) for t in times]
    if not times:
        raise ValueError("times must hold at least one snapshot time")
    if any(not math.isfinite(t) for t in times) or times[0] <= t0 or any(
            b <= a for a, b in zip(times, times[1:])):
        raise ValueError(f"times must be finite, strictly increasing and after t0={t0}: {times}")
    shape = tuple(c0.shape[1:])
    dims = _dims(len(shape))
    batch = c0.shape[0]
    dev, dt_ = c0.device, c0.dtype
    chi_b = _as_batch(chi, batch, "chi", dt_, dev)
    k2 = wavenumbers_squared(shape, device=dev, dtype=dt_)
    k4 = k2 * k2
    m, kappa = params.mobility, params.kappa

    c = c0.clone()
    c_hat = torch.fft.rfftn(c, dim=dims)
    out = torch.empty((batch, len(times)) + shape, dtype=dt_, device=dev)
    t, i_snap = float(t0), 0
    h_cached, mk2, mk4 = None, None, None
    while i_snap < len(times):
        target = times[i_snap]
        h = params.step_size(t)
        last = t + h >= target * (1 - 1e-12) - 1e-12
        if last:
            h = target - t
        if h != h_cached:  # operators of this step size (reused while dt stays constant)
            mk2, mk4, h_cached = (h * m) * k2, (h * m * kappa) * k4 + 1, h
        a = stabilizer(c, chi_b, params)
        mu_hat = torch.fft.rfftn(chemical_potential_bulk(c, chi_b, params.eps), dim=dims)
        lin = mk2 * a  # dt M A k^2
        den = lin + mk4  # 1 + dt M (A k^2 + kappa k^4)
        c_hat.mul_(lin.add_(1)).sub_(mu_hat.mul_(mk2)).div_(den)
        c = torch.fft.irfftn(c_hat, s=shape, dim=dims)
        t = target if last else t + h
        if callback is not None:
            callback(t, c)
        if last:
            out[:, i_snap] = c
            i_snap += 1
    return out


def fourier_upsample(c: torch.Tensor, factor: int, ndim: int = 3) -> torch.Tensor:
    """Band-limited (spectral) interpolation of periodic fields onto a ``factor`` times finer grid.

    Parameters
    ----------
    c : Tensor ``(..., *shape)``
        Real periodic fields; the last ``ndim`` axes are spatial (even sizes).
    factor : int
        Refinement per axis (>= 1). Values at the coarse grid points are kept (up to the dropped
        Nyquist modes); the mean is kept exactly.
    ndim : int
        Number of spatial axes (2 or 3).
    """
    if factor == 1:
        return c
    if factor < 1 or ndim not in (2, 3) or c.dim() < ndim:
        raise ValueError(f"fourier_upsample needs factor >= 1 and 2 or 3 spatial axes, got {factor}, {ndim}")
    shape = tuple(c.shape[-ndim:])
    if any(n % 2 for n in shape):
        raise ValueError(f"fourier_upsample needs even sizes, got {shape}")
    dims = _dims(ndim)
    spec = torch.fft.rfftn(c, dim=dims)
    fine = tuple(n * factor for n in shape)
    out = spec.new_zeros(spec.shape[:-ndim] + fine[:-1] + (fine[-1] // 2 + 1,))
    # keep |k| < n/2 on every axis (the Nyquist planes are dropped: they are not band-limited)
    idx = []
    for n, m in zip(shape[:-1], fine[:-1]):
        h = n // 2
        idx.append((torch.cat([torch.arange(0, h), torch.arange(n - h + 1, n)]),
                    torch.cat([torch.arange(0, h), torch.arange(m - h + 1, m)])))
    hz = shape[-1] // 2
    src = spec[..., :hz]
    for axis, (s_i, _) in enumerate(idx):
        src = src.index_select(c.dim() - ndim + axis, s_i.to(c.device))
    view = out[..., :hz]
    grids = torch.meshgrid(*[d.to(c.device) for _, d in idx], indexing="ij")
    lead = (slice(None),) * (c.dim() - ndim)
    view[lead + tuple(grids)] = src
    return torch.fft.irfftn(out, s=fine, dim=dims) * float(factor) ** ndim


def simulate(phi, chi, times: Sequence[float] | float, shape: Sequence[int] = (128, 128, 64),
             seed=0, device=None, dtype=torch.float32, params: CHParams | None = None,
             callback=None) -> torch.Tensor:
    """Anneal blends from ``phi`` plus noise and return the donor-fraction snapshots.

    Parameters
    ----------
    phi : float or sequence
        Mean donor fraction(s) in (0, 1).
    chi : float or sequence
        Flory-Huggins parameter(s); phase separation needs chi > 2 at phi = 1/2.
    times : float or sequence of float
        Snapshot times, strictly increasing (simulation units; kappa = M = 1 by default).
    shape : tuple of int
        Grid shape (2-D or 3-D, periodic, spacing 1); the last axis is the film thickness.
    seed : int or sequence of int
        Seed of each run's initial noise. A sequence gives one run per seed.
    device, dtype
        Where and in which precision to compute (float32 default, float64 available).
    params : CHParams, optional
    callback : callable, optional
        Called as ``callback(t, c)`` after every step (progress reports; see :func:`integrate`).

    Returns
    -------
    Tensor
        ``(T, *shape)`` when phi, chi and seed are all scalars, else ``(B, T, *shape)`` with B the
        broadcast number of runs. Values are donor fractions.
    """
    params = params or CHParams()
    scalar = all(torch.as_tensor(v).dim() == 0 for v in (phi, chi, seed))
    times = [float(times)] if isinstance(times, (int, float)) else list(times)
    phi_t = torch.as_tensor(phi, dtype=torch.float64).reshape(-1)
    chi_t = torch.as_tensor(chi, dtype=torch.float64).reshape(-1)
    seed_t = torch.as_tensor(seed, dtype=torch.int64).reshape(-1)
    batch = max(phi_t.numel(), chi_t.numel(), seed_t.numel())
    phi_t = _as_batch(phi_t, batch, "phi", torch.float64, None)
    chi_t = _as_batch(chi_t, batch, "chi", torch.float64, None)
    seed_t = _as_batch(seed_t, batch, "seed", torch.int64, None)
    if ((phi_t <= 0) | (phi_t >= 1)).any():
        raise ValueError(f"phi must lie in (0, 1), got {phi_t.tolist()}")
    shape = tuple(int(n) for n in shape)
    wavenumbers_squared(shape)  # validates the shape
    c0 = initial_field(phi_t, shape, seed_t.tolist(), params.noise, device=device, dtype=dtype)
    out = integrate(c0, chi_t, times, params, callback=callback)
    return out[0] if scalar else out
