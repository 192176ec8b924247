"""A latent model bundles the VAE, FP and denoiser behind the small interface samplers and
:class:`~generators.diffusion.generator.LatentDiffusionGenerator` use.

Interface (duck-typed): ``config`` (:class:`ModelConfig`), ``eps(x, t, context)`` with raw
(unnormalised) conditions and the diffusion-space latent, ``null_context`` (the ``(d,)`` row meaning
"no condition"), ``encode(volumes) -> latent``, ``decode(latent) -> uint8 labels`` and
``predict(latent) -> dict[str, Tensor]`` in raw units. The diffusion-space latent is the VAE latent
times ``config.latent_scale``.
"""

from __future__ import annotations

from collections.abc import Callable

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


class MicroGen3DLatentModel(nn.Module):
    """Adapter so the paper's modules (``generators.microgen3d``) run under these samplers.

    Parameters
    ----------
    vae, fp, denoiser : nn.Module
        The paper's VAE (``decode(z)`` -> sigmoid volume), FP (``fp(z_flat)`` -> raw outputs) and
        denoiser (``denoiser(x, t, context)``, ``t = i / T``, raw context).
    config : ModelConfig
        ``family="microgen3d"``; ``fp_outputs.names`` in the FP's order, ``conditions.names`` in the
        denoiser's context order, ``latent_scale`` 1.
    to_labels : callable, optional
        Decoder output ``(B, 1, X, Y, Z)`` in [0, 1] -> uint8 labels. Default: ``> 0.5`` for two
        phases, ``round(2 * v)`` for three (labels stored as ``label / 2``).
    """

    def __init__(self, vae: nn.Module, fp: nn.Module, denoiser: nn.Module, config: ModelConfig,
                 to_labels: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.vae, self.fp, self.denoiser, self.config = vae, fp, denoiser, config
        self._to_labels = to_labels
        self.eval()

    @property
    def null_context(self) -> torch.Tensor:
        # the paper trains without condition dropout; zeros are the closest "no condition"
        dev = next(self.denoiser.parameters()).device
        return torch.zeros(len(self.config.conditions.names), device=dev)

    def eps(self, x, t, context):
        return self.denoiser(x, t, context)

    def encode(self, volumes: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        dev = next(self.vae.parameters()).device
        x = volumes.to(dev).float()
        x = x / 2.0 if self.config.phases == 3 else x
        mu, logvar = self.vae.encode(x.unsqueeze(1))
        if sample:
            mu = mu + torch.randn(mu.shape, generator=generator, device=mu.device) * (0.5 * logvar).exp()
        return mu

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        v = self.vae.decode(latent.float())
        if self._to_labels is not None:
            return self._to_labels(v)
        if self.config.phases == 2:
            return (v[:, 0] > 0.5).to(torch.uint8)
        return torch.round(2.0 * v[:, 0]).clamp(0, 2).to(torch.uint8)

    def predict(self, latent: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.fp(latent.float().flatten(1))
        return {name: y[:, k] for k, name in enumerate(self.config.fp_outputs.names)}
