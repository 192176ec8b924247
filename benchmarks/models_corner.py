"""Does a model reproduce its own *training* conditions in a region of condition space? One sample
per training row of the region, under several sampler settings: bias (measured - asked), MAE and
R^2 per condition, per setting.

Written for ch3-default's shallow corner (``vol_frac_D`` < 0.25, the minority donor near
percolation), where held-out ``tortuosity_D`` misses by 0.3: a miss on the training rows too says
the denoiser underfits there (not a generalisation gap), and one that no sampler setting removes
says the sampler is not the cause. Prints and saves JSON::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/models_corner.py ch3-default runs/v2/shards/ch3/train \\
        --every 2 --out benchmarks/results/models_corner_ch3-default.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import generators  # noqa: E402
from generators.diffusion.data import load_shards  # noqa: E402
from generators.diffusion.evaluation import conditioning_at  # noqa: E402

from benchmarks.design import weights_digest  # noqa: E402

#: sampler settings compared (keyword arguments of ``conditioning_at``; {} = the model's default)
VARIANTS = {
    "default": {},
    "unguided": {"fp_guidance": 0.0},
    "fp_guidance_3": {"fp_guidance": 3.0},
    "cfg_2": {"guidance": 2.0},
    "cfg_3": {"guidance": 3.0},
    "dpmpp2m": {"sampler": "dpmpp2m"},
    "ddim_200_steps": {"steps": 200},
}


def decoder_noise(gen, volumes, scales=(0.1, 0.2, 0.4), seed: int = 0) -> dict:
    """How fragile is the decoder here? Encode ``volumes``, add Gaussian noise of each scale to the
    (diffusion-space) latents, decode and measure: the largest change of each condition per scale,
    beside the VAE posterior's mean std and the latents' std (the denoiser trains on posterior draws)."""
    from generators.cahn_hilliard.attributes import label_volumes

    names = list(gen.condition_names)
    vae = gen.model.vae
    with torch.inference_mode():
        mu, logvar = vae.encode(vae.to_input(volumes))
    z0 = gen.encode(volumes)
    g = torch.Generator().manual_seed(seed)

    def measure(z):
        m = label_volumes(gen.decode(z).cpu(), gen.phases)
        return np.stack([np.asarray(m[n], float) for n in names], 1)

    base = measure(z0)
    out = {"volumes": len(volumes), "posterior_std": float((0.5 * logvar).exp().mean()),
           "latent_std": float(z0.std()), "max_change": {}}
    for s in scales:
        d = np.abs(measure(z0 + s * torch.randn(z0.shape, generator=g)) - base).max(0)
        out["max_change"][str(s)] = {n: float(v) for n, v in zip(names, d)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("shards", help="the model's training shards (their labels are the rows asked for)")
    ap.add_argument("--condition", default=None, help="condition bounding the region (default: the first)")
    ap.add_argument("--below", type=float, default=0.25, help="rows with that condition below this value")
    ap.add_argument("--every", type=int, default=1, help="every k-th row of the region")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--noise-rows", type=int, default=6,
                    help="region volumes encoded for the decoder-noise check (0: skip it)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.every < 1:
        ap.error(f"--every must be >= 1, got {a.every}")
    torch.set_num_threads(a.threads)
    gen = generators.load(a.model)
    names = list(gen.condition_names)
    col = names.index(a.condition) if a.condition else 0
    data = load_shards(a.shards)
    table = data.table(names)
    region = table[:, col] < a.below
    cond = table[region][:: a.every]
    if len(cond) < 2:
        ap.error(f"only {len(cond)} training rows with {names[col]} < {a.below}")
    out = {"model": a.model, "weights_sha256": weights_digest(a.model), "shards": a.shards,
           "region": f"{names[col]} < {a.below}", "rows": len(cond), "seed": a.seed, "variants": {}}
    print(f"{a.model}: {len(cond)} training rows with {names[col]} < {a.below}")
    for v in a.variants:
        t0 = time.perf_counter()
        report = conditioning_at(gen, cond, n_samples=1, seed=a.seed, **VARIANTS[v])
        # conditioning_at scores R^2 / MAE / r; the sign of the miss is what this asks about
        res = {n: {"bias": float((report["measured"][n] - cond[:, j]).mean()), **report["conditioning"][n]}
               for j, n in enumerate(names)}
        out["variants"][v] = {"settings": VARIANTS[v], "seconds": time.perf_counter() - t0, **res}
        print(f"{v:>15}: " + "  ".join(f"{n} bias {res[n]['bias']:+.3f} MAE {res[n]['mae']:.3f}" for n in names),
              flush=True)
    if a.noise_rows and not hasattr(getattr(gen, "model", None), "vae"):
        print("decoder noise: skipped (not a model trained here: no VAE posterior to read)")
    elif a.noise_rows:
        out["decoder_noise"] = decoder_noise(gen, data.volumes[np.flatnonzero(region)[:: a.every][: a.noise_rows]])
        print("decoder noise:", json.dumps(out["decoder_noise"]))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=1))
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
