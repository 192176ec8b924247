"""Rebuild the shipped models ``ch2-default`` and ``ch3-default`` from scratch, on 2 CPU cores.

Stages (each resumable; run in order; everything is seeded)::

    python scripts/build_default_models.py simulate                 # Cahn-Hilliard series (fields)
    python scripts/build_default_models.py label                    # phase maps, descriptors, shards
    python scripts/build_default_models.py train    ch2|ch3 [--stages vae,fp,denoiser] [--threads 1]
    python scripts/build_default_models.py evaluate ch2|ch3 [evaluate options, e.g. --fp-guidance 0.5]
    python scripts/build_default_models.py selflabel ch2|ch3 [--n N] [--seed S] [--source DIR]
                                                                    # sampled latents, decoded, described
    python scripts/build_default_models.py train    ch2|ch3 --stages fp,denoiser --selflabel
                                                                    # FP continued on them; re-export
    python scripts/build_default_models.py calibrate ch2|ch3 [--source DIR] [--labels-from DIR] [--fit-only]
                                                                    # condition calibration (pairs, fit)
    python scripts/build_default_models.py figure   ch2|ch3         # docs/figures/<name>_samples.png
    python scripts/build_default_models.py ship     ch2|ch3         # into generators/weights/<name>/

As run for the shipped weights: ``simulate`` (2 worker processes, 1 torch thread each), ``label``
beside it, then both models' ``train --threads 1`` side by side, ``evaluate``, ``figure``, ``ship``.
The second build added 24 training series (``simulate`` again: the new blocks of
``scripts/default_models/simulate.py``, one worker, 26 min), kept the VAEs, re-encoded every
volume, retrained the FPs and continued the first build's denoisers on all 64 series to the
``OVERRIDES`` step counts (``train --stages fp,denoiser`` on a copy of the first build's checkpoints;
the cosine learning rate restarts from the new total). The third build added 12 shallow-corner
series (the last two blocks, chi 2.5-2.8 at the phi edges), re-encoded again, retrained the FPs and
continued the second build's denoisers: ch3 8500 -> 11500 steps (shipped), ch2 9000 -> 12000 (not
shipped: it lost ``CT_f_D_tort1`` over all held-out rows; docs/models.md).

Data (``scripts/default_models/simulate.py``): the project's default physics, nothing else:
``generators.cahn_hilliard.simulate`` with ``CHParams()`` (kappa 1, mobility 1, grid spacing 1, the
default adaptive dt) at the full 128x128x64 resolution, phi 0.3-0.7 and chi 2.5-4.0 (Latin
hypercubes: 40 series over the range, then 8 at phi 0.30-0.36, 8 at 0.64-0.70 and 8 more over the
range), snapshots at 10 log-spaced times from t = 300 to 10,000 (series that stop at t ~ 3,100 are
cheaper and cover the middle of the range more densely). Held-out series: another
design seed and other noise seeds. Labels (``scripts/default_models/label.py``): the two- and
three-phase maps of every snapshot described by ``objectives.describe_batch``; unseparated
snapshots are flagged and left out of the shards.

Training: ``invdesign train vae|fp|denoiser --preset ch2-default|ch3-default`` (the periodic family,
``generators/diffusion/presets.py``): the VAE on whole periodic volumes under random symmetries; then
every volume and ``latent_copies - 1`` symmetry copies of it are encoded, decoded and described, and
the FP and the denoiser learn the descriptors of the decoded volumes (the VAE's bias drops out of
the conditioning); the recipe (phi, chi, log_time) stays the simulation's.

Fourth build (shipped, both models): the self-labelled FP. ``selflabel`` samples the model at its
training latents' conditions, decodes and describes every sample; ``train --stages fp,denoiser
--selflabel`` continues the FP to ``SELFLABEL[key]["fp_steps"]`` with those samples in half of
every batch (``fp_generated``; the denoiser stage, already complete, only re-exports). As run
(``runs/v6``): ch3 from the third build (1200 samples, the first 1000 trained on, drawn by the
module's prototype with another seed stream), ch2 from the first build (1000 samples, 840 trained
on; the FP continued on the first build's own 40-series latents). docs/models.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RUNS = ROOT / "runs" / "v2"
#: per model, chosen from the held-out evaluations (docs/models.md): descriptor guidance helps
#: ch2's tortuosities, and ch3's since the second build's FP generalises (held-out tortuosity R^2
#: 0.93-0.97)
SHIP_SAMPLER: dict = {"ch2": {"fp_guidance": 1.0}, "ch3": {"fp_guidance": 1.0}}
FP_TARGETS = {
    "ch2": ["norm_STAT_e", "ABS_wf_D", "ABS_f_D", "DISS_wf10_D", "CT_f_e_conn", "CT_f_D_tort1",
            "CT_f_A_tort1", "phi", "chi", "log_time"],
    "ch3": ["vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D", "phi", "chi", "log_time"],
}
MODELS = {"ch2": ("ch2-default", 2), "ch3": ("ch3-default", 3)}
#: per-model changes to the preset, as run: ch3's VAE resumed from 1000 to 1800 steps (the mixed
#: layer is harder to reconstruct). First build: ch3's denoiser 4000 steps beside ch2's 5000 (one
#: core each), then 1100 more on the 40 series. Second build (64 series, new FP): ch3 continued
#: to 8500 (shipped); ch2 to 9000 did not beat the first build's on all 68 held-out conditions, so
#: ch2-default ships the first build's 5000-step denoiser. Third build (76 series): ch3 continued to
#: 11500 (shipped), ch2 to 12000 (not shipped)
OVERRIDES = {"ch2": {}, "ch3": {"vae_train": {"steps": 1800}, "denoiser_train": {"steps": 11500}}}
#: fourth build: self-labelled samples (``selflabel --n --seed``) and the FP's new total steps
SELFLABEL = {"ch2": {"n": 1000, "seed": 11, "fp_steps": 2300}, "ch3": {"n": 1200, "seed": 1, "fp_steps": 2300}}
#: condition calibration (``calibrate``): samples of the shipped model (default sampler, raw
#: conditional) at balanced draws of its training labels, ``wide`` with a large Gaussian jitter on
#: the tortuosities (what the calibration must reach beyond the labels) and ``small`` near them;
#: seeds of (wide, small). As run: ``--labels-from runs/v5/<name>`` (the shipped builds' latents)
CALIBRATION = {
    "ch2": {"small": (400, [0.02, 0.03, 0.03]), "wide": (800, [0.03, 0.15, 0.15]), "seeds": (21, 22)},
    "ch3": {"small": (400, [0.02, 0.005, 0.03, 0.03]), "wide": (800, [0.03, 0.01, 0.15, 0.2]), "seeds": (21, 22)},
}
#: which models ship their calibration (docs/models.md): neither. ch3's held-out tortuosities
#: gain but its volume fractions lose, and its designs succeed less often; ch2's donor tortuosity loses
SHIP_CALIBRATION = {"ch2": False, "ch3": False}
#: the default physics, as a model's ``simulator`` block (recipe verification re-runs it)
SIMULATOR = {"shape": [128, 128, 64], "upsample": 1, "params": {}}


def shards(kind: str, phases: int) -> Path:
    return RUNS / "shards" / f"ch{phases}" / kind


def model_dir(key: str) -> Path:
    return RUNS / "models" / MODELS[key][0]


def run(args: list[str], threads: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    print("$ " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, *args], check=True, env=env, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE)


def train(key: str, threads: int, stages: tuple[str, ...], selflabelled: bool = False) -> None:
    name, phases = MODELS[key]
    out = model_dir(key)
    out.mkdir(parents=True, exist_ok=True)
    cfg = out.parent / f"{name}.train.json"
    over = dict(OVERRIDES[key])
    if selflabelled:
        sl = SELFLABEL[key]
        f = selflabel_file(key, sl["seed"])
        if not f.is_file():
            raise SystemExit(f"{f} is missing: run `selflabel {key} --n {sl['n']} --seed {sl['seed']}` first")
        over["fp_train"] = {"steps": sl["fp_steps"]}
        over["fp_generated"] = {"files": [str(f)], "fraction": 0.5}
    cfg.write_text(json.dumps({"fp_targets": FP_TARGETS[key], **over}, indent=1))
    for stage in stages:
        r = run(["-m", "invdesign.cli.main", "train", stage, "--data", str(shards("train", phases)),
                 "--out", str(out), "--preset", name, "--config", str(cfg), "--resume", "--quiet"], threads)
        print(r.stdout, flush=True)


def evaluate(key: str, threads: int, extra: list[str]) -> None:
    name, phases = MODELS[key]
    r = run(["-m", "invdesign.cli.main", "evaluate", str(model_dir(key)), "--data", str(shards("held", phases)),
             "--n-conditions", "16", "--n-samples", "2", "--n-diversity", "16", "--seed", "0", "--json",
             *extra], threads)
    tag = "".join(f"_{a.lstrip('-')}" for a in extra)
    dest = ROOT / "benchmarks" / "results" / f"models_eval_{name}{tag}.json"
    dest.write_text(r.stdout)
    print(r.stdout)


def training_labels(directory: Path, names) -> "np.ndarray":
    """``(n, d)`` decoded-volume labels ``names`` of a model directory's training latents
    (``checkpoints/latents.safetensors``): the conditions its denoiser learnt."""
    from safetensors import safe_open

    with safe_open(str(directory / "checkpoints" / "latents.safetensors"), "pt") as fh:
        decoded = json.loads(fh.metadata()["decoded_names"])
        labels = fh.get_tensor("decoded").numpy()
    return labels[:, [decoded.index(c) for c in names]]


def selflabel_file(key: str, seed: int) -> Path:
    return RUNS / "selflabel" / f"{MODELS[key][0]}_seed{seed}.safetensors"


def selflabel(key: str, threads: int, n: int, seed: int, source: str | None) -> None:
    """Sample the model (default: the model directory; ``source``: any model, e.g. the shipped
    one) at its training latents' conditions, decode and describe every sample
    (:mod:`generators.diffusion.selflabel`): the FP stage learns them with ``fp_generated``."""
    import torch

    import generators
    from generators.diffusion.selflabel import generate

    torch.set_num_threads(threads)
    gen = generators.load(source or model_dir(key))
    pool = training_labels(model_dir(key), gen.condition_names)
    out = selflabel_file(key, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    generate(gen, pool, out, n=n, seed=seed, log=lambda m: print(m, flush=True))
    print(f"wrote {out}")


def calibration_files(key: str) -> tuple[Path, Path]:
    """The committed calibration pairs (CSV) and the fitted calibration of a model."""
    d = ROOT / "artifacts" / "calibration"
    return d / f"{MODELS[key][0]}_pairs.csv", d / f"{MODELS[key][0]}_calibration.safetensors"


def calibrate(key: str, threads: int, source: str | None, labels_from: str | None, fit_only: bool) -> None:
    """Condition calibration (:mod:`generators.diffusion.calibration`): sample the model
    (``source``, default the shipped one) with the raw conditional at :data:`CALIBRATION`'s draws of
    its training labels (``labels_from``'s latents, default the model directory's), decode and
    describe each sample, write the (fed, measured) pairs as CSV, and fit the calibration on them.
    ``fit_only`` refits from the committed pairs."""
    import numpy as np
    import pandas as pd
    import torch
    from safetensors import safe_open

    import generators
    from generators.diffusion.calibration import ConditionCalibration
    from generators.diffusion.selflabel import generate
    from generators.diffusion.training import balance_weights

    torch.set_num_threads(threads)
    name = MODELS[key][0]
    pairs_csv, cal_file = calibration_files(key)
    pairs_csv.parent.mkdir(parents=True, exist_ok=True)
    gen = generators.load(source or name)
    names = list(gen.condition_names)
    if not fit_only:
        pool = training_labels(Path(labels_from) if labels_from else model_dir(key), names)
        weights = balance_weights((pool - pool.mean(0)) / pool.std(0), 1.0)
        frames = []
        for part, seed in zip(("wide", "small"), CALIBRATION[key]["seeds"]):
            n, jitter = CALIBRATION[key][part]
            tmp = RUNS / "calibration" / f"{name}_{part}.safetensors"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            d = generate(gen, pool, tmp, n=n, seed=seed, fp_guidance=(float(gen.config.sampler.get("fp_guidance", 0.0)),),
                         jitter=jitter, weights=weights, log=lambda m, part=part: print(part, m, flush=True))
            with safe_open(str(tmp), "pt") as fh:
                measured_names = fh.metadata()["names"].split(",")
            cols = [measured_names.index(c) for c in names]
            frame = pd.DataFrame(d["cond"].numpy(), columns=[f"fed_{c}" for c in names])
            for j, c in zip(cols, names):
                frame[f"measured_{c}"] = d["measured"][:, j].numpy()
            frame["set"] = part
            frames.append(frame)
        pd.concat(frames, ignore_index=True).to_csv(pairs_csv, index=False, float_format="%.6g")
        print(f"wrote {pairs_csv}")
    table = pd.read_csv(pairs_csv)
    cal, report = ConditionCalibration.fit(table[[f"fed_{c}" for c in names]].to_numpy(),
                                           table[[f"measured_{c}" for c in names]].to_numpy(), names)
    cal.save(cal_file)
    print(json.dumps(report, indent=1))
    print(f"wrote {cal_file}")


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
    gen = generators.load(name)  # the shipped model, with its shipped sampler
    held = load_shards(shards("held", phases))
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
    :data:`SHIP_SAMPLER` (chosen from the evaluations: see docs/models.md) and the default physics
    as its ``simulator`` block."""
    from safetensors.torch import load_file, save_file

    name, _ = MODELS[key]
    src, dest = model_dir(key), ROOT / "generators" / "weights" / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("vae.safetensors", "fp.safetensors", "denoiser.safetensors"):
        # float16 on disk (loading casts back to the float32 parameters): halves the package
        weights = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(src / f)).items()}
        save_file(weights, str(dest / f))
    config = json.loads((src / "config.json").read_text())
    config["sampler"] = dict(config.get("sampler", {}), **SHIP_SAMPLER[key])
    # the data recipe, so that `invdesign verify` re-runs a predicted recipe with the same physics
    config["simulator"] = dict(SIMULATOR)
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    # the recipe surrogate (recipe -> descriptor mean and seed spread), fitted on the label table
    # by `invdesign surrogate --table benchmarks/data/ch_default_labels.csv` (artifacts/surrogates/)
    surrogate = ROOT / "artifacts" / "surrogates" / f"{name}_surrogate.safetensors"
    if surrogate.is_file():
        from generators.surrogate import FILENAME

        shutil.copy(surrogate, dest / FILENAME)
    # the condition calibration (`calibrate`): sampling feeds the denoiser calibrated conditions
    calibration = calibration_files(key)[1]
    if SHIP_CALIBRATION[key] and calibration.is_file():
        from generators.diffusion.calibration import FILENAME as CALIBRATION_FILE

        shutil.copy(calibration, dest / CALIBRATION_FILE)
    print(f"shipped {src} -> {dest}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["simulate", "label", "train", "evaluate", "selflabel", "calibrate", "figure",
                                          "ship"])
    ap.add_argument("model", nargs="?", choices=sorted(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stages", default="vae,fp,denoiser", help="train: which stages, in order")
    ap.add_argument("--n", type=int, default=1000, help="selflabel: samples")
    ap.add_argument("--seed", type=int, default=1, help="selflabel: seed (and file name)")
    ap.add_argument("--source", help="selflabel: the model to sample (default: the model directory)")
    ap.add_argument("--selflabel", action="store_true", help="train: continue the FP on the selflabel samples")
    ap.add_argument("--labels-from", help="calibrate: model directory whose training latents' labels are drawn")
    ap.add_argument("--fit-only", action="store_true", help="calibrate: refit from the committed pairs")
    a, extra = ap.parse_known_args()
    if a.stage == "simulate":
        print(run(["-m", "scripts.default_models.simulate", "--out", str(RUNS / "fields"), "--workers", "2"], 1).stdout)
        return
    if a.stage == "label":
        print(run(["-m", "scripts.default_models.label", "--fields", str(RUNS / "fields"), "--out", str(RUNS),
                   "--wait"], 1).stdout)
        return
    if a.model is None:
        ap.error(f"{a.stage} needs a model: ch2 or ch3")
    {"train": lambda: train(a.model, a.threads, tuple(a.stages.split(",")), a.selflabel),
     "evaluate": lambda: evaluate(a.model, a.threads, extra),
     "selflabel": lambda: selflabel(a.model, a.threads, a.n, a.seed, a.source),
     "calibrate": lambda: calibrate(a.model, a.threads, a.source, a.labels_from, a.fit_only),
     "figure": lambda: figure(a.model, a.threads), "ship": lambda: ship(a.model)}[a.stage]()


if __name__ == "__main__":
    main()
