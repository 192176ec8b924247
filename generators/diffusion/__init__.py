"""The conditional latent diffusion generator: schedule, samplers, the compact model family,
self-describing model directories, training and evaluation."""

from generators.diffusion.config import ModelConfig, Stats
from generators.diffusion.generator import LatentDiffusionGenerator, load
from generators.diffusion.latent_model import CompactLatentModel, MicroGen3DLatentModel
from generators.diffusion.microgen3d_adapter import from_modules, from_pack, paper_config
from generators.diffusion.model_dir import available_models, load_model, save_model
from generators.diffusion.samplers import ancestral, cfg, ddim, dpm_solver_pp_2m, get_sampler
from generators.diffusion.schedule import DiscreteSchedule, linear_schedule

__all__ = [
    "CompactLatentModel",
    "DiscreteSchedule",
    "LatentDiffusionGenerator",
    "MicroGen3DLatentModel",
    "ModelConfig",
    "Stats",
    "ancestral",
    "available_models",
    "cfg",
    "ddim",
    "dpm_solver_pp_2m",
    "from_modules",
    "from_pack",
    "get_sampler",
    "linear_schedule",
    "load",
    "load_model",
    "paper_config",
    "save_model",
]
