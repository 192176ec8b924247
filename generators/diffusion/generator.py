"""The latent diffusion generator: conditions -> latents (a sampler) -> volumes (VAE decoder)
and the feature predictor's outputs (descriptors and recipe). Meets ``generators.protocol``."""

from __future__ import annotations

import contextlib

import torch

from generators.diffusion.samplers import cfg, get_sampler
from generators.diffusion.schedule import linear_schedule
from generators.protocol import Samples


class LatentDiffusionGenerator:
    """A :class:`generators.protocol.Generator` over a latent model.

    Parameters
    ----------
    model : CompactLatentModel or MicroGen3DLatentModel
        See :mod:`generators.diffusion.latent_model`.
    device : str or torch.device
        Where everything runs. On CUDA the denoiser runs under bf16 autocast; the sampler
        updates stay float32.

    Attributes
    ----------
    condition_names, bounds (2, d), phases, shape, predicted_names, inequality_constraints
    directory : Path or None
        The model directory it was loaded from (:func:`load`).
    surrogate : RecipeSurrogate or None
        The directory's recipe surrogate (loaded on first use; None when the model has none).
        Assignable, e.g. to a surrogate fitted from a label table.
    """

    directory = None
    _surrogate = None
    _surrogate_loaded = False

    def __init__(self, model, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        c = model.config
        self.config = c
        self.condition_names = tuple(c.conditions.names)
        self.bounds = torch.tensor([c.conditions.min, c.conditions.max], dtype=torch.float64)
        self.phases = c.phases
        self.shape = tuple(c.shape)
        self.latent_shape = tuple(c.latent_shape)
        self.predicted_names = tuple(c.fp_outputs.names)
        self.schedule = linear_schedule(c.schedule["beta_1"], c.schedule["beta_T"], c.schedule["T"])
        self.inequality_constraints = []
        names = list(self.condition_names)
        if "vol_frac_D" in names and "vol_frac_M" in names:  # the two fractions leave room for A
            self.inequality_constraints.append(
                ([names.index("vol_frac_D"), names.index("vol_frac_M")], [-1.0, -1.0], -1.0)
            )

    @property
    def surrogate(self):
        if not self._surrogate_loaded:
            from generators.diffusion.model_dir import load_surrogate

            self._surrogate = load_surrogate(self.directory) if self.directory is not None else None
            self._surrogate_loaded = True
        return self._surrogate

    @surrogate.setter
    def surrogate(self, value) -> None:
        self._surrogate, self._surrogate_loaded = value, True

    def __repr__(self) -> str:
        return (f"LatentDiffusionGenerator({self.config.family}, phases={self.phases}, shape={self.shape}, "
                f"conditions={self.condition_names})")

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _eps_fn(self):
        def eps(x, t, context):
            with self._autocast():
                return self.model.eps(x, t, context)
        return eps

    def check_conditions(self, conditions) -> torch.Tensor:
        """``(m, d)`` (or ``(d,)``) float conditions on this device, validated."""
        c = torch.as_tensor(conditions, dtype=torch.float32)
        if c.dim() == 1:
            c = c.unsqueeze(0)
        if c.dim() != 2 or c.shape[1] != len(self.condition_names):
            raise ValueError(f"conditions must be (m, {len(self.condition_names)}) for {self.condition_names}, "
                             f"got shape {tuple(c.shape)}")
        if not torch.isfinite(c).all():
            raise ValueError("conditions contain NaN or inf")
        return c.to(self.device)

    @torch.inference_mode()
    def sample_latents(self, conditions, n: int = 1, seed: int | None = None, sampler: str | None = None,
                       steps: int | None = None, guidance: float | None = None,
                       batch_size: int = 256, eta: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Diffusion-space latents ``(m * n, *latent_shape)`` and the repeated conditions."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        defaults = self.config.sampler
        name = sampler or defaults.get("name", "dpmpp2m")
        fn = get_sampler(name)
        guidance = defaults.get("guidance", 1.0) if guidance is None else float(guidance)
        kwargs = {} if name == "ancestral" else {"steps": int(steps or defaults.get("steps") or 20)}
        if name == "ancestral" and steps:
            kwargs["first"] = int(steps)
        if name == "ddim":
            # eta = 0: deterministic DDIM; eta = 1: stochastic (ancestral-like) steps. The model's
            # config carries its default (the shipped models use 1: see docs/models.md).
            kwargs["eta"] = float(defaults.get("eta", 0.0) if eta is None else eta)
        rows = self.check_conditions(conditions).repeat_interleave(n, 0)
        eps = cfg(self._eps_fn(), guidance, self.model.null_context)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,))))
        out = []
        for s in range(0, rows.shape[0], batch_size):
            ctx = rows[s:s + batch_size]
            out.append(fn(eps, (ctx.shape[0], *self.latent_shape), ctx, schedule=self.schedule,
                          generator=gen, device=self.device, **kwargs))
        return torch.cat(out), rows

    def recipe_simulator(self, device=None):
        """The Cahn-Hilliard generator the training data came from (``config.simulator``), at
        this model's shape and phases: what a predicted recipe is verified with."""
        from generators.cahn_hilliard import CahnHilliardGenerator

        spec = dict(self.config.simulator)
        spec["shape"] = tuple(spec.get("shape", self.shape))
        return CahnHilliardGenerator(phases=self.phases, device=device or self.device, **spec)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """Latents -> uint8 label volumes, decoded ``chunk`` at a time."""
        parts = []
        for s in range(0, latents.shape[0], chunk):
            with self._autocast():
                parts.append(self.model.decode(latents[s:s + chunk].to(self.device)))
        return torch.cat(parts)

    @torch.inference_mode()
    def predict(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """The feature predictor's outputs (raw units) per latent."""
        return {k: v.float() for k, v in self.model.predict(latents.to(self.device)).items()}

    @torch.inference_mode()
    def encode(self, volumes: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """uint8 label volumes -> diffusion-space latents (the posterior mean)."""
        return torch.cat([self.model.encode(volumes[s:s + chunk]) for s in range(0, volumes.shape[0], chunk)])

    def sample(self, conditions, n: int = 1, seed: int | None = None, *, sampler: str | None = None,
               steps: int | None = None, guidance: float | None = None, batch_size: int = 256,
               decode_chunk: int = 16, eta: float | None = None) -> Samples:
        """Generate ``n`` volumes per condition row.

        Parameters
        ----------
        conditions : array-like ``(m, d)``
            Raw condition values, columns in ``condition_names`` order.
        n : int
            Samples per condition (row ``i * n + j`` is sample ``j`` of condition ``i``).
        seed : int, optional
            Seeds a ``torch.Generator`` on the device; same seed, same device -> same samples.
        sampler : {"dpmpp2m", "ddim", "ancestral"}, optional
            Default from the config. For ``ancestral``, ``steps`` is the first step index (998).
        steps : int, optional
            Network evaluations (default from the config).
        guidance : float, optional
            Classifier-free guidance scale (1 = plain conditional).
        eta : float, optional
            DDIM only: 0 deterministic, 1 stochastic (default from the config).
        """
        latents, rows = self.sample_latents(conditions, n, seed, sampler, steps, guidance, batch_size,
                                            eta=eta)
        return Samples(volumes=self.decode(latents, decode_chunk), conditions=rows, latents=latents,
                       predicted=self.predict(latents))


def load(name_or_dir, device: str | torch.device = "cpu") -> LatentDiffusionGenerator:
    """A :class:`LatentDiffusionGenerator` from a model directory or a shipped name
    (``generators/weights/<name>/``, e.g. ``"ch2-default"``).

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the shipped names) or the directory is malformed.
    """
    from generators.diffusion.model_dir import load_model, resolve

    gen = LatentDiffusionGenerator(load_model(name_or_dir, device), device)
    gen.directory = resolve(name_or_dir)
    return gen
