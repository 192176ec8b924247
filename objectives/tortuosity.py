"""Straight-rising-path tortuosity by a layer-by-layer sweep from the electrode.

For a voxel v of a phase, d(v) is the shortest same-phase path to the electrode's boundary layer
and h(v) its height above that layer; GraSPI counts v when ``abs(d/h - 1) < 1/nz`` (t = 1 where
h = 0). Any non-rising step costs an excess ``d - h >= 1 > h/nz``, so only paths rising one layer
per step can pass, and their smallest excess follows from a sweep: E = 0 on the boundary layer and,
layer by layer, E(x, y, k) = min over the 9 lateral shifts of E(previous layer) + step excess
(0 straight, sqrt(2) - 1 edge diagonal, sqrt(3) - 1 corner diagonal), inf outside the phase. The
voxel counts when ``E < h / nz`` (compared in float32; E = 0 at h = 0 counts).
"""

from __future__ import annotations

import math

import torch

from .neighbourhood import inf_outside, neighbour_reduce

__all__ = ["straight_path_counts"]

_EXCESS_EDGE = math.sqrt(2.0) - 1.0
_EXCESS_CORNER = math.sqrt(3.0) - 1.0


def straight_path_counts(member: torch.Tensor, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Count voxels with a straight rising path to the TOP layer (z = nz - 1).

    Parameters
    ----------
    member : torch.Tensor
        ``(B, X, Y, Z)`` bool mask of the phase (flip z first for the bottom electrode).
    wrap : (bool, bool)
        Periodic x and y.

    Returns
    -------
    torch.Tensor
        ``(B,)`` int64 counts (the numerator of CT_f_*_tort1).
    """
    b, nx, ny, nz = member.shape
    inf = float("inf")
    # (Z, B, X, Y) penalty layers: 0 in the phase, inf outside; adding one masks a layer (a bool
    # ``where`` is several times slower on CPU)
    pen = inf_outside(member.permute(3, 0, 1, 2).contiguous())
    e = pen[nz - 1].clone()
    count = (pen[nz - 1] == 0).sum(dim=(1, 2), dtype=torch.int64)
    row, face, corner = (torch.empty_like(e) for _ in range(3))
    for k in range(nz - 2, -1, -1):
        h = nz - 1 - k
        # lateral minima of the previous layer (x: dim 1, y: dim 2 of the (B, X, Y) layer)
        neighbour_reduce(e, 1, "min", inf, wrap[0], include_self=False, out=row)
        neighbour_reduce(e, 2, "min", inf, wrap[1], include_self=False, out=face)
        neighbour_reduce(row, 2, "min", inf, wrap[1], include_self=False, out=corner)
        torch.minimum(face, row, out=face)
        torch.minimum(e, face.add_(_EXCESS_EDGE), out=e)
        torch.minimum(e, corner.add_(_EXCESS_CORNER), out=e)
        e.add_(pen[k])
        count += (e < h / nz).sum(dim=(1, 2), dtype=torch.int64)
    return count
