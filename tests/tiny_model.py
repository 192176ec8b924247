"""A tiny trainable periodic model (16x16x8 volumes, one condition ``ABS_f_D``): data, config."""

from __future__ import annotations

import numpy as np
import torch

from pathlib import Path

from generators.diffusion.data import VolumeSet
from generators.diffusion.presets import _merge, get_preset


def tiny_data(n: int = 6) -> VolumeSet:
    """``n`` smoothed-noise two-phase volumes with ``ABS_f_D`` and ``phi`` labels."""
    g = torch.Generator().manual_seed(3)
    field = torch.nn.functional.avg_pool3d(torch.rand(n, 1, 16, 16, 8, generator=g), 3, 1, 1)[:, 0]
    vols = (field > torch.linspace(0.45, 0.55, n).view(n, 1, 1, 1)).to(torch.uint8)
    labels = {"ABS_f_D": vols.float().mean((1, 2, 3)).double().numpy(), "phi": np.linspace(0.3, 0.7, n)}
    return VolumeSet(vols, labels)


def tiny_config(**over) -> dict:
    """The ``ch2-default`` preset shrunk to seconds of training; ``over`` replaces top-level keys."""
    return _merge(get_preset("ch2-default"), {
        "vae": {"patch": 2, "widths": [4, 8], "latent_channels": 2, "head": 8},
        "fp": {"width": 4, "hidden": 8, "dropout": 0.0}, "denoiser": {"channels": [8]},
        "vae_train": {"steps": 2, "crop": [16, 16, 8]}, "fp_train": {"steps": 2, "batch": 8, "lr": 1e-2},
        "denoiser_train": {"steps": 2}, "latent_copies": 1, "decoded_labels": False,
        "conditions": ["ABS_f_D"], "fp_targets": ["ABS_f_D", "phi"], "log_every": 2,
        "sampler": {"name": "ddim", "steps": 4, "eta": 1.0, "guidance": 1.0}, **over})


def train_tiny(out: Path) -> Path:
    """Train the tiny model (all stages, seeded) into ``out``; returns ``out``."""
    from generators.diffusion.training import train

    torch.manual_seed(0)
    train("all", tiny_data(), tiny_config(), out, progress=False)
    return out
