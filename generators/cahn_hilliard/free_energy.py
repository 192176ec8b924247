"""Flory-Huggins free energy of a binary blend and its derivatives.

Conventions
-----------
``c`` is the local donor volume fraction (dimensionless, in (0, 1)); ``chi`` the Flory-Huggins
interaction parameter (dimensionless); energies are per voxel in units of k_B T per lattice site.
The homogeneous free-energy density is

    f(c) = c ln c + (1 - c) ln(1 - c) + chi c (1 - c)

and the total free energy adds the gradient term (kappa / 2) |grad c|^2 (grid spacing 1).
The symmetric blend has its critical point at chi = 2, c = 1/2; its spinodal is
``f''(c) = 1 / (c (1 - c)) - 2 chi = 0``.
"""

from __future__ import annotations

import torch

#: Default clamp used inside the logarithms: c is evaluated in [EPS, 1 - EPS].
EPS = 1e-6


def _clamped(c: torch.Tensor, eps: float) -> torch.Tensor:
    return c.clamp(eps, 1.0 - eps)


def _chi_like(chi: torch.Tensor | float, c: torch.Tensor) -> torch.Tensor | float:
    """Broadcast a per-sample chi ``(B,)`` against fields ``(B, ...)``."""
    if isinstance(chi, torch.Tensor) and chi.dim() == 1 and c.dim() > 1:
        return chi.to(c).reshape(-1, *([1] * (c.dim() - 1)))
    return chi


def bulk_free_energy(c: torch.Tensor, chi: torch.Tensor | float, eps: float = EPS) -> torch.Tensor:
    """Homogeneous free-energy density f(c) (k_B T per site), elementwise.

    ``chi`` is a float or a ``(B,)`` tensor broadcast over the batch axis of ``c``.
    """
    cc = _clamped(c, eps)
    chi = _chi_like(chi, c)
    return cc * torch.log(cc) + (1 - cc) * torch.log1p(-cc) + chi * c * (1 - c)


def chemical_potential_bulk(c: torch.Tensor, chi: torch.Tensor | float, eps: float = EPS) -> torch.Tensor:
    """f'(c) = ln(c / (1 - c)) + chi (1 - 2c); logarithms use c clamped into [eps, 1 - eps]."""
    chi = _chi_like(chi, c)
    mu = torch.logit(c, eps=eps)  # clamps into [eps, 1 - eps] before the logarithm
    if isinstance(chi, torch.Tensor):
        return mu.addcmul_(chi, 1 - 2 * c)
    return mu.add_(1 - 2 * c, alpha=float(chi))


def curvature(c: torch.Tensor, chi: torch.Tensor | float, eps: float = EPS) -> torch.Tensor:
    """f''(c) = 1 / (c (1 - c)) - 2 chi, with c clamped into [eps, 1 - eps]."""
    cc = _clamped(c, eps)
    chi = _chi_like(chi, c)
    return 1.0 / (cc * (1 - cc)) - 2 * chi


def binodal(chi: torch.Tensor | float, iterations: int = 60) -> torch.Tensor:
    """Upper coexisting composition of the symmetric blend, c_b >= 1/2 (lower one is 1 - c_b).

    Solves ``ln(c / (1 - c)) = chi (2c - 1)`` on (1/2, 1) by bisection; returns 1/2 for
    ``chi <= 2`` (one phase).

    Parameters
    ----------
    chi : float or Tensor
        Flory-Huggins parameter(s).
    iterations : int
        Bisection steps (60 reaches float64 resolution).
    """
    chi_t = torch.as_tensor(chi, dtype=torch.float64)
    lo = torch.full_like(chi_t, 0.5)
    hi = torch.full_like(chi_t, 1.0 - 1e-15)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        # g(c) = ln(c/(1-c)) - chi (2c - 1) is negative between 1/2 and c_b when chi > 2.
        g = torch.log(mid) - torch.log1p(-mid) - chi_t * (2 * mid - 1)
        neg = g < 0
        lo = torch.where(neg, mid, lo)
        hi = torch.where(neg, hi, mid)
    out = 0.5 * (lo + hi)
    return torch.where(chi_t > 2.0, out, torch.full_like(out, 0.5))
