"""The conditional latent diffusion generator: schedule, samplers, the compact model family,
self-describing model directories, training and evaluation."""

from generators.diffusion.samplers import ancestral, cfg, ddim, dpm_solver_pp_2m, get_sampler
from generators.diffusion.schedule import DiscreteSchedule, linear_schedule

__all__ = [
    "DiscreteSchedule",
    "ancestral",
    "cfg",
    "ddim",
    "dpm_solver_pp_2m",
    "get_sampler",
    "linear_schedule",
]
