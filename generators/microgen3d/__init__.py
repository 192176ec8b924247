"""The paper-compatible MicroGen3D model family and the published-weight loader.

``load_pack(pack, vae=PATH, fp=PATH, ddpm=PATH, device=...)`` builds a generator from the paper's
three files (packs ``experimental``, ``ch_2phase``, ``ch_3phase``); the module classes are also the
project's own "paper" architecture family (configurable widths, latent channels, conditions).
"""

from generators.microgen3d.denoiser import SCHEDULE_NAMES, Denoiser, ddpm_schedules
from generators.microgen3d.feature_predictor import FeaturePredictor
from generators.microgen3d.formula import formula_state_dict
from generators.microgen3d.generator import MicroGen3D, binarize, three_levels
from generators.microgen3d.packs import (
    PACKS,
    PackConfig,
    build_denoiser,
    build_fp,
    build_modules,
    build_vae,
    get_pack,
    load_pack,
)
from generators.microgen3d.sampling import ancestral_sample
from generators.microgen3d.unet import ContextUnet
from generators.microgen3d.vae import VAE

__all__ = [
    "PACKS",
    "SCHEDULE_NAMES",
    "VAE",
    "ContextUnet",
    "Denoiser",
    "FeaturePredictor",
    "MicroGen3D",
    "PackConfig",
    "ancestral_sample",
    "binarize",
    "build_denoiser",
    "build_fp",
    "build_modules",
    "build_vae",
    "ddpm_schedules",
    "formula_state_dict",
    "get_pack",
    "load_pack",
    "three_levels",
]
