"""Per-volume labels of simulated data sets: descriptors named as MicroGen3D's packs use them.

Attribute sets
--------------
Two-phase volumes (:data:`TWO_PHASE_ATTRS`, the ch_2phase feature-predictor outputs):
``norm_STAT_e, ABS_wf_D, ABS_f_D, DISS_wf10_D, CT_f_e_conn, CT_f_D_tort1, CT_f_A_tort1``.
Three-phase volumes (:data:`THREE_PHASE_ATTRS`): ``vol_frac_D, vol_frac_M, tortuosity_A,
tortuosity_D``. Both add the recipe :data:`RECIPE_ATTRS` = ``phi, chi, log_time`` (log10 of
the annealing time).

``norm_STAT_e`` is GraSPI's STAT_e (face-adjacent donor-acceptor voxel pairs) divided by 3 N, N the
number of voxels (3 N is, up to the boundary layers, the number of face-adjacent pairs of a
3-D grid; 2 N in 2-D): the fraction of face contacts that are donor-acceptor interface, in [0, 1].

All descriptors come from the shared engine ``objectives.describe_batch`` (non-periodic, GraSPI
conventions). A three-phase volume without any mixed voxel is described by the two-phase engine;
its three-phase values then follow exactly from the definitions: ``vol_frac_D = ABS_f_D``,
``vol_frac_M = 0``, ``tortuosity_D = CT_f_D_tort1``, ``tortuosity_A = CT_f_A_tort1``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from generators.protocol import RECIPE_NAMES

TWO_PHASE_ATTRS = ("norm_STAT_e", "ABS_wf_D", "ABS_f_D", "DISS_wf10_D", "CT_f_e_conn",
                   "CT_f_D_tort1", "CT_f_A_tort1")
THREE_PHASE_ATTRS = ("vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D")
RECIPE_ATTRS = RECIPE_NAMES

DescribeBatch = Callable[..., dict]


def attribute_names(phases: int) -> tuple[str, ...]:
    """Descriptor attributes (without the recipe) of a ``phases``-phase data set."""
    if phases not in (2, 3):
        raise ValueError(f"phases must be 2 or 3, got {phases!r}")
    return TWO_PHASE_ATTRS if phases == 2 else THREE_PHASE_ATTRS


def descriptor_engine() -> DescribeBatch:
    """The shared ``objectives.describe_batch``; a clear error if it is not installed."""
    try:
        from objectives import describe_batch
    except ImportError:
        raise ValueError("the descriptor engine objectives.describe_batch is not available "
                         "in this installation") from None
    return describe_batch


def norm_stat_e(stat_e: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """STAT_e / (d N): interface face pairs per face contact (d = 2 or 3 dimensions)."""
    n = float(np.prod(shape))
    return stat_e.to(torch.float64) / (len(shape) * n)


def describe_volumes(volumes: torch.Tensor, describe_batch: DescribeBatch | None = None) -> dict:
    """All raw descriptors of a batch plus ``norm_STAT_e`` when two-phase (dict of ``(B,)`` float64)."""
    fn = describe_batch or descriptor_engine()
    raw = {k: torch.as_tensor(v).detach().to("cpu", torch.float64) for k, v in fn(volumes).items()}
    if "STAT_e" in raw:
        raw["norm_STAT_e"] = norm_stat_e(raw["STAT_e"], tuple(volumes.shape[1:]))
    return raw


def label_volumes(volumes: torch.Tensor, phases: int,
                  describe_batch: DescribeBatch | None = None) -> dict[str, np.ndarray]:
    """The data-set attributes of ``phases``-phase volumes ``(B, X, Y, Z)`` as float64 arrays."""
    names = attribute_names(phases)
    raw = describe_volumes(volumes, describe_batch)
    if phases == 3 and "vol_frac_D" not in raw:
        missing = [k for k in ("ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1") if k not in raw]
        if missing:
            raise ValueError(f"the descriptor engine returned no {missing[0]}")
        raw = {"vol_frac_D": raw["ABS_f_D"], "vol_frac_M": torch.zeros_like(raw["ABS_f_D"]),
               "tortuosity_D": raw["CT_f_D_tort1"], "tortuosity_A": raw["CT_f_A_tort1"]}
    missing = [k for k in names if k not in raw]
    if missing:
        raise ValueError(f"the descriptor engine returned no {', '.join(missing)}")
    return {k: raw[k].numpy() for k in names}
