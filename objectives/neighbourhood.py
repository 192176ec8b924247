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

__all__ = ["neighbour_reduce", "box_reduce", "min_plus_26", "inf_outside", "W_FACE", "W_EDGE", "W_CORNER"]

W_FACE = 1.0
W_EDGE = float(torch.tensor(math.sqrt(2.0), dtype=torch.float32))
W_CORNER = float(torch.tensor(math.sqrt(3.0), dtype=torch.float32))

_OPS: dict[str, Callable] = {"min": torch.minimum, "max": torch.maximum, "or": torch.logical_or}


def neighbour_reduce(t: torch.Tensor, dim: int, op: str, fill: float | int | bool, wrap: bool,
                     include_self: bool, out: torch.Tensor | None = None) -> torch.Tensor:
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
    out : torch.Tensor, optional
        Preallocated result (same shape and dtype as ``t``, not aliasing it); reusing buffers
        saves the page faults of a fresh allocation on CPU.
    """
    fn = _OPS[op]
    n = t.shape[dim]
    if out is None:
        out = torch.empty_like(t)
    if n == 1:
        return out.copy_(t) if include_self else out.fill_(fill)
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


def min_plus_26(d: torch.Tensor, wrap: tuple[bool, bool], out: torch.Tensor | None = None,
                work: list[torch.Tensor] | None = None) -> torch.Tensor:
    """One relaxation over the 26-neighbourhood: ``min over neighbours u of d(u) + |u - v|``.

    ``d`` is float32 ``(B, X, Y, Z)`` with ``inf`` where a voxel may not be used; the voxel itself is
    not a neighbour. Lateral minima are taken first (faces M1, corners M2 of each 3x3 layer), then
    combined with the edge lengths; adding a constant after the minimum gives the same float32
    values as adding it to every neighbour (rounding is monotonic).

    ``out`` (the result) and ``work`` (four scratch tensors), all shaped like ``d`` and distinct
    from it, may be passed to reuse memory across calls.
    """
    inf = float("inf")
    if work is None:
        work = [torch.empty_like(d) for _ in range(4)]
    w0, w1, w2, w3 = work
    row = neighbour_reduce(d, 1, "min", inf, wrap[0], include_self=False, out=w0)
    m1 = neighbour_reduce(d, 2, "min", inf, wrap[1], include_self=False, out=w1)
    torch.minimum(m1, row, out=m1)
    m2 = neighbour_reduce(row, 2, "min", inf, wrap[1], include_self=False, out=w2)
    # same layer: faces + 1, corners + sqrt(2)   (w0 is free again)
    c0 = torch.add(m1, W_FACE, out=w0)
    torch.minimum(c0, torch.add(m2, W_EDGE, out=w3), out=c0)
    # layers above and below: straight + 1, faces + sqrt(2), corners + sqrt(3)
    m1.add_(W_EDGE)
    m2.add_(W_CORNER)
    c1 = torch.minimum(m1, m2, out=m1)
    torch.minimum(c1, torch.add(d, W_FACE, out=w3), out=c1)
    zr = neighbour_reduce(c1, 3, "min", inf, False, include_self=False, out=w2)
    return torch.minimum(c0, zr, out=out if out is not None else torch.empty_like(d))


def inf_outside(mask: torch.Tensor) -> torch.Tensor:
    """float32 penalty of a bool mask: 0 where True, +inf where False.

    Adding it to a float tensor masks that tensor; built as ``1 / mask - 1`` (1 / 0 = inf), which
    avoids ``where``/``masked_fill`` with a bool mask (several times slower on CPU).
    """
    return mask.to(torch.float32).reciprocal_().sub_(1.0)
