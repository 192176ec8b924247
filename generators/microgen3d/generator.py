"""A MicroGen3D weight pack as a generator: conditions -> latents -> volumes and FP predictions."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import torch

from generators.microgen3d.denoiser import Denoiser
from generators.microgen3d.feature_predictor import FeaturePredictor
from generators.microgen3d.packs import PackConfig
from generators.microgen3d.sampling import ancestral_sample
from generators.microgen3d.vae import VAE
from generators.protocol import Samples

Labeler = Callable[[torch.Tensor], torch.Tensor]


def binarize(volume: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """The published labelling: ``uint8(volume > threshold)`` (0 donor, 1 acceptor)."""
    return (volume > threshold).to(torch.uint8)


def three_levels(volume: torch.Tensor) -> torch.Tensor:
    """Three-phase labelling of a grey volume, ASSUMING the encoding donor 0, mixed 0.5, acceptor 1.

    ``< 1/3`` -> 0 (donor), ``> 2/3`` -> 1 (acceptor), otherwise 2 (mixed). The published code only
    binarises; use this when a pack was trained on that encoding.
    """
    out = torch.full(volume.shape, 2, dtype=torch.uint8, device=volume.device)
    out[volume < 1 / 3] = 0
    out[volume > 2 / 3] = 1
    return out


def _accepts(fn: Callable, name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class MicroGen3D:
    """Conditional latent diffusion generator built from a VAE, a feature predictor and a denoiser.

    Meets :class:`generators.protocol.Generator`. Usually made by :func:`load_pack`.

    Parameters
    ----------
    vae, fp, denoiser : modules
        The three networks (put in eval mode here).
    pack : PackConfig
        Shapes and names.
    bounds : Tensor ``(2, d)`` or mapping name -> (low, high), optional
        Condition bounds; defaults to the pack's, ``[0, 1]`` for every name it does not list.
    batch_size : int
        Latents denoised together.
    decode_chunk : int
        Latents decoded together (decoding full volumes is the memory-hungry step).
    labeler : {"binary", "three_levels"} or callable
        Turns decoded grey volumes ``(B, X, Y, Z)`` in [0, 1] into uint8 labels. ``"binary"``
        (threshold 0.5) is the published behaviour and gives ``phases == 2``.
    sampler : callable, optional
        Default fast sampler (see :meth:`sample`).
    steps : int, optional
        Default number of steps for ``sampler``.
    amp_dtype : torch.dtype, optional
        Run the denoiser under ``torch.autocast`` in this dtype (e.g. ``torch.bfloat16``); the
        sampler's updates stay in the networks' dtype. ``None`` (default) disables autocast.
    """

    def __init__(
        self,
        vae: VAE,
        fp: FeaturePredictor,
        denoiser: Denoiser,
        pack: PackConfig,
        *,
        bounds: torch.Tensor | Mapping[str, Sequence[float]] | None = None,
        batch_size: int = 32,
        decode_chunk: int = 8,
        labeler: str | Labeler = "binary",
        sampler: Callable | None = None,
        steps: int | None = None,
        amp_dtype: torch.dtype | None = None,
    ) -> None:
        self.vae, self.fp, self.denoiser = vae.eval(), fp.eval(), denoiser.eval()
        self.pack = pack
        self.condition_names: tuple[str, ...] = tuple(pack.condition_names)
        self.fp_names: tuple[str, ...] = tuple(pack.fp_names)
        self.predicted_names: tuple[str, ...] = self.fp_names
        self.shape: tuple[int, ...] = pack.volume_shape
        if batch_size < 1 or decode_chunk < 1:
            raise ValueError(f"batch_size and decode_chunk must be >= 1, got {batch_size}, {decode_chunk}")
        self.batch_size, self.decode_chunk = int(batch_size), int(decode_chunk)
        if labeler == "binary":
            self.labeler, self.phases = binarize, 2
        elif labeler == "three_levels":
            self.labeler, self.phases = three_levels, 3
        elif callable(labeler):
            self.labeler, self.phases = labeler, pack.phases
        else:
            raise ValueError(f"labeler must be 'binary', 'three_levels' or a callable, got {labeler!r}")
        self.sampler, self.steps = sampler, steps
        if amp_dtype is not None and not (isinstance(amp_dtype, torch.dtype) and amp_dtype.is_floating_point):
            raise ValueError(f"amp_dtype must be a floating torch dtype or None, got {amp_dtype!r}")
        self.amp_dtype = amp_dtype
        self.bounds = self._make_bounds(bounds)
        self.inequality_constraints = (
            [([0, 1], [-1.0, -1.0], -1.0)]
            if self.condition_names[:2] == ("vol_frac_D", "vol_frac_M")
            else []
        )

    # -- properties ---------------------------------------------------------------------------
    @property
    def config(self) -> PackConfig:
        """Alias of :attr:`pack`."""
        return self.pack

    @property
    def device(self) -> torch.device:
        return self.denoiser.alpha_t.device

    @property
    def dtype(self) -> torch.dtype:
        return self.denoiser.alpha_t.dtype

    def _make_bounds(self, bounds) -> torch.Tensor:
        d = len(self.condition_names)
        if bounds is None or isinstance(bounds, Mapping):
            given = dict(self.pack.bounds)
            if bounds is not None:
                unknown = set(bounds) - set(self.condition_names)
                if unknown:
                    raise ValueError(
                        f"bounds for unknown conditions {sorted(unknown)}; known: {self.condition_names}"
                    )
                given.update(bounds)
            rows = [tuple(given.get(name, (0.0, 1.0))) for name in self.condition_names]
            b = torch.tensor(rows, dtype=torch.float64).T
        else:
            b = torch.as_tensor(bounds, dtype=torch.float64)
        if b.shape != (2, d):
            raise ValueError(f"bounds must have shape (2, {d}), got {tuple(b.shape)}")
        if not torch.isfinite(b).all() or (b[0] >= b[1]).any():
            raise ValueError(f"bounds need finite low < high for every condition, got {b.tolist()}")
        return b

    # -- pieces -------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode latents ``(B, L, x, y, z)`` to grey volumes ``(B, X, Y, Z)`` in [0, 1], in chunks."""
        outs = [
            self.vae.decode(latents[i : i + self.decode_chunk].to(self.device, self.dtype))[:, 0]
            for i in range(0, latents.shape[0], self.decode_chunk)
        ]
        return torch.cat(outs) if outs else latents.new_zeros((0, *self.shape))

    @torch.no_grad()
    def predict(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature-predictor outputs per latent, by name (each ``(B,)``)."""
        out = self.fp(latents.to(self.device, self.dtype).flatten(1))
        return {name: out[:, j] for j, name in enumerate(self.fp_names)}

    def eps(self, x: torch.Tensor, t: torch.Tensor | float, context: torch.Tensor) -> torch.Tensor:
        """The denoiser's epsilon prediction (under autocast when ``amp_dtype`` is set)."""
        if self.amp_dtype is None:
            return self.denoiser(x, t, context)
        with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype):
            return self.denoiser(x, t, context).to(x.dtype)

    def _check_conditions(self, conditions) -> torch.Tensor:
        c = torch.as_tensor(conditions, dtype=self.dtype, device=self.device)
        d = len(self.condition_names)
        if c.ndim == 1 and c.shape[0] == d:
            c = c.unsqueeze(0)
        if c.ndim != 2 or c.shape[1] != d:
            raise ValueError(
                f"conditions must have shape (m, {d}) for {self.condition_names}, got {tuple(c.shape)}"
            )
        if not torch.isfinite(c).all():
            raise ValueError("conditions contain NaN or infinite values")
        return c

    @torch.no_grad()
    def sample_latents(
        self,
        context: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        sampler: Callable | None = None,
        steps: int | None = None,
        first_step: int | None = None,
    ) -> torch.Tensor:
        """Denoise one batch of latents under ``context`` ``(B, d)`` from fresh N(0, I) noise.

        With ``sampler=None`` the published ancestral loop runs (998 steps, or from
        ``first_step``). Otherwise ``sampler(denoise_fn, x_T, schedule, steps, generator=...)`` is
        called with ``denoise_fn(x, t) -> eps`` (``t = step / T``, scalar or ``(B,)``, context bound)
        and ``schedule`` the 7 buffers by name; ``generator`` is passed only if the sampler takes it.
        """
        b = context.shape[0]
        x = torch.randn((b, *self.pack.latent_shape), generator=generator, device=self.device, dtype=self.dtype)
        if sampler is None:
            return ancestral_sample(
                self.eps, x, self.denoiser.schedule(), context, generator, first_step=first_step
            )

        def denoise_fn(xt: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
            return self.eps(xt, t, context[: xt.shape[0]])

        kwargs = {"generator": generator} if _accepts(sampler, "generator") else {}
        return sampler(denoise_fn, x, self.denoiser.schedule(), steps, **kwargs)

    # -- protocol -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        conditions: torch.Tensor,
        n: int = 1,
        seed: int | None = None,
        *,
        sampler: Callable | None = None,
        steps: int | None = None,
        first_step: int | None = None,
    ) -> Samples:
        """Generate ``n`` volumes for each row of ``conditions`` ``(m, d)``.

        Row ``i * n + j`` of the result is sample ``j`` of condition ``i``. ``predicted`` holds the
        FP's outputs on the final latents (descriptors, and the recipe for ``ch_3phase``).
        ``sampler``/``steps`` override the defaults given at construction (see
        :meth:`sample_latents`); the same ``seed`` gives the same volumes on the same device.
        """
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        c = self._check_conditions(conditions).repeat_interleave(int(n), dim=0)
        sampler = sampler if sampler is not None else self.sampler
        steps = steps if steps is not None else self.steps
        gen = None
        if seed is not None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(int(seed))
        latents = torch.cat(
            [
                self.sample_latents(
                    c[i : i + self.batch_size], gen, sampler=sampler, steps=steps, first_step=first_step
                )
                for i in range(0, c.shape[0], self.batch_size)
            ]
        )
        volumes = self.labeler(self.decode(latents))
        return Samples(volumes=volumes, conditions=c, latents=latents, predicted=self.predict(latents))
