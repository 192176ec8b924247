"""Formula-defined weights for the published layout, as used by the golden fixtures.

The fixtures ``keys_<pack>.json`` list every state-dict key with its shape and dtype, and
``golden_<pack>.npz`` hold the reference implementation's outputs when every floating tensor is
filled by the formula below (``k`` = the key's 0-based position in its file's key list, ``i`` the
C-order flat index, ``phase`` = ``formula_phase``)::

    s = sin(0.7 * i + phase * (k + 1))
    2+ dims: s / sqrt(numel / shape[0]);  1-D "...weight": 1 + 0.1 * s;  other 1-D: 0.05 * s

The 7 schedule buffers keep their computed values. Useful to test a loader, or to time the
published architecture without the published files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from os import PathLike
from typing import Any

import torch

from generators.diffusion.schedule import SCHEDULE_NAMES, ddpm_schedules

PARTS = ("vae", "fp", "ddpm")


def formula_tensor(shape: tuple[int, ...], k: int, phase: float, name: str, dtype=torch.float64) -> torch.Tensor:
    """One tensor of the formula (see the module docstring), computed in float64 then cast."""
    numel = math.prod(shape)
    s = torch.sin(0.7 * torch.arange(numel, dtype=torch.float64) + phase * (k + 1))
    if len(shape) >= 2:
        s = s / math.sqrt(numel / shape[0])
    elif name.endswith("weight"):
        s = 1 + 0.1 * s
    else:
        s = 0.05 * s
    return s.reshape(shape).to(dtype)


def load_keys_json(keys_json: str | PathLike | Mapping[str, Any]) -> dict[str, Any]:
    """Read a ``keys_<pack>.json`` file (or pass an already loaded one through)."""
    if isinstance(keys_json, Mapping):
        return dict(keys_json)
    with open(keys_json, encoding="utf-8") as fh:
        return json.load(fh)


def formula_state_dict(
    keys_json: str | PathLike | Mapping[str, Any],
    part: str = "vae",
    dtype: torch.dtype = torch.float64,
) -> dict[str, torch.Tensor]:
    """The formula-filled state dict of one file (``part`` = ``"vae"``, ``"fp"`` or ``"ddpm"``).

    Parameters
    ----------
    keys_json : path or mapping
        A ``keys_<pack>.json`` fixture (``state_dict`` maps each part to ``[key, shape, dtype]`` rows).
    part : str
        Which file.
    dtype : torch.dtype
        Floating dtype of the returned tensors.

    Returns
    -------
    dict
        Key -> tensor, in the file's key order. Schedule buffers (ddpm) hold
        :func:`ddpm_schedules` values with the paper's defaults, computed in float32.
    """
    spec = load_keys_json(keys_json)
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    rows = spec["state_dict"][part]
    phase = float(spec["formula_phase"])
    sched = ddpm_schedules() if part == "ddpm" else {}
    out: dict[str, torch.Tensor] = {}
    for k, (name, shape, _dt) in enumerate(rows):
        if name in SCHEDULE_NAMES:
            out[name] = sched[name].to(dtype)
        else:
            out[name] = formula_tensor(tuple(shape), k, phase, name, dtype)
    return out
