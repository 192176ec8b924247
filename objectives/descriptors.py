"""GraSPI descriptors of batched label volumes (two-phase) and the project's three-phase set.

Two-phase volumes (labels 0 donor / 1 acceptor only) get the 22 descriptors C++ GraSPI prints, with
its conventions (see ``shared/spec/descriptors.md``): 26-neighbourhood (8 in 2-D), edge lengths
1/sqrt(2)/sqrt(3), cathode at z = 0 (acceptor collects), anode at z = nz - 1 (donor collects), the
last axis is the film thickness, lateral sides wrap only with ``periodic=True``.

Three-phase volumes (any label 2, mixed) get the project's own definitions, because GraSPI's
three-phase mode has known defects:

- ``vol_frac_D``, ``vol_frac_A``, ``vol_frac_M``: voxel fractions of labels 0, 1, 2;
- ``tortuosity_D``, ``tortuosity_A``: the straight-rising-path fraction of CT_f_D_tort1 /
  CT_f_A_tort1, where donor (acceptor) paths run only through donor (acceptor) voxels - never
  through mixed ones - and the denominator is the donor (acceptor) voxels connected that way to the
  anode (cathode).

Empty sets: a fraction whose denominator is zero (e.g. CT_f_conn_D_An without donor voxels,
CT_f_e_conn without interface pairs, a tortuosity fraction with no connected voxel) is 0.0, never
NaN, so losses stay finite.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
from typing import Any, Callable

import torch

from .components import label_components, touching
from .dissociation import DISS_CUTOFF, interface_distance
from .labels import as_label_tensor
from .neighbourhood import box_reduce
from .threads import limit_threads
from .tortuosity import straight_path_counts

__all__ = ["TWO_PHASE_NAMES", "THREE_PHASE_NAMES", "describe", "describe_batch"]

TWO_PHASE_NAMES: tuple[str, ...] = (
    "STAT_n", "STAT_e", "STAT_n_D", "STAT_n_A", "STAT_CC_D", "STAT_CC_A", "STAT_CC_D_An",
    "STAT_CC_A_Ca", "ABS_wf_D", "ABS_f_D", "DISS_wf10_D", "DISS_f10_D", "CT_f_e_conn",
    "CT_f_conn_D_An", "CT_f_conn_A_Ca", "CT_e_conn", "CT_e_D_An", "CT_e_A_Ca", "CT_f_D_tort1",
    "CT_f_A_tort1", "CT_n_D_adj_An", "CT_n_A_adj_Ca",
)
THREE_PHASE_NAMES: tuple[str, ...] = (
    "vol_frac_D", "vol_frac_A", "vol_frac_M", "tortuosity_D", "tortuosity_A",
)

#: Voxels per internal chunk of a batch on CPU: one 128x128x64 volume. The engine is a chain of
#: memory-bound passes; a chunk this size stays in cache (measured 0.25 s per volume in chunks of
#: 8 such volumes against 0.09 s one at a time, 1 thread). CUDA gets :data:`CUDA_CHUNK_FACTOR`
#: times more to keep the GPU busy (16 volumes of 128x128x64 at a time).
CHUNK_VOXELS = 1 << 20
CUDA_CHUNK_FACTOR = 16

#: torch intra-op threads per CPU chunk (``None``: leave torch's setting alone). The engine is a
#: long chain of memory-bound passes over ~1M voxels plus many small per-layer ops: one thread
#: per chunk measured faster than two (the second mostly waits); cores are used by running
#: chunks side by side instead (:data:`CPU_WORKERS`). Applied through
#: :func:`objectives.threads.limit_threads` (safe beside other threads). Override with the
#: environment variable ``INVDESIGN_DESCRIPTOR_THREADS`` (0 = torch's setting) or by assigning
#: this name.
CPU_THREADS: int | None = int(os.environ.get("INVDESIGN_DESCRIPTOR_THREADS", "1")) or None

#: Python threads that run CPU chunks side by side (torch kernels release the GIL). ``None``
#: (default): the caller's torch thread count, which the design loop sets from the cores that are
#: free (:mod:`invdesign.threads`), so a loaded machine gets 1 and an idle 2-core one 2. A batch
#: of one volume splits its independent parts instead (component labelling beside the DISS
#: distances and the tortuosity sweep). Override with ``INVDESIGN_DESCRIPTOR_WORKERS``.
CPU_WORKERS: int | None = int(os.environ.get("INVDESIGN_DESCRIPTOR_WORKERS", "0")) or None


def cpu_workers() -> int:
    """Python threads a CPU call uses: :data:`CPU_WORKERS`, else the caller's torch thread count."""
    return max(1, CPU_WORKERS if CPU_WORKERS is not None else torch.get_num_threads())


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    num = num.to(torch.float64)
    den = den.to(torch.float64)
    return torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))


def _count(mask: torch.Tensor) -> torch.Tensor:
    """Number of True voxels per volume of a ``(B, ...)`` bool mask, int64 ``(B,)``.

    Summed as uint8 into int32 (several times faster than ``count_nonzero`` on CPU); a volume has
    fewer than 2**31 voxels.
    """
    flat = mask.reshape(mask.shape[0], -1)
    if flat.dtype == torch.bool:
        flat = flat.view(torch.uint8)
    return flat.sum(dim=1, dtype=torch.int32).to(torch.int64)


def _face_pairs(a: torch.Tensor, b: torch.Tensor, wrap: tuple[bool, bool]) -> torch.Tensor:
    """Number of face-adjacent voxel pairs with one voxel in ``a`` and the other in ``b``.

    ``a`` and ``b`` are disjoint bool masks. Each voxel gets a code (1 in ``a``, 2 in ``b``, else
    0); a pair qualifies exactly when the product of its codes is 2 (bit 1 set: products 1 and 4
    don't have it), which keeps every pass in cheap uint8 arithmetic. A wrapped axis of 2 voxels
    joins each pair twice (once per side), as the periodic graph does.
    """
    code = a.to(torch.uint8).add_(b.to(torch.uint8), alpha=2)
    total = torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
    for dim, w in ((1, wrap[0]), (2, wrap[1]), (3, False)):
        n = a.shape[dim]
        if n < 2:
            continue
        if w:
            prod = code * torch.roll(code, -1, dim)
        else:
            prod = code.narrow(dim, 0, n - 1) * code.narrow(dim, 1, n - 1)
        total += _count(prod.bitwise_and_(2)) // 2
    return total


def _diss_weight_sums(d: torch.Tensor, block: int = 1 << 16) -> torch.Tensor:
    """Per volume, the sum of GraSPI's DISS weights 6.265 * exp(-((d + 23) / 17.17)^2) (float64).

    ``d`` is float32 ``(B, ...)`` with ``inf`` where a voxel must not count (weight exactly 0).
    Worked on CPU in blocks of ``block`` voxels per volume so that the float64 temporaries stay in
    cache (a fresh float64 copy of the whole chunk costs more than the arithmetic); in one block
    elsewhere.
    """
    flat = d.reshape(d.shape[0], -1)
    if d.device.type != "cpu":
        block = flat.shape[1]  # one pass of kernels; GPU memory is not the concern here
    total = torch.zeros(flat.shape[0], dtype=torch.float64, device=d.device)
    for part in flat.split(block, dim=1):
        w = part.to(torch.float64).add_(23.0).div_(17.17).square_().neg_().exp_()
        total += w.sum(dim=1)
    return total * 6.265


def _two_phase(lab: torch.Tensor, wrap: tuple[bool, bool]) -> dict[str, torch.Tensor]:
    nz = lab.shape[3]
    n = lab[0].numel()
    donor, acceptor = lab == 0, lab == 1
    # the distance relaxation and the tortuosity sweep run beside the component labelling
    side = _beside(lambda: (interface_distance(donor, acceptor, wrap),
                            straight_path_counts(torch.cat([donor, acceptor.flip(3)]), wrap)),
                   getattr(_CALL, "split", False) and lab.device.type == "cpu")
    comp = label_components(lab, wrap, phases=(0, 1))
    d_top = touching(comp, donor, nz - 1)
    a_bot = touching(comp, acceptor, 0)
    root = comp == torch.arange(comp.numel(), device=lab.device, dtype=comp.dtype).view(comp.shape)

    n_d, n_a = _count(donor), _count(acceptor)
    n_dtop, n_abot = _count(d_top), _count(a_bot)
    stat_e = _face_pairs(donor, acceptor, wrap)
    e_conn = _face_pairs(d_top, a_bot, wrap)

    (dist, start), tort = side()
    has_a_nbr = start < math.inf  # donor voxels with an acceptor neighbour
    has_d_nbr = acceptor & box_reduce(donor, "or", False, wrap)
    # dist is inf off the donor phase and >= 0.5 on it, so diss = donor & 0 < dist < cutoff
    diss = dist < DISS_CUTOFF
    n_diss = _count(diss)
    # dist / diss: unchanged inside, +inf outside (x / 0), whose weight exp(-inf) is exactly 0;
    # no boolean indexing (slow on CPU), weights in float64 as before
    wdiss = _diss_weight_sums(dist / diss)

    k = torch.arange(nz, device=lab.device, dtype=torch.float64)
    per_layer = donor.sum(dim=(1, 2), dtype=torch.int64).to(torch.float64)  # (B, Z)
    abs_wf = (per_layer * torch.exp(-(nz - k) / 100.0)).sum(dim=1) / n

    b = lab.shape[0]
    out = {
        "STAT_n": torch.full((b,), float(n), dtype=torch.float64, device=lab.device),
        "STAT_e": stat_e,
        "STAT_n_D": n_d,
        "STAT_n_A": n_a,
        "STAT_CC_D": _count(root & donor),
        "STAT_CC_A": _count(root & acceptor),
        "STAT_CC_D_An": _count(root & d_top),
        "STAT_CC_A_Ca": _count(root & a_bot),
        "ABS_wf_D": abs_wf,
        "ABS_f_D": n_d.to(torch.float64) / n,
        "DISS_wf10_D": _ratio(wdiss, n_d),
        "DISS_f10_D": _ratio(n_diss, n_d),
        "CT_f_e_conn": _ratio(e_conn, stat_e),
        "CT_f_conn_D_An": _ratio(n_dtop, n_d),
        "CT_f_conn_A_Ca": _ratio(n_abot, n_a),
        "CT_e_conn": e_conn,
        "CT_e_D_An": _count(d_top & has_a_nbr),
        "CT_e_A_Ca": _count(a_bot & has_d_nbr),
        "CT_f_D_tort1": _ratio(tort[:b], n_dtop),
        "CT_f_A_tort1": _ratio(tort[b:], n_abot),
        "CT_n_D_adj_An": donor[..., nz - 1].sum(dim=(1, 2), dtype=torch.int64) + 1,
        "CT_n_A_adj_Ca": acceptor[..., 0].sum(dim=(1, 2), dtype=torch.int64) + 1,
    }
    return {name: out[name].to(torch.float64) for name in TWO_PHASE_NAMES}


def _three_phase(lab: torch.Tensor, wrap: tuple[bool, bool]) -> dict[str, torch.Tensor]:
    nz = lab.shape[3]
    n = lab[0].numel()
    donor, acceptor, mixed = lab == 0, lab == 1, lab == 2
    comp = label_components(lab, wrap, phases=(0, 1))
    n_dtop = _count(touching(comp, donor, nz - 1))
    n_abot = _count(touching(comp, acceptor, 0))
    b = lab.shape[0]
    tort = straight_path_counts(torch.cat([donor, acceptor.flip(3)]), wrap)
    return {
        "vol_frac_D": _count(donor).to(torch.float64) / n,
        "vol_frac_A": _count(acceptor).to(torch.float64) / n,
        "vol_frac_M": _count(mixed).to(torch.float64) / n,
        "tortuosity_D": _ratio(tort[:b], n_dtop),
        "tortuosity_A": _ratio(tort[b:], n_abot),
    }


_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_CALL = threading.local()  # ``split``: this thread's describe_batch call may run parts side by side


def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """The shared worker threads (grown to ``workers`` when a call wants more)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            old, _POOL = _POOL, concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="descriptors")
            if old is not None:
                old.shutdown(wait=False)
        return _POOL


def _in_worker(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` as a pool task: inference mode and the engine's thread limit in the worker thread."""
    def run() -> Any:
        with torch.inference_mode(), limit_threads(CPU_THREADS):
            return fn()
    return run


def _beside(fn: Callable[[], Any], split: bool) -> Callable[[], Any]:
    """Start ``fn`` beside the caller and return a function that waits for its result.

    With ``split`` (a CPU call of one chunk with two or more workers), ``fn`` runs in a worker
    thread (torch kernels release the GIL, so two independent chains of passes use two cores
    without the per-kernel barrier of intra-op threads); otherwise it runs right away in the caller.
    """
    if not split:
        result = fn()
        return lambda: result
    return _pool(1).submit(_in_worker(fn)).result


def _as_batch3d(volumes: Any, batched: bool, device: Any) -> tuple[torch.Tensor, bool]:
    t = as_label_tensor(volumes, device=device)
    if batched:
        if t.ndim == 3:  # (B, X, Y): 2-D films, thickness Y
            return t.unsqueeze(2), True
        if t.ndim == 4:
            return t, False
        raise ValueError(f"describe_batch expects (B, X, Y) or (B, X, Y, Z) volumes, got ndim={t.ndim}")
    if t.ndim == 2:
        return t.view(1, t.shape[0], 1, t.shape[1]), True
    if t.ndim == 3:
        return t.unsqueeze(0), False
    raise ValueError(f"describe expects one (X, Y) or (X, Y, Z) volume, got ndim={t.ndim}; "
                     "use describe_batch for batches")


@torch.inference_mode()
def describe_batch(volumes: Any, periodic: bool = False,
                   device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """Descriptors of a batch of volumes.

    Parameters
    ----------
    volumes : array-like or torch.Tensor
        ``(B, X, Y, Z)`` 3-D volumes or ``(B, X, Y)`` 2-D ones; labels 0 donor, 1 acceptor,
        2 mixed; the last axis is the film thickness (z = 0 cathode, z = nz - 1 anode).
    periodic : bool
        Wrap the lateral axes (x, and y in 3-D); the thickness axis never wraps.
    device : torch.device or str, optional
        Where to compute; by default the input tensor's device (CPU for arrays). On CPU the batch
        is worked in chunks of about one 128x128x64 volume, :func:`cpu_workers` of them side by
        side, each with at most :data:`CPU_THREADS` torch threads (1 by default); torch's thread
        setting is left as it was (:mod:`objectives.threads`).

    Returns
    -------
    dict of str to torch.Tensor
        Each a ``(B,)`` float64 tensor on the compute device. The two-phase names
        (:data:`TWO_PHASE_NAMES`) when no volume holds label 2, otherwise the three-phase names
        (:data:`THREE_PHASE_NAMES`) for every volume of the batch. A fraction over an empty set
        is 0.0.
    """
    lab, is2d = _as_batch3d(volumes, True, device)
    wrap = (bool(periodic), bool(periodic) and not is2d)
    three = bool((lab == 2).any())
    fn = _three_phase if three else _two_phase
    cpu = lab.device.type == "cpu"
    limit = CHUNK_VOXELS * (1 if cpu else CUDA_CHUNK_FACTOR)
    chunk = max(1, limit // max(1, lab[0].numel()))
    starts = range(0, lab.shape[0], chunk)
    workers = min(cpu_workers(), len(starts)) if cpu else 1
    if workers > 1:  # chunks side by side, each on CPU_THREADS threads
        pool = _pool(workers)
        jobs = [pool.submit(_in_worker(lambda i=i: fn(lab[i:i + chunk], wrap))) for i in starts]
        parts = [job.result() for job in jobs]
    else:
        _CALL.split = cpu and cpu_workers() > 1
        try:
            with limit_threads(CPU_THREADS if cpu else None):
                parts = [fn(lab[i:i + chunk], wrap) for i in starts]
        finally:
            _CALL.split = False
    return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}


def describe(volume: Any, periodic: bool = False,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Descriptors of one volume.

    Parameters
    ----------
    volume : array-like or torch.Tensor
        ``(X, Y, Z)`` or 2-D ``(X, Y)`` labels (0 donor, 1 acceptor, 2 mixed); last axis = thickness.
    periodic : bool
        Wrap the lateral axes.
    device : torch.device or str, optional
        Where to compute; by default the input's device.

    Returns
    -------
    dict of str to float
        GraSPI's 22 two-phase descriptors, or the five three-phase ones when label 2 is present.
        Counts are integral floats; a fraction over an empty set is 0.0.
    """
    lab, is2d = _as_batch3d(volume, False, device)
    res = describe_batch(lab.squeeze(2) if is2d else lab, periodic=periodic)
    return {k: float(v[0]) for k, v in res.items()}
