"""Neighbourhood operations on batched voxel tensors ``(B, X, Y, Z)``.

All functions work on any device and never loop over voxels. Axis 1 (x) and axis 2 (y) may wrap
(periodic lateral sides); axis 3 (z, the film thickness) never wraps. Axes of size 1 that do not wrap
are skipped, so a 2-D volume viewed as ``(B, X, 1, Y)`` gets the 8-neighbourhood.

Edge lengths of the 26-neighbourhood: 1 (face), sqrt(2) (edge), sqrt(3) (corner), in float32.
"""

from __future__ import annotations

import math

import torch

__all__ = ["shift_pair", "box_reduce", "min_plus_26", "W_FACE", "W_EDGE", "W_CORNER"]

W_FACE = 1.0
W_EDGE = float(torch.tensor(math.sqrt(2.0), dtype=torch.float32))
W_CORNER = float(torch.tensor(math.sqrt(3.0), dtype=torch.float32))


def shift_pair(t: torch.Tensor, dim: int, fill: float | int | bool, wrap: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(prev, next)``: the values at index ``i - 1`` and ``i + 1`` along ``dim``.

    Outside the array the value is ``fill`` unless ``wrap`` (periodic), then it wraps around.
    """
    n = t.shape[dim]
    if wrap:
        prev = torch.roll(t, 1, dim)
        nxt = torch.roll(t, -1, dim)
        return prev, nxt
    shape = list(t.shape)
    shape[dim] = 1
    edge = t.new_full(shape, fill)
    prev = torch.cat([edge, t.narrow(dim, 0, n - 1)], dim)
    nxt = torch.cat([t.narrow(dim, 1, n - 1), edge], dim)
    return prev, nxt


def _active(t: torch.Tensor, dim: int, wrap: bool) -> bool:
    return t.shape[dim] > 1


def box_reduce(t: torch.Tensor, op: str, fill: float | int | bool, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Reduce over the 3x3x3 box around every voxel (itself included), separably.

    Parameters
    ----------
    t : torch.Tensor
        ``(B, X, Y, Z)`` values.
    op : {"min", "max", "or"}
        The reduction.
    fill : scalar
        Value outside the volume (the reduction's identity: +inf/max int for "min", ...).
    wrap : (bool, bool)
        Whether x and y wrap.
    """
    fn = {"min": torch.minimum, "max": torch.maximum, "or": torch.logical_or}[op]
    for dim, w in ((1, wrap[0]), (2, wrap[1]), (3, False)):
        if not _active(t, dim, w):
            continue
        prev, nxt = shift_pair(t, dim, fill, w)
        t = fn(t, fn(prev, nxt))
    return t


def min_plus_26(d: torch.Tensor, wrap: tuple[bool, bool]) -> torch.Tensor:
    """One relaxation over the 26-neighbourhood: ``min over neighbours u of d(u) + |u - v|``.

    ``d`` is float32 with ``inf`` where a voxel may not be used. The voxel itself is not a
    neighbour. Lateral minima are taken first (faces M1, corners M2 of the 3x3 layer), then combined
    with the edge lengths, so adding a constant after the minimum gives the same float32 values as
    adding it to every neighbour (rounding is monotonic).
    """
    inf = float("inf")
    if d.shape[1] > 1:
        xp, xn = shift_pair(d, 1, inf, wrap[0])
        row = torch.minimum(xp, xn)  # x-neighbours
    else:
        row = torch.full_like(d, inf)
    if d.shape[2] > 1:
        yp, yn = shift_pair(d, 2, inf, wrap[1])
        rp, rn = shift_pair(row, 2, inf, wrap[1])
        m1 = torch.minimum(row, torch.minimum(yp, yn))  # 4 lateral face neighbours
        m2 = torch.minimum(rp, rn)  # 4 lateral corners
        c0 = torch.minimum(m1 + W_FACE, m2 + W_EDGE)
        c1 = torch.minimum(torch.minimum(d + W_FACE, m1 + W_EDGE), m2 + W_CORNER)
    else:
        m1 = row
        c0 = m1 + W_FACE
        c1 = torch.minimum(d + W_FACE, m1 + W_EDGE)
    zp, zn = shift_pair(c1, 3, inf, False)
    return torch.minimum(c0, torch.minimum(zp, zn))
