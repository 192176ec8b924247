"""Self-labelled latents: the generator's own samples, decoded and measured, to train its FP on.

The feature predictor (FP) learns from encoder latents, but descriptor guidance and screening
query it on the *denoiser's* latents, which lie off that manifold; guidance then steers samples
to where the FP says "on target" while the decoded volume is not (held-out measurement on
``ch3-default``: FP vs request R^2 0.94, measured vs FP 0.37 for ``tortuosity_D``). Sampling at
training-like conditions, decoding and describing each latent gives (latent, measured
descriptors) pairs from exactly the distribution the FP is asked about; the FP stage mixes them
into its batches (``fp_generated`` in the training config, :meth:`Trainer.generated_latents`).

Usage (the build, ``scripts/build_default_models.py selflabel``)::

    from generators.diffusion.selflabel import generate
    generate(gen, pool, "fpgen.safetensors", n=1200, seed=1)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file


def generate(generator, pool: np.ndarray, out: str | Path, n: int, seed: int = 0,
             fp_guidance: Sequence[float] = (1.0, 0.0), jitter: float | Sequence[float] = 0.01, batch: int = 8,
             save_every: int = 5, log=print, weights: np.ndarray | None = None,
             calibrate: bool = False) -> dict[str, torch.Tensor]:
    """Sample ``n`` latents (rounded down to whole batches), decode and describe them, and save ``z``, ``measured`` (every
    descriptor of the phase count, named by the ``names`` metadata), ``cond`` (the conditions
    asked, named by ``conditions``) and ``fpg`` to ``out`` (safetensors; rewritten every
    ``save_every`` batches, so a stopped run keeps its samples).

    Parameters
    ----------
    generator : LatentDiffusionGenerator
    pool : ndarray ``(m, d)``
        Condition rows (``generator.condition_names`` order) to draw from, e.g. the training
        latents' labels; each draw gets Gaussian ``jitter`` (one std, or one per condition) and
        is clipped to the model's bounds.
    weights : ndarray ``(m,)``, optional
        Draw probabilities of the pool rows (normalised here; default uniform), e.g.
        :func:`generators.diffusion.training.balance_weights` to spread draws evenly over
        condition space.
    calibrate : bool
        Sample through the model's condition calibration (default False: the raw conditional,
        what :mod:`generators.diffusion.calibration` is fitted on).
    fp_guidance : sequence of float
        Descriptor-guidance scales, cycled batch by batch (guided and unguided samples both occur
        in use).
    """
    from generators.cahn_hilliard.attributes import label_volumes

    pool = np.asarray(pool, dtype=float)
    names = list(generator.condition_names)
    if pool.ndim != 2 or pool.shape[1] != len(names):
        raise ValueError(f"pool must be (m, {len(names)}) condition rows, got {pool.shape}")
    if n < batch:
        raise ValueError(f"n must be at least one batch ({batch}), got {n}")
    jitter = np.broadcast_to(np.asarray(jitter, dtype=float), (len(names),))
    if (jitter < 0).any():
        raise ValueError(f"jitter must be >= 0, got {jitter.tolist()}")
    p = None
    if weights is not None:
        p = np.asarray(weights, dtype=float)
        if p.shape != (len(pool),) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"weights must be {len(pool)} finite non-negative numbers, not all 0")
        p = p / p.sum()
    lo, hi = generator.bounds.cpu().numpy()
    rng = np.random.default_rng(seed)
    zs, ys, cs, gs = [], [], [], []
    measured_names: list[str] = []
    t0 = time.perf_counter()

    def save() -> dict[str, torch.Tensor]:
        d = {"z": torch.cat(zs).contiguous(), "measured": torch.cat(ys).double().contiguous(),
             "cond": torch.cat(cs).double().contiguous(), "fpg": torch.cat(gs).float().contiguous()}
        tmp = Path(out).with_suffix(".tmp")
        save_file(d, str(tmp), metadata={"names": ",".join(measured_names), "conditions": ",".join(names),
                                         "seed": str(seed)})
        tmp.replace(out)
        return d

    batches = n // batch
    for k in range(batches):
        draw = rng.choice(len(pool), batch, p=p) if p is not None else rng.integers(0, len(pool), batch)
        rows = np.clip(pool[draw] + rng.normal(0, 1, (batch, len(names))) * jitter, lo, hi)
        g = float(fp_guidance[k % len(fp_guidance)])
        z, _ = generator.sample_latents(torch.tensor(rows, dtype=torch.float32), n=1,
                                        seed=seed * 1_000_003 + k, fp_guidance=g,
                                        calibrate=calibrate)
        measured = label_volumes(generator.decode(z).cpu(), generator.phases)
        measured_names = measured_names or list(measured)
        zs.append(z.float().cpu())
        ys.append(torch.tensor(np.stack([np.asarray(measured[nm]) for nm in measured_names], 1)))
        cs.append(torch.tensor(rows))
        gs.append(torch.full((batch,), g))
        if (k + 1) % save_every == 0 or k + 1 == batches:
            d = save()
            cols = [measured_names.index(nm) for nm in names]
            err = (d["measured"][:, cols] - d["cond"]).abs().mean(0).tolist()
            log(f"{(k + 1) * batch} samples, {time.perf_counter() - t0:.0f} s; mean |measured - asked| "
                + ", ".join(f"{nm} {e:.3f}" for nm, e in zip(names, err)))
    return d
