"""The latent diffusion generator: conditions -> latents (a sampler) -> volumes (VAE decoder)
and the feature predictor's outputs (descriptors and recipe). Meets ``generators.protocol``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from generators.diffusion.guidance import fp_guided
from generators.diffusion.latent_model import TRAINABLE_FAMILIES
from generators.diffusion.samplers import EpsFn, cfg, run_sampler, sampler_settings, start_noise
from generators.diffusion.schedule import linear_schedule
from generators.protocol import RECIPE_NAMES, Samples

_AUTO = "auto"


class LatentDiffusionGenerator:
    """A :class:`generators.protocol.Generator` over a latent model.

    Parameters
    ----------
    model : CompactLatentModel or MicroGen3DLatentModel
        See :mod:`generators.diffusion.latent_model`. A model may define ``schedule`` (a
        :class:`~generators.diffusion.schedule.DiscreteSchedule`); otherwise the config's linear
        schedule is used.
    device : str or torch.device
        Where everything runs.
    amp_dtype : torch.dtype, None or "auto"
        The denoiser and decoder run under ``torch.autocast`` in this dtype; ``"auto"`` (default)
        means bf16 on CUDA and none on the CPU. The sampler updates stay in the networks' dtype.
    batch_size : int
        Latents denoised together (default 256).
    decode_chunk : int
        Latents decoded together (default 16).

    Attributes
    ----------
    condition_names, bounds (2, d), phases, shape, predicted_names, inequality_constraints,
    dtype (of the sampler updates: the model's parameters')
    directory : Path or None
        The model directory it was loaded from (:func:`load`).
    surrogate : RecipeSurrogate or None
        The directory's recipe surrogate (loaded on first use; None when the model has none).
        Assignable, e.g. to a surrogate fitted from a label table.
    calibration : ConditionCalibration or None
        The directory's condition calibration (:mod:`generators.diffusion.calibration`; loaded on
        first use, None when it has none): sampling feeds the denoiser the conditions that make the
        requested descriptors. Assignable.
    """

    directory = None
    _surrogate = None
    _surrogate_loaded = False
    _calibration = None
    _calibration_loaded = False

    def __init__(self, model, device: str | torch.device = "cpu", *, amp_dtype=_AUTO,
                 batch_size: int = 256, decode_chunk: int = 16):
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
        self.schedule = getattr(model, "schedule", None) or linear_schedule(
            c.schedule["beta_1"], c.schedule["beta_T"], c.schedule["T"])
        param = next(iter(model.parameters()), None)
        self.dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        if amp_dtype == _AUTO:
            amp_dtype = torch.bfloat16 if self.device.type == "cuda" else None
        if amp_dtype is not None and not (isinstance(amp_dtype, torch.dtype) and amp_dtype.is_floating_point):
            raise ValueError(f"amp_dtype must be a floating torch dtype, None or 'auto', got {amp_dtype!r}")
        self.amp_dtype = amp_dtype
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1 \
                or isinstance(decode_chunk, bool) or int(decode_chunk) != decode_chunk or decode_chunk < 1:
            raise ValueError(f"batch_size and decode_chunk must be integers >= 1, got {batch_size}, {decode_chunk}")
        self.batch_size, self.decode_chunk = int(batch_size), int(decode_chunk)
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

    @property
    def calibration(self):
        if not self._calibration_loaded:
            from generators.diffusion.calibration import FILENAME, ConditionCalibration

            f = self.directory / FILENAME if self.directory is not None else None
            self._calibration = ConditionCalibration.load(f).to(self.device) if f is not None and f.is_file() else None
            self._calibration_loaded = True
        return self._calibration

    @calibration.setter
    def calibration(self, value) -> None:
        if value is not None and tuple(value.names) != self.condition_names:
            raise ValueError(f"calibration is for {tuple(value.names)}, this model's conditions are {self.condition_names}")
        self._calibration = value.to(self.device) if value is not None else None
        self._calibration_loaded = True

    def fed_conditions(self, conditions, calibrate: bool | None = None) -> torch.Tensor:
        """The conditions the sampler is given for the requested ``conditions`` ``(m, d)``: the
        calibration's inverse (:attr:`calibration`) when ``calibrate`` is True or None and the
        model has one, else the conditions themselves."""
        c = self.check_conditions(conditions)
        if calibrate is None:
            calibrate = self.calibration is not None
        if not calibrate:
            return c
        if self.calibration is None:
            raise ValueError("calibrate=True, but this model has no condition calibration")
        return self.calibration.invert(c).to(c.dtype)

    def __repr__(self) -> str:
        return (f"LatentDiffusionGenerator({self.config.family}, phases={self.phases}, shape={self.shape}, "
                f"conditions={self.condition_names})")

    def _autocast(self):
        if self.amp_dtype is not None:
            return torch.autocast(self.device.type, dtype=self.amp_dtype)
        return contextlib.nullcontext()

    def eps_fn(self):
        """The model's noise prediction as a sampler's denoiser callable
        (:data:`generators.diffusion.samplers.EpsFn`: ``(x, t, context) -> eps``, raw conditions),
        under this generator's autocast. Wrap it for guidance (``cfg``, ``guide_x0``)."""
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

    @torch.no_grad()
    def sample_latents(self, conditions, n: int = 1, seed: int | None = None, sampler: str | None = None,
                       steps: int | None = None, guidance: float | None = None,
                       batch_size: int | None = None, eta: float | None = None,
                       fp_guidance: float | None = None,
                       wrap: Callable[[EpsFn], EpsFn] | None = None,
                       calibrate: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Diffusion-space latents ``(m * n, *latent_shape)`` and the repeated conditions ``(m * n, d)``
        (as requested; the sampler is given :meth:`fed_conditions`).

        The sampler settings are :func:`~generators.diffusion.samplers.sampler_settings` of the
        call over ``config.sampler``; each batch of ``batch_size`` rows draws its start noise and
        then its step noise from the one seeded generator, in order.

        ``wrap`` is where other guidance plugs in: it takes the denoiser callable (after
        classifier-free guidance and descriptor guidance) and returns one with the same contract
        (:data:`~generators.diffusion.samplers.EpsFn`), e.g. ``lambda eps: guide_x0(eps,
        gen.schedule, edit)`` to edit the predicted clean latent. Sampling runs under
        ``torch.no_grad`` (not inference mode), so a wrapper may use autograd inside
        ``torch.enable_grad()``.
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        settings = sampler_settings(self.config.sampler, sampler, steps=steps, eta=eta, guidance=guidance,
                                    fp_guidance=fp_guidance)
        asked = self.check_conditions(conditions)
        rows = asked.repeat_interleave(int(n), 0)
        fed = (self.fed_conditions(asked, calibrate) if asked.shape[0] else asked).repeat_interleave(int(n), 0)
        eps = cfg(self.eps_fn(), float(settings["guidance"]), self.model.null_context)
        if settings.get("fp_guidance"):
            eps = fp_guided(eps, self.model, self.schedule, float(settings["fp_guidance"]))
        if wrap is not None:
            eps = wrap(eps)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,))))
        size = int(batch_size or self.batch_size)
        out = []
        for s in range(0, rows.shape[0], size):
            ctx = fed[s:s + size]
            x = start_noise((ctx.shape[0], *self.latent_shape), gen, self.device, self.dtype)
            out.append(run_sampler(settings, eps, x, self.schedule, context=ctx, generator=gen))
        return torch.cat(out), rows

    def recipe_simulator(self, device=None):
        """The Cahn-Hilliard generator the training data came from (``config.simulator``), at
        this model's shape and phases: what a predicted recipe is verified with."""
        from generators.cahn_hilliard import CahnHilliardGenerator

        spec = dict(self.config.simulator)
        spec["shape"] = tuple(spec.get("shape", self.shape))
        return CahnHilliardGenerator(phases=self.phases, device=device or self.device, **spec)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Latents ``(B, *latent_shape)`` -> uint8 label volumes ``(B, X, Y, Z)``, decoded
        ``chunk`` (default ``decode_chunk``) at a time."""
        return self._in_chunks(self.model.decode, latents, chunk, torch.uint8)

    def _in_chunks(self, fn, latents: torch.Tensor, chunk: int | None, dtype: torch.dtype) -> torch.Tensor:
        """``fn`` (latents -> volumes) over ``chunk`` latents at a time under autocast,
        concatenated; an empty ``(0, X, Y, Z)`` tensor of ``dtype`` for no latents."""
        chunk = int(chunk or self.decode_chunk)
        parts = []
        for s in range(0, latents.shape[0], chunk):
            with self._autocast():
                parts.append(fn(latents[s:s + chunk].to(self.device)))
        return torch.cat(parts) if parts else torch.zeros((0, *self.shape), dtype=dtype, device=self.device)

    @torch.inference_mode()
    def predict(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """The feature predictor's outputs (raw units) per latent, each ``(B,)`` (float32, or
        float64 for a float64 model). For models trained here (``compact``, ``periodic``), recipe
        outputs (``phi``, ``chi``, ``log_time``) are clipped to the range of the training data:
        outside it the simulator never ran, and a recipe such as ``phi >= 1`` could not be
        verified. The published MicroGen3D packs' outputs are returned as published."""
        out = self.model.predict(latents.to(self.device))
        out = {k: v if v.dtype == torch.float64 else v.float() for k, v in out.items()}
        stats = getattr(self.config, "fp_outputs", None)
        if stats is not None and self.config.family in TRAINABLE_FAMILIES:  # our training data's range
            for k in RECIPE_NAMES:
                if k in out and k in stats.names:
                    j = stats.names.index(k)
                    out[k] = out[k].clamp(float(stats.min[j]), float(stats.max[j]))
        return out

    @torch.inference_mode()
    def encode(self, volumes: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """uint8 label volumes ``(B, X, Y, Z)`` -> diffusion-space latents (the posterior mean)."""
        chunk = int(chunk or self.decode_chunk)
        return torch.cat([self.model.encode(volumes[s:s + chunk]) for s in range(0, volumes.shape[0], chunk)])

    def sample(self, conditions, n: int = 1, seed: int | None = None, *, sampler: str | None = None,
               steps: int | None = None, guidance: float | None = None, batch_size: int | None = None,
               decode_chunk: int | None = None, eta: float | None = None,
               fp_guidance: float | None = None, wrap: Callable[[EpsFn], EpsFn] | None = None,
               calibrate: bool | None = None) -> Samples:
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
            Default from the config (:func:`~generators.diffusion.samplers.sampler_settings`).
        steps : int, optional
            Network evaluations (default from the config; for ``ancestral`` the published 998,
            i.e. the first step index).
        guidance : float, optional
            Classifier-free guidance scale (1 = plain conditional).
        eta : float, optional
            DDIM only: 0 deterministic, 1 stochastic (default from the config).
        batch_size, decode_chunk : int, optional
            Latents denoised / decoded together (default: the generator's).
        fp_guidance : float, optional
            Descriptor guidance (:mod:`generators.diffusion.guidance`): the fraction of the FP's
            error on the conditions removed at each step (0 = off; default from the config's
            ``sampler.fp_guidance``). Needs an FP that predicts every condition.
        wrap : callable, optional
            Wraps the denoiser callable, e.g. for other guidance (see :meth:`sample_latents`).
        calibrate : bool, optional
            Feed the sampler the calibrated conditions (:attr:`calibration`); default: when the
            model has a calibration. False samples the raw conditional.
        """
        latents, rows = self.sample_latents(conditions, n, seed, sampler, steps, guidance, batch_size,
                                            eta=eta, fp_guidance=fp_guidance, wrap=wrap, calibrate=calibrate)
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
