"""Time per generated sample (denoise + decode) for each sampler, step count and batch size.

Architectures (random weights):
  --family paper    the MicroGen3D ch_2phase modules from ``generators.microgen3d`` (when present)
  --family compact  the project's ``ch2-default`` preset at 128x128x64

On CUDA the denoiser runs under bf16 autocast (the sampler updates stay float32); ``--compile``
wraps the denoiser in ``torch.compile``. Prints a table and writes JSON to benchmarks/results/.

    python benchmarks/sampling.py --device cuda --batch 32 256 --steps 10 20 50
    python benchmarks/sampling.py --device cpu --batch 1 2 --steps 10 --no-ancestral
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import sys

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from generators.diffusion import CompactLatentModel, LatentDiffusionGenerator, ModelConfig, Stats  # noqa: E402
from generators.diffusion.presets import TWO_PHASE_CONDITIONS, get_preset  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


def compact_model() -> CompactLatentModel:
    p = get_preset("ch2-default")
    d = len(TWO_PHASE_CONDITIONS)
    cfg = ModelConfig(family="compact", phases=2, shape=[128, 128, 64], latent_shape=[4, 8, 8, 4],
                      architecture={"vae": p["vae"], "fp": p["fp"], "denoiser": p["denoiser"]},
                      conditions=Stats(TWO_PHASE_CONDITIONS, [0.0] * d, [1.0] * d, [0.5] * d, [0.2] * d),
                      fp_outputs=Stats(["phi", "chi", "log_time"], [0.0] * 3, [1.0] * 3, [0.5] * 3, [0.2] * 3))
    return CompactLatentModel(cfg)


def paper_model():
    """The paper's ch_2phase modules with random weights, wrapped for the samplers."""
    try:
        from generators import microgen3d
    except ImportError:
        raise SystemExit("generators.microgen3d is not available; use --family compact") from None
    return microgen3d.MicroGen3D(*microgen3d.build_modules("ch_2phase"), microgen3d.PACKS["ch_2phase"]).model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_one(gen: LatentDiffusionGenerator, sampler: str, steps: int, batch: int, repeats: int) -> dict:
    cond = gen.bounds.mean(0, keepdim=True).float()
    kw = {"sampler": sampler, "steps": steps}
    gen.sample(cond, n=batch, seed=0, batch_size=batch, **kw)  # warm-up (compile, cudnn autotune)
    t_den, t_dec = [], []
    for r in range(repeats):
        sync(gen.device)
        t0 = time.perf_counter()
        z, _ = gen.sample_latents(cond, n=batch, seed=r, batch_size=batch, **kw)
        sync(gen.device)
        t1 = time.perf_counter()
        gen.decode(z, chunk=min(batch, 64))
        sync(gen.device)
        t_den.append(t1 - t0)
        t_dec.append(time.perf_counter() - t1)
    den, dec = min(t_den), min(t_dec)
    return {"sampler": sampler, "steps": steps, "batch": batch, "denoise_s": den, "decode_s": dec,
            "ms_per_sample": 1000 * (den + dec) / batch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=["paper", "compact"], default="paper")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50])
    ap.add_argument("--samplers", nargs="+", default=["dpmpp2m", "ddim"])
    ap.add_argument("--no-ancestral", action="store_true", help="skip the 998-step published loop")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="torch.compile the denoiser (CUDA)")
    args = ap.parse_args()
    device = torch.device(args.device)
    batches = args.batch or ([32, 256] if device.type == "cuda" else [1, 4])
    model = paper_model() if args.family == "paper" else compact_model()
    model = model.to(device)
    if args.compile:
        model.denoiser = torch.compile(model.denoiser, mode="max-autotune-no-cudagraphs")
    gen = LatentDiffusionGenerator(model, device)
    rows = []
    for b in batches:
        if not args.no_ancestral:
            rows.append(time_one(gen, "ancestral", 998, b, 1))
            print(rows[-1], flush=True)
        for s in args.samplers:
            for st in args.steps:
                rows.append(time_one(gen, s, st, b, args.repeats))
                print(rows[-1], flush=True)
    print(f"\n{'sampler':<10}{'steps':>6}{'batch':>7}{'denoise s':>11}{'decode s':>10}{'ms/sample':>11}")
    for r in rows:
        print(f"{r['sampler']:<10}{r['steps']:>6}{r['batch']:>7}{r['denoise_s']:>11.3f}{r['decode_s']:>10.3f}"
              f"{r['ms_per_sample']:>11.2f}")
    OUT.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    f = OUT / f"sampling_{args.family}_{device.type}.json"
    f.write_text(json.dumps({"family": args.family, "device": name, "torch": torch.__version__,
                             "threads": torch.get_num_threads(), "compile": args.compile, "rows": rows}, indent=2))
    print(f"saved {f}")


if __name__ == "__main__":
    main()
