"""The paper-compatible MicroGen3D model family and the published-weight loader.

``load_pack(pack, vae=PATH, fp=PATH, ddpm=PATH, device=...)`` builds the one generator of the
paper's weights, :class:`MicroGen3D` (a :class:`generators.diffusion.LatentDiffusionGenerator`),
from the three files (packs ``experimental``, ``ch_2phase``, ``ch_3phase``: :data:`PACKS`). The
module classes are also the project's own "paper" architecture family (configurable widths,
latent channels, conditions). Grey volumes and labels meet by one rule (:mod:`.labels`).
"""

from generators.microgen3d.denoiser import SCHEDULE_NAMES, Denoiser, ddpm_schedules
from generators.microgen3d.feature_predictor import FeaturePredictor
from generators.microgen3d.formula import formula_state_dict
from generators.microgen3d.generator import MicroGen3D, load_pack
from generators.microgen3d.labels import GREY_LEVELS, binarize, from_grey, three_levels, to_grey
from generators.microgen3d.model import MicroGen3DLatentModel, pack_bounds, pack_model_config
from generators.microgen3d.packs import (
    PACKS,
    PackConfig,
    build_denoiser,
    build_fp,
    build_modules,
    build_vae,
    get_pack,
)
from generators.microgen3d.sampling import ancestral_sample
from generators.microgen3d.unet import ContextUnet
from generators.microgen3d.vae import VAE

__all__ = [
    "GREY_LEVELS",
    "PACKS",
    "SCHEDULE_NAMES",
    "VAE",
    "ContextUnet",
    "Denoiser",
    "FeaturePredictor",
    "MicroGen3D",
    "MicroGen3DLatentModel",
    "PackConfig",
    "ancestral_sample",
    "binarize",
    "build_denoiser",
    "build_fp",
    "build_modules",
    "build_vae",
    "ddpm_schedules",
    "formula_state_dict",
    "from_grey",
    "get_pack",
    "load_pack",
    "pack_bounds",
    "pack_model_config",
    "three_levels",
    "to_grey",
]
