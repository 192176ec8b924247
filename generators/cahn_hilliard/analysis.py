"""Diagnostics of Cahn-Hilliard fields: free energy, structure factor, domain size, coarsening."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from generators.cahn_hilliard.free_energy import EPS, bulk_free_energy
from generators.cahn_hilliard.solver import wavenumbers_squared


def free_energy(c: torch.Tensor, chi, kappa: float = 1.0, eps: float = EPS) -> torch.Tensor:
    """Total free energy per run ``(B,)``: sum of f(c) + (kappa/2)|grad c|^2 over voxels.

    The gradient term is computed spectrally (Parseval on the rfft grid), consistent with the
    solver. ``c`` is ``(B, *shape)``; units are k_B T per site summed over the grid.
    """
    shape = tuple(c.shape[1:])
    dims = tuple(range(-len(shape), 0))
    n = math.prod(shape)
    chi_b = torch.as_tensor(chi, dtype=c.dtype, device=c.device).reshape(-1).expand(c.shape[0])
    bulk = bulk_free_energy(c, chi_b, eps).flatten(1).sum(1)
    c_hat = torch.fft.rfftn(c, dim=dims)
    k2 = wavenumbers_squared(shape, device=c.device, dtype=c.dtype)
    weight = torch.full_like(k2, 2.0)  # rfft keeps half the spectrum: double the inner modes
    weight[..., 0] = 1.0
    if shape[-1] % 2 == 0:
        weight[..., -1] = 1.0
    grad2 = (weight * k2 * c_hat.abs() ** 2).flatten(1).sum(1) / n
    return bulk + 0.5 * kappa * grad2


def _power_spectrum(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``|FFT(c - mean c)|^2`` per run ``(B, N)`` and the wavenumber magnitudes ``(N,)``
    (radians per voxel), both flattened over the full (not half) spectrum."""
    shape = tuple(c.shape[1:])
    dims = tuple(range(-len(shape), 0))
    c_hat = torch.fft.fftn(c - c.flatten(1).mean(1).reshape(-1, *([1] * len(shape))), dim=dims)
    power = (c_hat.abs() ** 2).flatten(1)
    ks = [2 * math.pi * torch.fft.fftfreq(n, device=c.device, dtype=c.dtype) for n in shape]
    kmag = torch.sqrt(sum(g * g for g in torch.meshgrid(*ks, indexing="ij"))).flatten()
    return power, kmag


def structure_factor(c: torch.Tensor, bins: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Spherically averaged structure factor of ``c - mean(c)``.

    Returns ``(k, S)`` with ``k`` the bin centres (radians per voxel, ``(nbins,)``) and ``S``
    ``(B, nbins)``. The k = 0 mode is excluded.
    """
    shape = tuple(c.shape[1:])
    power, kmag = _power_spectrum(c)
    dk = 2 * math.pi / max(shape)
    nb = bins or int(math.pi / dk) + 1
    idx = torch.clamp((kmag / dk).round().long(), max=nb)
    s = torch.zeros(c.shape[0], nb + 1, dtype=c.dtype, device=c.device)
    s.index_add_(1, idx, power)
    counts = torch.bincount(idx, minlength=nb + 1).to(c.dtype)
    s, counts = s[:, 1:nb], counts[1:nb]
    k = torch.arange(1, nb, device=c.device, dtype=c.dtype) * dk
    return k, s / counts.clamp_min(1)


def characteristic_length(c: torch.Tensor) -> torch.Tensor:
    """Domain size ``L = 2 pi / <k>`` (voxels) per run from the first moment of S(k)."""
    power, kmag = _power_spectrum(c)
    k1 = (power * kmag).sum(1) / power.sum(1).clamp_min(torch.finfo(c.dtype).tiny)
    return 2 * math.pi / k1


def coarsening_exponent(times: Sequence[float], lengths: Sequence[float]) -> float:
    """Least-squares slope of log L against log t (L ~ t^n; n = 1/3 for bulk-diffusion coarsening)."""
    t = torch.as_tensor(list(times), dtype=torch.float64).log()
    l = torch.as_tensor(list(lengths), dtype=torch.float64).log()
    if t.numel() < 2:
        raise ValueError("coarsening_exponent needs at least two times")
    tc, lc = t - t.mean(), l - l.mean()
    return float((tc * lc).sum() / (tc * tc).sum())
