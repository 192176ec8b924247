"""Rebuild the shipped models ``ch2-default`` and ``ch3-default`` from scratch, on CPU.

Stages (run in order; each is resumable and deterministic from the seeds recorded here)::

    python scripts/build_default_models.py data      [--part I/N]   # Cahn-Hilliard data sets
    python scripts/build_default_models.py train     ch2|ch3        # invdesign train vae|fp|denoiser
    python scripts/build_default_models.py evaluate  ch2|ch3 [--steps N]  # invdesign evaluate --json
    python scripts/build_default_models.py figure    ch2|ch3        # docs/figures/<name>_samples.png
    python scripts/build_default_models.py ship      ch2|ch3        # copy the model directory into
                                                                    # generators/weights/<name>/

As run for the shipped weights: ``data --part I/4`` for I = 0..3 at once, then both models'
``train --threads 1`` at once (the VAE stage started once the first two shards existed), then
``evaluate``, ``figure``, ``ship``. Everything is seeded; torch CPU kernels on one thread are
deterministic, so the same commands on the same torch build give the same weights.

Data recipe (CPU-feasible; see ``docs/models.md`` for what this leaves out)
-------------------------------------------------------------------------
* One Cahn-Hilliard simulation per series on a 32x32x16 grid, snapshots at 8 log-spaced times
  from t = 20 to 300, adaptive dt with ``dt_max`` = :data:`DT_MAX`; the donor fraction is
  interpolated spectrally x4 to 128x128x64 (``BuildConfig.upsample = 4``) and thresholded.
  In output voxels the blend has kappa = :data:`KAPPA` and mobility :data:`MOBILITY` (kappa = 2,
  M = 1 on the simulated grid: interfaces about two simulated voxels wide, no lattice pinning):
  domain wavelengths of about 30-100 voxels, large enough for the 16x-compressing VAE.
  Finer recipes failed here: with kappa = 1 (or 4) in output voxels, domains of 5-20 voxels,
  even the best 16^3-block average reconstructs crops no better than chance (BCE 0.66 vs 0.69)
  and the VAE stayed at chance; and simulating a small kappa on a coarse grid (kappa / f^2
  there) pins the interfaces to the lattice at chi >~ 3 (coarsening stops); see
  ``docs/models.md``.
* Each series is simulated once and labelled twice (two-phase and three-phase phase maps of the
  same field): the shards are identical to what ``build_dataset`` writes for each configuration
  (its manifest is written by ``build_dataset`` itself, which finds every shard on disk).
* Training set: :data:`TRAIN` (Latin hypercube in (phi, chi), seed 0); held-out set: :data:`HELD`
  (seed 1, other series, other noise).

Training: ``invdesign train vae|fp|denoiser --preset ch2-default|ch3-default --config FILE
--resume``, FILE (written into ``runs/default_models/``) holding :data:`TRAIN_OVERRIDES` (merged
over the preset; seed 0). Torch threads: ``--threads`` (``OMP_NUM_THREADS`` of the CLI runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RUNS = ROOT / "runs" / "default_models"
DT_MAX = 2.0
UPSAMPLE = 4

KAPPA, MOBILITY = 32.0, 16.0  # in output voxels: 2 and 1 on the simulated grid
COMMON = dict(shape=(128, 128, 64), t_min=20.0, t_max=300.0, phi_range=(0.3, 0.7),
              chi_range=(2.6, 4.0), design="lhs", batch=8, dtype="float32",
              params={"kappa": KAPPA, "mobility": MOBILITY, "dt_max": DT_MAX}, upsample=UPSAMPLE)
TRAIN = dict(COMMON, n_series=64, snapshots=8, seed=0)
HELD = dict(COMMON, n_series=8, snapshots=4, seed=1)

VAE_LIMIT = 128
# the denoisers were trained to 2000 steps, evaluated, then resumed to this many (stage denoiser_more)
DENOISER_RESUMED_TO = 4000
SHIP_SAMPLER = {"name": "ddim", "steps": 100, "eta": 1.0, "guidance": 1.0}  # stochastic DDIM: docs/models.md
# FP outputs: the data set's descriptors and the recipe (not its bookkeeping: seed, series, time)
FP_TARGETS = {
    "ch2": ["norm_STAT_e", "ABS_wf_D", "ABS_f_D", "DISS_wf10_D", "CT_f_e_conn", "CT_f_D_tort1",
            "CT_f_A_tort1", "phi", "chi", "log_time"],
    "ch3": ["vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D", "phi", "chi", "log_time"],
}
MODELS = {"ch2": ("ch2-default", 2), "ch3": ("ch3-default", 3)}
TRAIN_OVERRIDES: dict = {
    "seed": 0,
    # 4 channels at full resolution: the decoder's full-resolution layers dominate sampling time
    "vae": {"widths": [4, 8, 32, 64, 64], "latent_channels": 4},
    "vae_train": {"steps": 800, "batch": 4, "crop": [32, 32, 32], "lr": 3e-3},
    "fp_train": {"steps": 1000},
    "denoiser_train": {"steps": 2000, "batch": 32, "ema": 0.995},
    "checkpoint_every": 100,
}


def data_dir(kind: str, phases: int) -> Path:
    return RUNS / f"data_{kind}_{phases}phase"


def _configs():
    from generators.cahn_hilliard.dataset_builder import BuildConfig

    return {kind: {p: BuildConfig(phases=p, **spec) for p in (2, 3)} for kind, spec in
            (("train", TRAIN), ("held", HELD))}


def build_data(part: int = 0, parts: int = 1) -> None:
    """Simulate every series once and write the 2- and 3-phase shards (this process's share)."""
    import torch

    from generators.cahn_hilliard.dataset_builder import SHARD_FORMAT, _shard_samples, build_dataset
    from generators.cahn_hilliard.phases import phase_map
    from generators.cahn_hilliard.solver import fourier_upsample, initial_field, integrate
    from objectives.io import write_h5_samples

    jobs = []
    for kind, cfgs in _configs().items():
        c2 = cfgs[2]
        plan = c2.plan()
        for s in range(0, len(plan), c2.batch):
            jobs.append((kind, s // c2.batch, plan[s:s + c2.batch]))
    for j, (kind, shard, chunk) in enumerate(jobs):
        if j % parts != part:
            continue
        cfgs = _configs()[kind]
        name = SHARD_FORMAT.format(shard)
        if all((data_dir(kind, p) / name).exists() for p in (2, 3)):
            continue
        c2 = cfgs[2]
        params = c2.sim_params()
        c0 = initial_field([s.phi for s in chunk], c2.sim_shape(), [s.seed for s in chunk], params.noise,
                           dtype=getattr(torch, c2.dtype))
        chi = torch.tensor([s.chi for s in chunk], dtype=torch.float64)
        print(f"[data {part}/{parts}] {kind} shard {shard}: simulating {len(chunk)} series", flush=True)
        field = fourier_upsample(integrate(c0, chi, c2.times(), params), c2.upsample)
        for p in (2, 3):
            out = data_dir(kind, p)
            out.mkdir(parents=True, exist_ok=True)
            vols, attrs, names = _shard_samples(chunk, phase_map(field, p, chi=chi), cfgs[p], None)
            tmp = out / (name + ".tmp")
            write_h5_samples(tmp, vols, attrs, names, mode="w")
            os.replace(tmp, out / name)
            print(f"[data {part}/{parts}] wrote {out / name}", flush=True)
    # manifests: build_dataset finds complete shards and only records them (no simulation)
    for kind, cfgs in _configs().items():
        for p, cfg in cfgs.items():
            n = len(cfg.plan())
            have = len(list(data_dir(kind, p).glob("shard_*.h5")))
            if have * cfg.batch >= n:
                print(json.dumps(build_dataset(data_dir(kind, p), cfg, progress=False)))


def cli(*args: str, threads: int = 2) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "invdesign.cli.main", *args]
    print("$ invdesign " + " ".join(args), flush=True)
    return subprocess.run(cmd, check=True, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE)


def train(key: str, threads: int, stages: tuple[str, ...] = ("vae", "fp", "denoiser")) -> None:
    """The VAE on the first :data:`VAE_LIMIT` volumes (the first two shards: it trains on crops, and
    could start while the rest of the data was simulated), then the FP and the denoiser on all."""
    name, phases = MODELS[key]
    out = RUNS / name
    out.mkdir(parents=True, exist_ok=True)
    cfg = out.parent / f"{name}.train.json"
    cfg.write_text(json.dumps(dict(TRAIN_OVERRIDES, fp_targets=FP_TARGETS[key]), indent=1))
    for stage in stages:
        limit = ["--limit", str(VAE_LIMIT)] if stage == "vae" else []
        if stage == "denoiser_more":  # resumed: the cosine schedule restarts from its middle
            stage, limit = "denoiser", ["--steps", str(DENOISER_RESUMED_TO)]
        r = cli("train", stage, "--data", str(data_dir("train", phases)), "--out", str(out), "--preset", name,
                "--config", str(cfg), "--resume", "--quiet", *limit, threads=threads)
        print(r.stdout, flush=True)


def evaluate(key: str, threads: int, extra: list[str]) -> None:
    name, phases = MODELS[key]
    r = cli("evaluate", str(RUNS / name), "--data", str(data_dir("held", phases)), "--n-conditions", "16",
            "--n-samples", "2", "--n-diversity", "8", "--seed", "0", "--json", *extra, threads=threads)
    tag = "".join(f"_{a.lstrip('-')}" for a in extra)
    dest = ROOT / "benchmarks" / "results" / f"shipped_models_eval_{name}{tag}.json"
    dest.write_text(r.stdout)
    print(r.stdout)


def figure(key: str, threads: int) -> None:
    """docs/figures/<name>_samples.png: held-out volumes (top) beside samples at their conditions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    import generators
    from generators.diffusion.data import load_shards

    torch.set_num_threads(threads)
    name, phases = MODELS[key]
    gen = generators.load(RUNS / name)
    held = load_shards(data_dir("held", phases))
    table = held.table(list(gen.condition_names))
    order = np.argsort(table[:, 0])
    pick = order[np.linspace(0, len(order) - 1, 4).round().astype(int)]
    s = gen.sample(torch.as_tensor(table[pick], dtype=torch.float32), n=1, seed=0)
    cmap = matplotlib.colors.ListedColormap(["#1f4e9c", "#f2c12e", "#8c8c8c"][:phases])
    fig, ax = plt.subplots(4, 4, figsize=(11, 9.5))
    for j, i in enumerate(pick):
        for row, (vol, what) in enumerate(((held.volumes[i], "held-out CH"), (s.volumes[j], "generated"))):
            v = vol.numpy()
            ax[2 * row, j].imshow(v[:, :, 32].T, cmap=cmap, vmin=0, vmax=phases - 1, interpolation="nearest")
            ax[2 * row + 1, j].imshow(v[:, 64, :].T, cmap=cmap, vmin=0, vmax=phases - 1, interpolation="nearest",
                                      origin="lower")
            pairs = [f"{k}={x:.2f}" for k, x in zip(gen.condition_names, table[i])]
            ax[2 * row, j].set_title(f"{what}\n" + ", ".join(pairs[:2]) + "\n" + ", ".join(pairs[2:]),
                                     fontsize=6.5)
    for a in ax.flat:
        a.set_xticks([])
        a.set_yticks([])
    for r, lab in enumerate(("x-y (z=32)", "x-z (y=64)") * 2):
        ax[r, 0].set_ylabel(lab, fontsize=8)
    fig.suptitle(f"{name}: held-out Cahn-Hilliard volumes (rows 1-2) and samples at their conditions (rows 3-4)",
                 fontsize=9)
    fig.tight_layout()
    dest = ROOT / "docs" / "figures" / f"{name}_samples.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=110)
    print(f"wrote {dest}")


def ship(key: str) -> None:
    """Copy the model directory into the package (weights as float16), with the default sampler
    :data:`SHIP_SAMPLER` (chosen from the evaluations at 10 and 20 steps: see docs/models.md)."""
    from safetensors.torch import load_file, save_file

    name, _ = MODELS[key]
    src, dest = RUNS / name, ROOT / "generators" / "weights" / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("vae.safetensors", "fp.safetensors", "denoiser.safetensors"):
        # float16 on disk (loading casts back to the float32 parameters): halves the package
        weights = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(src / f)).items()}
        save_file(weights, str(dest / f))
    config = json.loads((src / "config.json").read_text())
    config["sampler"] = dict(config.get("sampler", {}), **SHIP_SAMPLER)
    # the data recipe, so that `invdesign verify` re-runs a predicted recipe with the same physics
    config["simulator"] = {"shape": list(COMMON["shape"]), "upsample": COMMON["upsample"],
                           "params": dict(COMMON["params"])}
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    print(f"shipped {src} -> {dest}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["data", "train", "evaluate", "figure", "ship"])
    ap.add_argument("model", nargs="?", choices=sorted(MODELS))
    ap.add_argument("--part", default="0/1", help="I/N: build the I-th of N interleaved shares of the shards")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stages", default="vae,fp,denoiser", help="train: which stages, in order")
    a, extra = ap.parse_known_args()
    if a.stage == "data":
        import torch

        torch.set_num_threads(a.threads)
        i, n = (int(x) for x in a.part.split("/"))
        build_data(i, n)
        return
    if a.model is None:
        ap.error(f"{a.stage} needs a model: ch2 or ch3")
    {"train": lambda: train(a.model, a.threads, tuple(a.stages.split(","))), "evaluate": lambda: evaluate(a.model, a.threads, extra),
     "figure": lambda: figure(a.model, a.threads), "ship": lambda: ship(a.model)}[a.stage]()


if __name__ == "__main__":
    main()
