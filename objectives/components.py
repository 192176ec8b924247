"""Connected components of every phase at once, and their contact with the electrodes.

Voxels are joined when they hold the same label and are 26-neighbours (8 in 2-D); x and y may wrap.
The algorithm is a min-label union-find done in parallel (FastSV-like) on the whole batch:

1. every voxel starts with the flat index of the start of its run along z (the contiguous axis);
2. each round, every voxel takes the smallest label in its 3x3x3 box among voxels of its own phase
   (a separable box minimum of the labels masked per phase), the old label's root is hooked to that
   minimum with ``scatter_reduce_(..., "amin")``, and pointer jumping (``L = L[L]``) compresses the
   forest until it is stable;
3. it stops when a round changes nothing. Then every voxel's label is the smallest flat index of its
   component (a root: ``L[r] == r``).
"""

from __future__ import annotations

import torch

from .neighbourhood import box_reduce

__all__ = ["label_components", "touching"]

_BIG = torch.iinfo(torch.int32).max


def _same_phase_box_min(labels: torch.Tensor, masks: list[torch.Tensor], exhaustive: bool,
                        wrap: tuple[bool, bool]) -> torch.Tensor:
    """Smallest label in each voxel's 3x3x3 box among voxels of its own phase (``masks``)."""
    boxes = [box_reduce(labels.masked_fill(~m, _BIG), "min", _BIG, wrap) for m in masks]
    out = boxes[-1] if exhaustive else torch.where(masks[-1], boxes[-1], labels)
    for m, box in zip(masks[:-1], boxes[:-1]):
        out = torch.where(m, box, out)
    return out


def _changed(a: torch.Tensor, b: torch.Tensor) -> bool:
    return not torch.equal(a, b)


def label_components(lab: torch.Tensor, wrap: tuple[bool, bool] = (False, False),
                     phases: tuple[int, ...] = (0, 1, 2)) -> torch.Tensor:
    """Label the same-phase 26-connected components of a batch.

    Parameters
    ----------
    lab : torch.Tensor
        ``(B, X, Y, Z)`` uint8 labels, fewer than 2**31 - 1 voxels in all.
    wrap : (bool, bool)
        Periodic x and y.
    phases : tuple of int
        Labels to connect (voxels of other labels keep their z-run labels; leave out absent ones
        to save work).

    Returns
    -------
    torch.Tensor
        ``(B, X, Y, Z)`` int32: for every voxel the flat index over the whole batch (C order) of the
        smallest voxel of its component.
    """
    total = lab.numel()
    if total >= _BIG:
        raise ValueError(f"too many voxels for one call ({total}); split the batch")
    shape = lab.shape
    idx = torch.arange(total, device=lab.device, dtype=torch.int32).view(shape)
    start = torch.ones_like(lab, dtype=torch.bool)
    start[..., 1:] = lab[..., 1:] != lab[..., :-1]
    labels = idx.masked_fill(~start, 0).cummax(dim=3).values.reshape(-1)
    masks = [lab == p for p in phases]
    exhaustive = not bool((sum(m.to(torch.uint8) for m in masks) == 0).any())
    while True:
        m = _same_phase_box_min(labels.view(shape), masks, exhaustive, wrap).reshape(-1)
        if not _changed(m, labels):
            return labels.view(shape)
        new = torch.minimum(labels, m)
        new.scatter_reduce_(0, labels.long(), m, reduce="amin")
        while True:
            jumped = torch.index_select(new, 0, new)
            if not _changed(jumped, new):
                break
            new = jumped
        labels = new


def touching(labels: torch.Tensor, member: torch.Tensor, layer: int) -> torch.Tensor:
    """Voxels of ``member`` whose component holds a ``member`` voxel of the z-layer ``layer``.

    Parameters
    ----------
    labels : torch.Tensor
        ``(B, X, Y, Z)`` component labels from :func:`label_components`.
    member : torch.Tensor
        ``(B, X, Y, Z)`` bool mask of one phase.
    layer : int
        z index of the electrode's boundary layer (0 bottom/cathode, -1 top/anode).
    """
    flat = labels.reshape(-1)
    hit = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    roots = labels[..., layer][member[..., layer]].long()
    hit[roots] = True
    return member & torch.index_select(hit, 0, flat).view(member.shape)
