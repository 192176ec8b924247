"""Evaluation of a latent diffusion generator.

* Conditioning accuracy: for held-out conditions, generate, measure the volumes (by default with
  ``objectives.describe_batch``) and report R^2 and MAE per condition name, over all samples and
  over the per-condition means.
* Recipe / FP accuracy: encode held-out volumes, run the FP and compare with their labels
  (``phi``, ``chi``, ``log_time`` and every other FP output the data carries).
* Diversity at one fixed condition: the spread (std) of each measured descriptor and the mean
  pairwise voxel disagreement (fraction of voxels with different labels, averaged over pairs).
* Reconstruction (with data): voxel accuracy of each held-out volume decoded from its latent, and
  the descriptor error of the decoded volumes against the originals.
* The stage gates (:data:`GATES`): VAE accuracy, FP R^2 on every condition and on ``phi``, and the
  denoiser's per-sample R^2, MAE and spread on every condition, each with its pass/fail.

The FP is scored as it is trained: descriptors against those of the decoded held-out volume (what the
generator outputs for that latent), the recipe against the simulation's.

:func:`conditioning_at` scores a generator at given conditions with known recipes (e.g. the labels
of a held-out set, without its volumes): what ``tests/test_shipped_models.py`` floors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from generators.diffusion.data import VolumeSet

Describe = Callable[[torch.Tensor], dict[str, torch.Tensor]]

#: Stage gates: VAE voxel accuracy (mean over held-out volumes), FP R^2 (every condition and phi),
#: denoiser per-sample R^2 and MAE (every condition) and spread (std at one condition).
GATES = {"vae_accuracy": 0.97, "fp_r2": 0.95, "denoiser_r2": 0.9, "denoiser_mae": 0.03, "denoiser_std": 0.03}


def r2_mae(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Coefficient of determination (1 - SSE/SST; NaN when ``true`` is constant) and mean absolute error."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    sst = float(np.sum((true - true.mean()) ** 2))
    sse = float(np.sum((pred - true) ** 2))
    return {"r2": 1.0 - sse / sst if sst > 0 else float("nan"), "mae": float(np.mean(np.abs(pred - true)))}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two samples (NaN when either is constant)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    sa, sb = a.std(), b.std()
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb)) if sa > 0 and sb > 0 else float("nan")


def pairwise_disagreement(volumes: torch.Tensor) -> float:
    """Mean over pairs ``i < j`` of the fraction of voxels whose labels differ."""
    n = volumes.shape[0]
    if n < 2:
        raise ValueError("diversity needs at least 2 samples")
    flat = volumes.reshape(n, -1)
    total, pairs = 0.0, 0
    for i in range(n - 1):
        total += (flat[i + 1:] != flat[i]).float().mean(dim=1).sum().item()
        pairs += n - 1 - i
    return total / pairs


def default_describe() -> Describe:
    try:
        from objectives import describe_batch
    except ImportError:
        raise ValueError("objectives.describe_batch is not available; pass describe=...") from None
    return lambda v: describe_batch(v)


def _measure(describe: Describe, volumes: torch.Tensor, chunk: int = 64) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, volumes.shape[0], chunk):
        for k, v in describe(volumes[s:s + chunk]).items():
            parts.setdefault(k, []).append(torch.as_tensor(v).detach().cpu().double().numpy().reshape(-1))
    return {k: np.concatenate(v) for k, v in parts.items()}


def conditioning(measured: dict[str, np.ndarray], cond: np.ndarray, n_samples: int, names: list[str]) -> dict:
    """Per condition name: R^2 and MAE of every sample and of each condition's mean.

    ``measured``: name -> ``(m * n_samples,)`` (row ``i * n_samples + j`` is sample ``j`` of
    condition ``i``); ``cond``: ``(m, d)`` the requested conditions, columns in ``names`` order."""
    out = {}
    target = np.repeat(cond, n_samples, axis=0)
    for j, k in enumerate(names):
        if k not in measured:
            continue
        per_sample = r2_mae(measured[k], target[:, j])
        means = r2_mae(measured[k].reshape(len(cond), n_samples).mean(1), cond[:, j])
        out[k] = {**per_sample, "r2_of_means": means["r2"], "mae_of_means": means["mae"]}
    return out


def conditioning_in_bounds(measured: dict[str, np.ndarray], cond: np.ndarray, n_samples: int,
                           names: list[str], bounds: np.ndarray) -> dict:
    """``{"conditions_in_bounds": k}`` and, when 2 <= k < m, ``"conditioning_in_bounds"``: the
    :func:`conditioning` report of the ``k`` conditions inside ``bounds`` ``(2, d)`` (the training
    data's range, which a design searches). Held-out simulations can lie outside it."""
    inside = ((cond >= bounds[0]) & (cond <= bounds[1])).all(1)
    out: dict = {"conditions_in_bounds": int(inside.sum())}
    if 2 <= inside.sum() < len(cond):
        rows = np.repeat(inside, n_samples)
        out["conditioning_in_bounds"] = conditioning({k: v[rows] for k, v in measured.items()},
                                                     cond[inside], n_samples, names)
    return out


def _calibrated(generator, calibrate: bool | None) -> bool:
    """Whether sampling with ``calibrate`` goes through the generator's condition calibration."""
    has = getattr(generator, "calibration", None) is not None
    return has if calibrate is None else bool(calibrate)


def evaluate(generator, data: VolumeSet | None = None, *, n_conditions: int = 8, n_samples: int = 4,
             n_diversity: int = 8, sampler: str | None = None, steps: int | None = None,
             guidance: float | None = None, seed: int = 0, describe: Describe | None = None,
             fp_guidance: float | None = None, calibrate: bool | None = None) -> dict:
    """Evaluate ``generator`` (a :class:`LatentDiffusionGenerator`); returns a JSON-ready dict.

    Parameters
    ----------
    data : VolumeSet, optional
        Held-out samples. Their condition labels are the targets and their volumes test the FP;
        without data the conditions are drawn uniformly within the generator's bounds.
    n_conditions, n_samples : int
        Conditions evaluated and samples per condition.
    n_diversity : int
        Samples at the fixed (middle) condition for the diversity measures.
    describe : callable, optional
        ``volumes (B, X, Y, Z) -> {name: (B,)}``; default ``objectives.describe_batch``.
    fp_guidance : float, optional
        Descriptor-guidance step of the sampler (default: the model's).
    calibrate : bool, optional
        Sample through the model's condition calibration (default: when it has one).
    """
    if n_conditions < 1 or n_samples < 1:
        raise ValueError("n_conditions and n_samples must be >= 1")
    describe = describe or default_describe()
    names = list(generator.condition_names)
    rng = np.random.default_rng(seed)
    if data is not None:
        if tuple(data.volumes.shape[1:]) != tuple(generator.shape):
            raise ValueError(f"data volumes {tuple(data.volumes.shape[1:])} differ from the model's {generator.shape}")
        table = data.table(names)
        pick = rng.choice(len(data), size=min(n_conditions, len(data)), replace=False)
        cond = table[pick]
    else:
        lo, hi = generator.bounds.numpy()
        cond = lo + (hi - lo) * rng.random((n_conditions, len(names)))
    kw = {"sampler": sampler, "steps": steps, "guidance": guidance, "fp_guidance": fp_guidance,
          "calibrate": calibrate}
    s = generator.sample(torch.as_tensor(cond, dtype=torch.float32), n=n_samples, seed=seed, **kw)
    measured = _measure(describe, s.volumes)
    report: dict = {"model": repr(generator), "n_conditions": len(cond), "n_samples": n_samples,
                    "sampler": sampler or generator.config.sampler.get("name"),
                    "steps": steps or generator.config.sampler.get("steps"),
                    "fp_guidance": generator.config.sampler.get("fp_guidance", 0.0) if fp_guidance is None else fp_guidance,
                    "calibrated": _calibrated(generator, calibrate),
                    "conditioning": {},
                    "unmeasured_conditions": [k for k in names if k not in measured]}
    report["conditioning"] = conditioning(measured, cond, n_samples, names)
    report.update(conditioning_in_bounds(measured, cond, n_samples, names, generator.bounds.double().numpy()))
    if data is not None:
        latents = generator.encode(data.volumes)
        decoded = generator.decode(latents).cpu()
        acc = (decoded == data.volumes.cpu()).reshape(len(data), -1).float().mean(1).numpy()
        dec = _measure(describe, decoded)
        report["reconstruction"] = {
            "voxel_accuracy": float(acc.mean()), "voxel_accuracy_min": float(acc.min()),
            "descriptor_mae": {k: float(np.mean(np.abs(dec[k] - data.labels[k]))) for k in dec if k in data.labels}}
        pred = generator.predict(latents)
        report["fp_on_heldout"] = {k: r2_mae(v.cpu().numpy(), dec[k] if k in dec else data.labels[k])
                                   for k, v in pred.items() if k in dec or k in data.labels}
    mid = generator.bounds.mean(0, keepdim=True).float() if data is None else \
        torch.as_tensor(np.median(data.table(names), axis=0, keepdims=True), dtype=torch.float32)
    d = generator.sample(mid, n=max(2, n_diversity), seed=seed + 1, **kw)
    spread = _measure(describe, d.volumes)
    report["diversity"] = {"condition": dict(zip(names, mid[0].tolist())), "n": int(d.volumes.shape[0]),
                           "voxel_disagreement": pairwise_disagreement(d.volumes),
                           "descriptor_std": {k: float(np.std(v)) for k, v in spread.items()}}
    report["gates"] = gates(report, names)
    return report


def gates(report: dict, names: list[str]) -> dict:
    """Each stage gate of :data:`GATES` that the report can judge: ``{gate: {value, threshold, passed}}``
    plus ``passed`` per stage (``None`` where the report lacks the numbers, e.g. without data)."""
    out: dict = {}

    def check(key, value, threshold, above=True):
        ok = None if value is None or np.isnan(value) else bool(value >= threshold if above else value <= threshold)
        out[key] = {"value": value, "threshold": threshold, "passed": ok}
        return ok

    rec = report.get("reconstruction")
    stage = {"vae": check("vae_voxel_accuracy", rec["voxel_accuracy"] if rec else None, GATES["vae_accuracy"])}
    fp = report.get("fp_on_heldout", {})
    fp_ok = [check(f"fp_r2_{k}", fp[k]["r2"] if k in fp else None, GATES["fp_r2"]) for k in [*names, "phi"]]
    cond, std = report["conditioning"], report["diversity"]["descriptor_std"]
    den_ok = []
    for k in names:
        den_ok.append(check(f"denoiser_r2_{k}", cond[k]["r2"] if k in cond else None, GATES["denoiser_r2"]))
        den_ok.append(check(f"denoiser_mae_{k}", cond[k]["mae"] if k in cond else None, GATES["denoiser_mae"], False))
        den_ok.append(check(f"denoiser_std_{k}", std.get(k), GATES["denoiser_std"], False))
    stage["fp"] = None if None in fp_ok else all(fp_ok)
    stage["denoiser"] = None if None in den_ok else all(den_ok)
    out["passed"] = stage
    return out


def conditioning_at(generator, conditions, *, recipe: dict[str, np.ndarray] | None = None, n_samples: int = 1,
                    seed: int = 0, sampler: str | None = None, steps: int | None = None,
                    guidance: float | None = None, fp_guidance: float | None = None, calibrate: bool | None = None,
                    describe: Describe | None = None, against=None) -> dict:
    """Sample ``n_samples`` volumes at each row of ``conditions`` ``(m, d)`` (columns in
    ``condition_names`` order), measure them, and score.

    Parameters
    ----------
    against : array-like ``(m, d)``, optional
        The values the measurements are scored against (default: ``conditions``), e.g. the
        conditions a user asked for when the model was fed altered ones.
    recipe : dict, optional
        True recipe values by name, each ``(m,)`` (e.g. ``phi`` of the held-out volume each row's
        conditions were measured on); those the generator predicts are scored.
    sampler, steps, guidance, fp_guidance, calibrate : optional
        Sampler settings (default: the model's).

    Returns
    -------
    dict
        ``conditioning``: per condition name the descriptor measures, ``r2``, ``mae`` and ``r``
        (Pearson) of the measured descriptor against the requested value over the
        ``m * n_samples`` volumes; ``recipe``: per name of ``recipe`` that the generator predicts,
        ``mae``, ``r2`` and ``r`` of the predictions; ``measured`` and ``predicted``: the raw
        ``(m * n_samples,)`` arrays by name.
    """
    describe = describe or default_describe()
    cond = np.asarray(conditions, dtype=float)
    kw = {"sampler": sampler, "steps": steps, "guidance": guidance, "fp_guidance": fp_guidance,
          "calibrate": calibrate}
    s = generator.sample(torch.as_tensor(cond, dtype=torch.float32), n=n_samples, seed=seed, **kw)
    measured = _measure(describe, s.volumes)
    target = np.repeat(cond if against is None else np.asarray(against, dtype=float), n_samples, axis=0)
    out: dict = {"conditioning": {}, "recipe": {}, "measured": measured,
                 "predicted": {k: v.detach().cpu().double().numpy() for k, v in (s.predicted or {}).items()}}
    for j, k in enumerate(generator.condition_names):
        if k in measured:
            out["conditioning"][k] = {**r2_mae(measured[k], target[:, j]), "r": pearson(measured[k], target[:, j])}
    for k, true in (recipe or {}).items():
        if k in out["predicted"]:
            t = np.repeat(np.asarray(true, float), n_samples)
            out["recipe"][k] = {**r2_mae(out["predicted"][k], t), "r": pearson(out["predicted"][k], t)}
    return out


def below_floors(report: dict, floors: dict) -> dict[str, str]:
    """Each name of ``floors`` (``{name: {"r2" | "r": at least, "mae": at most}}``) whose score in
    ``report`` (:func:`conditioning_at`: ``conditioning`` and ``recipe``) misses it, with why."""
    scores = {**report["conditioning"], **report["recipe"]}
    bad = {}
    for name, floor in floors.items():
        got = scores.get(name)
        if got is None:
            bad[name] = "not measured"
            continue
        for key, limit in floor.items():
            value = got[key]
            ok = value <= limit if key == "mae" else value >= limit  # NaN fails both
            if not ok:
                bad[name] = f"{key} {value:.3f} vs floor {limit}"
    return bad
