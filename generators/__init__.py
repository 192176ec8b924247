"""Everything that turns parameters into volumes: the Cahn-Hilliard simulator and the
conditional latent diffusion model (modules, samplers, training, weight packs)."""

from generators.diffusion.generator import load
from generators.protocol import RECIPE_NAMES, Generator, Samples

__all__ = ["RECIPE_NAMES", "Generator", "Samples", "load"]
