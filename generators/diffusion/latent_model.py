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

from generators.diffusion.compact import CompactDenoiser, CompactFP, CompactVAE, eps_from_output
from generators.diffusion.schedule import linear_schedule
from generators.diffusion.config import ModelConfig
from generators.diffusion.periodic import ConvFP, PatchVAE


def _vec(values, device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


TRAINABLE_FAMILIES = ("compact", "periodic")


def build_networks(family: str, phases: int, architecture: dict, latent_shape, n_conditions: int,
                   n_outputs: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """The untrained ``(vae, fp, denoiser)`` of a trainable family.

    ``compact``: :class:`CompactVAE`, the MLP :class:`CompactFP`, a zero-padded
    :class:`CompactDenoiser`. ``periodic`` (:mod:`generators.diffusion.periodic`): :class:`PatchVAE`,
    :class:`ConvFP` and a circularly padded :class:`CompactDenoiser`.
    """
    if family not in TRAINABLE_FAMILIES:
        raise ValueError(f"family {family!r} is not trainable here; choose one of {TRAINABLE_FAMILIES}")
    fp_args, den_args = dict(architecture.get("fp", {})), dict(architecture.get("denoiser", {}))
    if family == "compact":
        vae = CompactVAE(phases, **architecture["vae"])
        n_in = 1
        for s in latent_shape:
            n_in *= s
        fp = CompactFP(n_in, n_outputs, **fp_args)
    else:
        vae = PatchVAE(phases, **architecture["vae"])
        fp = ConvFP(latent_shape, n_outputs, **fp_args)
        den_args["padding_mode"] = "circular"
    return vae, fp, CompactDenoiser(latent_shape[0], n_conditions, **den_args)


def vae_factor(family: str, vae_args: dict) -> int:
    """Downsampling factor per axis of a trainable family's VAE with constructor arguments ``vae_args``."""
    widths = vae_args.get("widths", ())
    if family == "periodic":
        return int(vae_args.get("patch", 4)) * 2 ** (len(widths) - 1)
    return 2 ** (len(widths) - 1)


class CompactLatentModel(nn.Module):
    """A trainable family (``compact`` or ``periodic``, :func:`build_networks`) built from a config."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.family not in TRAINABLE_FAMILIES:
            raise ValueError(f"CompactLatentModel needs family 'compact' or 'periodic', got {config.family!r}")
        self.config = config
        self.vae, self.fp, self.denoiser = build_networks(
            config.family, config.phases, config.architecture, config.latent_shape,
            len(config.conditions.names), len(config.fp_outputs.names))
        self.register_buffer("c_mean", _vec(config.conditions.mean, "cpu"), persistent=False)
        self.register_buffer("c_std", _vec([max(s, 1e-8) for s in config.conditions.std], "cpu"), persistent=False)
        self.register_buffer("y_mean", _vec(config.fp_outputs.mean, "cpu"), persistent=False)
        self.register_buffer("alphabar", linear_schedule().alphabar.float(), persistent=False)
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
        out = self.denoiser(x, t, ctx)
        prediction = getattr(self.denoiser, "prediction", "eps")
        if prediction == "eps":
            return out
        i = (t.float() * self.alphabar.numel()).round().long().clamp(0, self.alphabar.numel() - 1)
        return eps_from_output(out, x, self.alphabar[i], prediction)

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
