"""A latent model bundles the VAE, FP and denoiser behind the small interface samplers and
:class:`~generators.diffusion.generator.LatentDiffusionGenerator` use (the paper's family:
:class:`generators.microgen3d.model.MicroGen3DLatentModel`).

Interface (duck-typed): ``config`` (:class:`ModelConfig`), ``eps(x, t, context)`` with raw
(unnormalised) conditions and the diffusion-space latent, ``null_context`` (the ``(d,)`` row meaning
"no condition"), ``encode(volumes) -> latent``, ``decode(latent) -> uint8 labels`` and
``predict(latent) -> dict[str, Tensor]`` in raw units. The diffusion-space latent is the VAE latent
times ``config.latent_scale``.
"""

from __future__ import annotations

import torch
from torch import nn

from generators.diffusion.compact import CompactDenoiser, CompactFP, CompactVAE
from generators.diffusion.config import ModelConfig


def _vec(values, device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


class CompactLatentModel(nn.Module):
    """The compact family (:mod:`generators.diffusion.compact`) built from a config."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.family != "compact":
            raise ValueError(f"CompactLatentModel needs family 'compact', got {config.family!r}")
        self.config = config
        arch = config.architecture
        self.vae = CompactVAE(config.phases, **arch["vae"])
        n_in = 1
        for s in config.latent_shape:
            n_in *= s
        self.fp = CompactFP(n_in, len(config.fp_outputs.names), **arch.get("fp", {}))
        self.denoiser = CompactDenoiser(config.latent_shape[0], len(config.conditions.names), **arch.get("denoiser", {}))
        self.register_buffer("c_mean", _vec(config.conditions.mean, "cpu"), persistent=False)
        self.register_buffer("c_std", _vec([max(s, 1e-8) for s in config.conditions.std], "cpu"), persistent=False)
        self.register_buffer("y_mean", _vec(config.fp_outputs.mean, "cpu"), persistent=False)
        self.register_buffer("y_std", _vec([max(s, 1e-8) for s in config.fp_outputs.std], "cpu"), persistent=False)
        self.eval()

    @property
    def null_context(self) -> torch.Tensor:
        return torch.full((len(self.config.conditions.names),), float("nan"), device=self.c_mean.device)

    def normalise_conditions(self, context: torch.Tensor) -> torch.Tensor:
        """Raw conditions -> standardised (NaN rows stay NaN = unconditional)."""
        return (context.float() - self.c_mean) / self.c_std

    def eps(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        ctx = None if context is None else self.normalise_conditions(context)
        return self.denoiser(x, t, ctx)

    def encode(self, volumes: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        """uint8 labels ``(B, X, Y, Z)`` -> diffusion-space latents (``mu``, or a draw when ``sample``)."""
        mu, logvar = self.vae.encode(self.vae.to_input(volumes.to(self.c_mean.device)))
        z = mu
        if sample:
            z = mu + torch.randn(mu.shape, generator=generator, device=mu.device) * (0.5 * logvar).exp()
        return z * self.config.latent_scale

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.labels(self.vae.decode(latent.float() / self.config.latent_scale))

    def predict_normalised(self, latent: torch.Tensor) -> torch.Tensor:
        return self.fp(latent.float())

    def predict(self, latent: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.predict_normalised(latent) * self.y_std + self.y_mean
        return {name: y[:, k] for k, name in enumerate(self.config.fp_outputs.names)}
