"""The conditional latent diffusion generator: schedule, samplers, the compact model family,
self-describing model directories, training and evaluation.

The paper's published weights (``generators.microgen3d.load_pack``) run on the same generator
class and samplers (:class:`generators.microgen3d.MicroGen3D` is a
:class:`LatentDiffusionGenerator`).
"""

from generators.diffusion.config import ModelConfig, Stats
from generators.diffusion.generator import LatentDiffusionGenerator, load
from generators.diffusion.latent_model import CompactLatentModel
from generators.diffusion.model_dir import available_models, load_model, save_model
from generators.diffusion.samplers import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    Sampler,
    StepGrid,
    ancestral,
    cfg,
    ddim,
    dpm_solver_pp_2m,
    get_sampler,
    guide_x0,
    sampler_settings,
    spaced_grid,
    unit_grid,
)
from generators.diffusion.schedule import DiscreteSchedule, linear_schedule

__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "CompactLatentModel",
    "DiscreteSchedule",
    "LatentDiffusionGenerator",
    "ModelConfig",
    "Sampler",
    "Stats",
    "StepGrid",
    "ancestral",
    "available_models",
    "cfg",
    "ddim",
    "dpm_solver_pp_2m",
    "get_sampler",
    "guide_x0",
    "linear_schedule",
    "load",
    "load_model",
    "sampler_settings",
    "save_model",
    "spaced_grid",
    "unit_grid",
]
