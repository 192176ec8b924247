"""Neighbourhood operations on batched voxel tensors ``(B, X, Y, Z)``.

All functions work on any device and never loop over voxels: every operation is a handful of
elementwise kernels on shifted views. Axis 1 (x) and axis 2 (y) may wrap (periodic lateral sides);
axis 3 (z, the film thickness) never wraps. Axes of size 1 are skipped, so a 2-D volume viewed as
``(B, X, 1, Y)`` gets the 8-neighbourhood.

Edge lengths of the 26-neighbourhood: 1 (face), sqrt(2) (edge), sqrt(3) (corner), in float32.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["neighbour_reduce", "box_reduce", "min_plus_26", "W_FACE", "W_EDGE", "W_CORNER"]

W_FACE = 1.0
W_EDGE = float(torch.tensor(math.sqrt(2.0), dtype=torch.float32))
W_CORNER = float(torch.tensor(math.sqrt(3.0), dtype=torch.float32))

_OPS: dict[str, Callable] = {"min": torch.minimum, "max": torch.maximum, "or": torch.logical_or}


def neighbour_reduce(t: torch.Tensor, dim: int, op: str, fill: float | int | bool, wrap: bool,
                     include_self: bool) -> torch.Tensor:
    """Reduce each element with its two neighbours along ``dim`` (``i - 1`` and ``i + 1``).

    Parameters
    ----------
    t : torch.Tensor
        Input values (not modified).
    dim : int
        Axis of the shift.
    op : {"min", "max", "or"}
        The reduction.
    fill : scalar
        The reduction's identity, used outside the array when ``wrap`` is False.
    wrap : bool
        Periodic axis (index -1 is n - 1).
    include_self : bool
        Whether the element itself takes part (a 3-box) or only its two neighbours.
    """
    fn = _OPS[op]
    n = t.shape[dim]
    if n == 1:
        return t.clone() if include_self else torch.full_like(t, fill)
    out = torch.empty_like(t)
    first, last = out.narrow(dim, 0, 1), out.narrow(dim, n - 1, 1)
    if n == 2:
        first.copy_(t.narrow(dim, 1, 1))
        last.copy_(t.narrow(dim, 0, 1))
    else:
        inner = out.narrow(dim, 1, n - 2)
        fn(t.narrow(dim, 0, n - 2), t.narrow(dim, 2, n - 2), out=inner)
        if wrap:
            fn(t.narrow(dim, 1, 1), t.narrow(dim, n - 1, 1), out=first)
            fn(t.narrow(dim, n - 2, 1), t.narrow(dim, 0, 1), out=last)
        else:
            first.copy_(t.narrow(dim, 1, 1))
            last.copy_(t.narrow(dim, n - 2, 1))
    if include_self:
        fn(out, t, out=out)
    return out


def box_reduce(t: torch.Tensor, op: str, fill: float | int | bool, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Reduce over the 3x3x3 box around every voxel of ``(B, X, Y, Z)`` (itself included), separably.

    ``fill`` is the identity of ``op`` ("min": +inf or the dtype's max, ...); ``wrap`` = periodic
    (x, y).
    """
    for dim, w in ((1, wrap[0]), (2, wrap[1]), (3, False)):
        t = neighbour_reduce(t, dim, op, fill, w, include_self=True)
    return t


def min_plus_26(d: torch.Tensor, wrap: tuple[bool, bool]) -> torch.Tensor:
    """One relaxation over the 26-neighbourhood: ``min over neighbours u of d(u) + |u - v|``.

    ``d`` is float32 ``(B, X, Y, Z)`` with ``inf`` where a voxel may not be used; the voxel itself is
    not a neighbour. Lateral minima are taken first (faces M1, corners M2 of each 3x3 layer), then
    combined with the edge lengths; adding a constant after the minimum gives the same float32
    values as adding it to every neighbour (rounding is monotonic).
    """
    inf = float("inf")
    row = neighbour_reduce(d, 1, "min", inf, wrap[0], include_self=False)
    m1 = neighbour_reduce(d, 2, "min", inf, wrap[1], include_self=False)
    torch.minimum(m1, row, out=m1)
    m2 = neighbour_reduce(row, 2, "min", inf, wrap[1], include_self=False)
    c0 = torch.minimum(m1 + W_FACE, m2 + W_EDGE)
    m1 += W_EDGE
    m2 += W_CORNER
    c1 = torch.minimum(m1, m2)
    torch.minimum(c1, d + W_FACE, out=c1)
    return torch.minimum(c0, neighbour_reduce(c1, 3, "min", inf, False, include_self=False), out=c0)
