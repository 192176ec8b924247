"""Sample a generator at conditions and measure the volumes' descriptors on the same device.

Optionally screened: a generator that exposes its latents (``sample_latents``, ``predict``,
``decode``) draws ``factor`` latents per kept sample, its feature predictor (cheap, on the latent)
ranks them by the probability of meeting the targets, and only the best are decoded and measured
(:class:`Screen`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

_log = logging.getLogger(__name__)

DescribeBatch = Callable[..., Mapping[str, torch.Tensor]]


def default_describe() -> DescribeBatch:
    """``objectives.describe_batch`` (looked up at call time)."""
    import objectives

    fn = getattr(objectives, "describe_batch", None)
    if fn is None:
        raise ValueError("objectives.describe_batch is not available in this installation")
    return fn


@dataclass
class Measurement:
    """Volumes and descriptors of ``m`` conditions with ``n`` samples each.

    Attributes
    ----------
    volumes : ndarray uint8 ``(m, n, X, Y, Z)``
        Phase labels, on the CPU.
    descriptors : dict[str, ndarray (m, n)]
        Every measured descriptor per sample (float64).
    predicted : dict[str, ndarray (m, n)]
        The generator's per-sample predictions (e.g. the recipe phi, chi, log_time).
    """

    volumes: np.ndarray
    descriptors: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]

    def means(self) -> dict[str, np.ndarray]:
        """Per-condition mean of every descriptor, ``(m,)``."""
        return {k: v.mean(axis=1) for k, v in self.descriptors.items()}

    def variances(self) -> dict[str, np.ndarray]:
        """Per-condition replicate variance (ddof=1 when n > 1, else 0), ``(m,)``."""
        n = next(iter(self.descriptors.values())).shape[1] if self.descriptors else 1
        return {k: (v.var(axis=1, ddof=1) if n > 1 else np.zeros(len(v))) for k, v in self.descriptors.items()}


SCREEN_METHODS = ("sample_latents", "predict", "decode")


def can_screen(generator, names) -> bool:
    """Whether ``generator`` exposes its latents and its predictor covers some of ``names``."""
    if not all(callable(getattr(generator, m, None)) for m in SCREEN_METHODS):
        return False
    return bool(set(getattr(generator, "predicted_names", ()) or ()) & set(names))


@dataclass
class Screen:
    """Rank latents by the feature predictor before decoding: keep the ``1 / factor`` most likely
    to meet every target.

    Each predicted descriptor is calibrated on what the study has measured so far: measured
    ``~ N(intercept + slope * predicted, resid_sd^2)`` (least squares over every sample of the
    complete trials; before ``min_pairs`` samples, slope 1, intercept 0, ``resid_sd`` =
    ``max(2 * tolerance, 0.05)``). A descriptor the predictor does not know gets a slope near 0
    and so no say in the ranking.

    Attributes
    ----------
    factor : int
        Latents drawn per kept sample (>= 2).
    names : tuple of str
        Targeted descriptors the predictor outputs.
    target, tolerance, slope, intercept, resid_sd : Tensor ``(k,)`` float64
    """

    factor: int
    names: tuple[str, ...]
    target: torch.Tensor
    tolerance: torch.Tensor
    slope: torch.Tensor
    intercept: torch.Tensor
    resid_sd: torch.Tensor

    @classmethod
    def calibrated(cls, factor: int, targets, tolerances, predicted_names, pairs=(), min_pairs: int = 8
                   ) -> "Screen | None":
        """A screen for ``targets`` (name -> value) from ``pairs``: ``(name, predicted, measured)``
        value lists per descriptor (``None`` when ``factor < 2`` or nothing is predicted)."""
        names = tuple(n for n in targets if n in set(predicted_names))
        if factor < 2 or not names:
            return None
        t = torch.tensor([targets[n] for n in names], dtype=torch.float64)
        tol = torch.tensor([tolerances[n] for n in names], dtype=torch.float64)
        slope, icpt = torch.ones_like(t), torch.zeros_like(t)
        sd = torch.maximum(2 * tol, torch.full_like(tol, 0.05))
        data = dict((n, (p, m)) for n, p, m in pairs)
        for j, n in enumerate(names):
            if n not in data or len(data[n][0]) < min_pairs:
                continue
            p, m = (torch.tensor(v, dtype=torch.float64) for v in data[n])
            pc = p - p.mean()
            b = (pc * (m - m.mean())).sum() / pc.pow(2).sum().clamp(min=1e-12)
            b = b.clamp(0.0, 2.0)
            a = m.mean() - b * p.mean()
            r = (m - a - b * p).pow(2).sum() / max(len(p) - 2, 1)
            slope[j], icpt[j], sd[j] = b, a, torch.maximum(r.sqrt(), 0.1 * tol[j])
        return cls(int(factor), names, t, tol, slope, icpt, sd)

    @classmethod
    def for_study(cls, study, settings, generator) -> "Screen | None":
        """The screen of a study's settings (``None`` when it does not screen or cannot)."""
        factor = int(getattr(settings, "screen", 1) or 1)
        if factor < 2 or not can_screen(generator, settings.targets):
            return None
        from optuna.trial import TrialState

        from invdesign.studies.records import TrialRecord

        pairs: dict[str, tuple[list, list]] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rec = TrialRecord.read(t)
            pred, meas = rec.predicted, rec.samples
            for n in settings.targets:
                if n in pred and n in meas and len(pred[n]) == len(meas[n]):
                    acc = pairs.setdefault(n, ([], []))
                    acc[0].extend(pred[n])
                    acc[1].extend(meas[n])
        return cls.calibrated(factor, settings.targets, settings.tolerances,
                              generator.predicted_names, [(n, p, m) for n, (p, m) in pairs.items()])

    def log_p(self, predicted: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(N,)``: log probability that each latent's volume meets the screened targets."""
        from invdesign.loop.composite_bo import _log_box_probability

        p = torch.stack([torch.as_tensor(predicted[n]).double().cpu().reshape(-1) for n in self.names], -1)
        mu = self.intercept + self.slope * p
        return _log_box_probability(mu, self.resid_sd.expand_as(mu), self.target - self.tolerance,
                                    self.target + self.tolerance).sum(-1)


class SamplingOutOfMemory(RuntimeError):
    """The generator ran out of GPU memory even at one volume per ``sample`` call."""


class SampleBatches:
    """``generator.sample`` in chunks of at most ``size`` volumes per condition, halving after a
    CUDA out-of-memory error (the size only shrinks, so later trials start small).

    Parameters
    ----------
    generator : Generator
    size : int, optional
        Volumes per condition per call to start with (default: all of them in one call).
    screen : Screen, optional
        Draw ``screen.factor`` latents per kept volume (``sample_latents``), rank them with the
        generator's ``predict`` and decode only the best of each condition (default: the
        generator's own ``sample``).
    """

    def __init__(self, generator, size: int | None = None, screen: Screen | None = None) -> None:
        self.generator = generator
        self.size = size
        self.screen = screen

    def _draw(self, conditions: torch.Tensor, b: int, seed: int):
        """``(volumes (m * b, ...), predicted {name: (m * b,)})`` of one chunk."""
        if self.screen is None:
            samples = self.generator.sample(conditions, n=b, seed=seed)
            return samples.volumes, samples.predicted or {}
        m, f = conditions.shape[0], self.screen.factor
        gen = self.generator
        latents, _ = gen.sample_latents(conditions, n=b * f, seed=seed)
        pred = gen.predict(latents)
        score = self.screen.log_p(pred).reshape(m, b * f)
        # the b best of each condition's b * f latents (stable: ties keep the earlier draw)
        keep = torch.sort(torch.argsort(-score, dim=1, stable=True)[:, :b], dim=1).values
        rows = (keep + torch.arange(m).unsqueeze(1) * (b * f)).reshape(-1).to(latents.device)
        chosen = latents.index_select(0, rows)
        return gen.decode(chosen), {k: torch.as_tensor(v).reshape(-1)[rows.to(torch.as_tensor(v).device)]
                                    for k, v in pred.items()}

    def __call__(self, conditions: torch.Tensor, n: int, seed: int):
        """Volumes ``(m, n, X, Y, Z)`` (generator device) and predictions ``{name: (m, n)}``.

        The first chunk uses ``seed``; chunk at sample offset ``k > 0`` a seed derived from both,
        so one call with every sample reproduces a run that was never split.
        """
        m = conditions.shape[0]
        vols, preds, done = [], [], 0
        while done < n:
            b = min(self.size or n, n - done)
            chunk_seed = int(seed) if done == 0 else int(
                np.random.SeedSequence([int(seed), done]).generate_state(1)[0] % (2**31))
            try:
                v, p = self._draw(conditions, b, chunk_seed)
            except torch.OutOfMemoryError:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if b <= 1:
                    raise SamplingOutOfMemory(
                        "out of GPU memory while sampling even one volume per batch") from None
                self.size = max(1, b // 2)
                _log.warning("out of GPU memory at %d volumes per call; retrying with %d", b, self.size)
                continue
            if v.shape[0] != m * b:
                raise ValueError(f"generator returned {v.shape[0]} volumes for {m} x {b} requested")
            vols.append(v.reshape(m, b, *v.shape[1:]))
            preds.append({k: torch.as_tensor(x).reshape(m, b) for k, x in p.items()})
            done += b
        volumes = torch.cat(vols, dim=1)
        predicted = {k: torch.cat([p[k] for p in preds], dim=1) for k in preds[0]}
        return volumes, predicted


def measure(
    generator,
    conditions: torch.Tensor,
    n: int,
    seed: int,
    describe: DescribeBatch | None = None,
    periodic: bool = False,
    batches: SampleBatches | None = None,
    screen: Screen | None = None,
) -> Measurement:
    """Generate ``n`` volumes per row of ``conditions (m, d)`` and measure them.

    The volumes stay on the generator's device for the measurement; only the results move to
    the CPU. ``describe`` defaults to the generator's own ``describe_batch`` if it has one, else
    ``objectives.describe_batch``; ``batches`` (default: one call) splits the sampling and shrinks
    it after a CUDA out-of-memory error; ``screen`` ranks latents by the feature predictor and
    decodes only the best (:class:`Screen`). All ``m * n`` volumes are measured in one batched
    call (worked volume by volume on the free cores, :func:`objectives.describe_batch`).
    """
    from invdesign.threads import refresh

    refresh()  # a running design's thread count follows the free cores
    describe = describe or getattr(generator, "describe_batch", None) or default_describe()
    conditions = torch.as_tensor(conditions, dtype=torch.float32)
    if getattr(generator, "device", None) is not None:
        conditions = conditions.to(generator.device)
    m = conditions.shape[0]
    batches = batches or SampleBatches(generator)
    batches.screen = screen
    vols, pred = batches(conditions, n, seed)
    raw = describe(vols.reshape(m * n, *vols.shape[2:]), periodic=periodic)
    descriptors = {
        k: torch.as_tensor(v).detach().double().cpu().numpy().reshape(m, n) for k, v in raw.items()
    }
    predicted = {k: v.detach().double().cpu().numpy() for k, v in pred.items()}
    volumes = vols.detach().to(torch.uint8).cpu().numpy()
    return Measurement(volumes=volumes, descriptors=descriptors, predicted=predicted)


def measurable_names(generator, describe: DescribeBatch | None = None) -> tuple[str, ...]:
    """Descriptor names measured on this generator's volumes (probed on a tiny volume).

    A generator may declare them as ``descriptor_names``; otherwise a small probe volume with the
    generator's phases is described.
    """
    declared = getattr(generator, "descriptor_names", None)
    if declared:
        return tuple(declared)
    describe = describe or getattr(generator, "describe_batch", None) or default_describe()
    probe = torch.zeros(1, 6, 6, 6, dtype=torch.uint8)
    probe[0, :3] = 1
    if getattr(generator, "phases", 2) == 3:
        probe[0, :, :2] = 2
    return tuple(describe(probe))
