"""Everything that turns parameters into volumes: the Cahn-Hilliard simulator and the
conditional latent diffusion model (modules, samplers, training, weight packs)."""

from generators.diffusion.generator import load
from generators.protocol import Generator, Samples

__all__ = ["Generator", "Samples", "load"]
