"""Time the published MicroGen3D architecture: one denoiser evaluation, the ancestral loop, VAE decode.

Weights are freshly initialised (timings do not depend on the values), so no weight files are needed.
The 998-step loop is extrapolated from ``--steps`` timed steps. Prints a table and writes
``benchmarks/results/mg3d_speed_<pack>_<device>.json``.

    python benchmarks/mg3d_speed.py --pack ch_2phase --device cuda --batch 1 32 128
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from generators.microgen3d import PACKS, build_modules
from generators.microgen3d.sampling import ancestral_sample


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", default="ch_2phase", choices=sorted(PACKS))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--steps", type=int, default=3, help="timed steps of the ancestral loop")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    device = torch.device(args.device)
    cfg = PACKS[args.pack]
    torch.manual_seed(0)
    vae, fp, den = (m.to(device).eval() for m in build_modules(cfg))
    rows = []
    with torch.no_grad():
        for b in args.batch:
            x = torch.randn(b, *cfg.latent_shape, device=device)
            ctx = torch.rand(b, len(cfg.condition_names), device=device)
            t_eval = _time(lambda: den(x, 0.5, ctx), device, args.repeats)
            sched = den.schedule()
            first = min(args.steps, cfg.T - 2)
            t_loop = _time(lambda: ancestral_sample(den, x, sched, ctx, first_step=first), device, 1)
            per_step = t_loop / first
            t_dec = _time(lambda: vae.decode(x), device, 1)
            rows.append(
                {
                    "batch": b,
                    "denoiser_eval_s": t_eval,
                    "loop_998_s_extrapolated": per_step * (cfg.T - 2),
                    "per_sample_s": (per_step * (cfg.T - 2) + t_dec) / b,
                    "vae_decode_s": t_dec,
                }
            )
    print(f"pack {args.pack}, device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'})")
    print(f"{'batch':>5} {'eval ms':>9} {'998 steps s':>12} {'decode ms':>10} {'s/sample':>9}")
    for r in rows:
        print(
            f"{r['batch']:>5} {1e3 * r['denoiser_eval_s']:>9.1f} {r['loop_998_s_extrapolated']:>12.2f} "
            f"{1e3 * r['vae_decode_s']:>10.1f} {r['per_sample_s']:>9.3f}"
        )
    out = Path(__file__).resolve().parent / "results" / f"mg3d_speed_{args.pack}_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"pack": args.pack, "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
