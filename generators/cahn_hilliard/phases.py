"""Phase maps from donor-fraction fields.

Rules
-----
Two phases: donor (label 0) where ``c > 0.5``, acceptor (label 1) elsewhere.

Three phases: a voxel is *mixed* (label 2) where ``|c - 0.5| < delta``; otherwise donor or
acceptor as above. By default ``delta`` is relative to the equilibrium compositions of the
symmetric Flory-Huggins blend at that run's chi: ``delta = max(rel * (c_b(chi) - 0.5),
delta_min)`` with ``c_b`` the upper binodal composition (:func:`binodal`), ``rel = 0.5`` and
``delta_min = 0.05``. So the mixed phase is the inner half of the interface profile between the
two coexisting compositions, a thin layer (about two voxels at chi = 3 with kappa = 1) around
every interface; a blend still homogeneous at a composition within ``delta`` of 0.5 is all mixed.
"""

from __future__ import annotations

import torch

from generators.cahn_hilliard.free_energy import binodal

DONOR, ACCEPTOR, MIXED = 0, 1, 2


def mixed_halfwidth(chi, rel: float = 0.5, delta_min: float = 0.05) -> torch.Tensor:
    """Half-width ``delta`` of the mixed band around c = 0.5 for each chi (float64 tensor)."""
    if not (0 < rel < 1) or not (0 <= delta_min < 0.5):
        raise ValueError("mixed_halfwidth needs 0 < rel < 1 and 0 <= delta_min < 0.5")
    return torch.clamp(rel * (binodal(chi) - 0.5), min=delta_min)


def phase_map(c: torch.Tensor, phases: int = 2, chi=None, delta=None, rel: float = 0.5,
              delta_min: float = 0.05) -> torch.Tensor:
    """Label a donor-fraction field ``(..., X, Y, Z)`` as uint8 phases (0 donor, 1 acceptor, 2 mixed).

    Parameters
    ----------
    c : Tensor
        Donor fractions; a leading batch axis ``(B, ...)`` pairs with a ``(B,)`` chi or delta.
    phases : int
        2 (threshold at 0.5) or 3 (mixed band, see the module rules).
    chi : float or Tensor ``(B,)``, optional
        Interaction parameter(s), used to set ``delta`` when ``delta`` is not given.
    delta : float or Tensor ``(B,)``, optional
        Explicit half-width of the mixed band.
    """
    if phases not in (2, 3):
        raise ValueError(f"phases must be 2 or 3, got {phases!r}")
    labels = torch.where(c > 0.5, DONOR, ACCEPTOR).to(torch.uint8)
    if phases == 2:
        return labels
    if delta is None:
        if chi is None:
            raise ValueError("a three-phase map needs chi or delta")
        delta = mixed_halfwidth(chi, rel, delta_min)
    d = torch.as_tensor(delta, dtype=c.dtype, device=c.device)
    if d.dim() == 1 and c.dim() > 1:
        if d.numel() not in (1, c.shape[0]):
            raise ValueError(f"{d.numel()} delta/chi values for a batch of {c.shape[0]}")
        d = d.reshape(-1, *([1] * (c.dim() - 1)))
    return torch.where((c - 0.5).abs() < d, torch.tensor(MIXED, dtype=torch.uint8, device=c.device),
                       labels)
