"""Training presets: architecture and schedule of each stage.

``tiny`` trains in seconds on CPU on 32x32x16 volumes (CI). ``ch2-default`` and ``ch3-default``
are the shipped models: the periodic family (:mod:`generators.diffusion.periodic`) at 128x128x64,
an 8x VAE (patch 4, then one stride-2 step) to a 16-channel 16x16x8 latent, trained on whole periodic
volumes under random symmetries, every latent labelled with the descriptors of its own decoded
volume (``decoded_labels``) over ``latent_copies`` symmetry copies of each volume. Sized for 2 CPU
cores (see ``docs/models.md`` for the measured per-step costs).
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

_PERIODIC: dict[str, Any] = {
    **_BASE,
    "family": "periodic",
    "vae": {"patch": 4, "widths": [32, 64], "latent_channels": 16, "blocks": 1, "head": 64},
    "fp": {"width": 32, "hidden": 256, "dropout": 0.1},
    # v-prediction and FiLM: an epsilon-predicting denoiser of this size learnt almost nothing of its
    # condition in 2,500 CPU steps (its clean-latent error at high noise was 40-600x the latent's
    # variance); see docs/models.md
    "denoiser": {"channels": [32, 64, 96], "attention": True, "film": True, "prediction": "v"},
    "vae_train": {"steps": 1000, "batch": 2, "crop": [128, 128, 64], "lr": 2e-3, "kl_weight": 1e-6,
                  "augment": True},
    "fp_train": {"steps": 1500, "batch": 32, "lr": 1e-3},
    "denoiser_train": {"steps": 5000, "batch": 16, "lr": 5e-4, "cond_dropout": 0.1, "ema": 0.999},
    "latent_copies": 3,
    "decoded_labels": True,
    "checkpoint_every": 100,
    "sampler": {"name": "ddim", "steps": 50, "eta": 1.0, "guidance": 1.0},
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
    "ch2-default": _merge(_PERIODIC, {"conditions": TWO_PHASE_CONDITIONS}),
    "ch3-default": _merge(_PERIODIC, {"conditions": THREE_PHASE_CONDITIONS}),
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
