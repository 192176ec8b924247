"""Training presets: architecture and schedule of each stage.

``tiny`` trains in seconds on CPU on 32x32x16 volumes (CI). ``ch2-default`` and ``ch3-default``
are the architectures of the shipped models at 128x128x64 (16x VAE -> a 4x8x8x4 latent, as the
paper's), sized to train on 2 CPU cores in about half an hour (measured per step on a shared 2-core
machine: VAE ~0.8 s, denoiser ~0.6 s; plus ~0.3 s to encode each full volume once).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from generators.diffusion.samplers import DEFAULT_SAMPLER

_BASE: dict[str, Any] = {
    "seed": 0,
    "val_fraction": 0.1,
    "conditions": None,  # names; None -> the family default for the data's phases
    "fp_targets": None,  # names; None -> every label of the data
    "vae": {"widths": [8, 16, 32, 64, 64], "latent_channels": 4},
    "fp": {"hidden": 256, "dropout": 0.1},
    "denoiser": {"channels": [32, 64], "attention": True},
    "vae_train": {"steps": 800, "batch": 4, "crop": [32, 32, 32], "lr": 2e-3, "kl_weight": 1e-6},
    "fp_train": {"steps": 1000, "batch": 64, "lr": 1e-3},
    "denoiser_train": {"steps": 1500, "batch": 32, "lr": 5e-4, "cond_dropout": 0.1, "ema": 0.999},
    "checkpoint_every": 200,
    "log_every": 20,
    "sampler": dict(DEFAULT_SAMPLER),
}

TWO_PHASE_CONDITIONS = ["ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1"]
THREE_PHASE_CONDITIONS = ["vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D"]


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": _merge(_BASE, {
        "vae": {"widths": [4, 8, 16], "latent_channels": 4},
        "fp": {"hidden": 64},
        "denoiser": {"channels": [16, 32], "attention": True},
        "vae_train": {"steps": 80, "batch": 8, "crop": [16, 16, 8], "lr": 3e-3},
        "fp_train": {"steps": 80, "batch": 16, "lr": 2e-3},
        "denoiser_train": {"steps": 80, "batch": 16, "lr": 1e-3, "ema": 0.9},
        "checkpoint_every": 40,
        "log_every": 10,
    }),
    "ch2-default": _merge(_BASE, {"conditions": TWO_PHASE_CONDITIONS}),
    "ch3-default": _merge(_BASE, {"conditions": THREE_PHASE_CONDITIONS}),
}


def get_preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def load_train_config(path: str | Path | None = None, preset: str | None = None,
                      overrides: dict | None = None) -> dict[str, Any]:
    """A training config: a preset, a JSON file merged over the ``tiny``-free base, then overrides."""
    if path is None and preset is None:
        raise ValueError("give a training config file or a preset name")
    cfg = get_preset(preset) if preset else copy.deepcopy(_BASE)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"no training config at {p}")
        try:
            cfg = _merge(cfg, json.loads(p.read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"training config {p} is not valid JSON: {exc}") from None
    return _merge(cfg, overrides or {})
