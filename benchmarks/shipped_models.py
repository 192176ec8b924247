"""Speed of the shipped models: seconds per 128x128x64 sample with the default sampler.

Times ``generators.load(name).sample(target, n=batch)`` (denoising and decoding separately, per
sample), the target the middle of the training range, after one warm-up, for 1 and 2 torch threads.
Prints a table and writes ``benchmarks/results/shipped_models.json``.

    python benchmarks/shipped_models.py [--repeats 3] [--threads 1 2] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import generators  # noqa: E402

NAMES = ("ch2-default", "ch3-default")


def time_model(name: str, repeats: int, sampler: str | None = None, batch: int = 1) -> dict:
    gen = generators.load(name)
    target = gen.bounds.mean(0, keepdim=True).float()
    gen.sample(target, n=1, seed=0, steps=2)  # warm-up
    den, dec = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        z, _ = gen.sample_latents(target, n=batch, seed=r, sampler=sampler)
        t1 = time.perf_counter()
        gen.decode(z)
        gen.predict(z)
        t2 = time.perf_counter()
        den.append((t1 - t0) / batch)
        dec.append((t2 - t1) / batch)
    total = [a + b for a, b in zip(den, dec)]
    used = {"name": "ancestral", "steps": 998} if sampler == "ancestral" else gen.config.sampler
    return {"model": name, "sampler": used, "batch": batch, "denoise_s": min(den), "decode_s": min(dec),
            "s_per_sample_min": min(total), "s_per_sample_mean": sum(total) / len(total)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ancestral", action="store_true", help="also time the 998-step ancestral sampler once")
    ap.add_argument("--batch", type=int, default=8, help="samples per call (times are per sample)")
    a = ap.parse_args()
    rows = []
    for threads in a.threads:
        torch.set_num_threads(threads)
        for name in NAMES:
            rows.append({"threads": threads, **time_model(name, a.repeats, batch=a.batch)})
            if a.ancestral:
                rows.append({"threads": threads, **time_model(name, 1, "ancestral")})
    print(f"{'model':<12} {'thr':>3} {'sampler':<16} {'denoise s':>9} {'decode s':>9} {'s/sample':>9}")
    for r in rows:
        s = f"{r['sampler'].get('name')}/{r['sampler'].get('steps')}"
        print(f"{r['model']:<12} {r['threads']:>3} {s:<16} {r['denoise_s']:>9.3f} {r['decode_s']:>9.3f} "
              f"{r['s_per_sample_min']:>9.3f}")
    out = {"device": "cpu", "cpu_count": os.cpu_count(), "machine": platform.machine(), "torch": torch.__version__,
           "load_avg_1min": os.getloadavg()[0], "shape": [128, 128, 64], "rows": rows}
    dest = ROOT / "benchmarks" / "results" / "shipped_models.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
