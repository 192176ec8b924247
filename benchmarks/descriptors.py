"""Time the full descriptor set on 128x128x64 two-phase volumes: torch engine vs NumPy/SciPy.

Morphologies: thresholded Gaussian-smoothed noise (sigma 2 and 4 voxels, donor fractions 0.35, 0.5,
0.65). CPU: one volume at a time (s/volume wall and CPU time, mean over the volumes after a warm-up), with
torch's default threads and with one thread (on a loaded 2-core machine the thread pool can be
slower than one thread; the CPU-time column is the load-independent number). CUDA (when
available): batches of 256 (volumes/s and peak memory from ``torch.cuda.max_memory_allocated``).
Prints a table and writes ``benchmarks/results/descriptors.json``.

Run: ``python -m benchmarks.descriptors [--cuda-batch 256] [--cpu-volumes 6] [--skip-numpy]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

import objectives
from benchmarks import graspi_numpy

SHAPE = (128, 128, 64)
RESULTS = Path(__file__).resolve().parent / "results" / "descriptors.json"


def morphologies(n: int, seed: int = 0) -> np.ndarray:
    """``n`` two-phase volumes: smoothed noise, sigma in {2, 4}, donor fraction in {.35, .5, .65}."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, *SHAPE), np.uint8)
    for i in range(n):
        sigma = (2.0, 4.0)[i % 2]
        frac = (0.35, 0.5, 0.65)[(i // 2) % 3]
        f = ndimage.gaussian_filter(rng.standard_normal(SHAPE).astype(np.float32), sigma)
        out[i] = f > np.quantile(f, frac)
    return out


def _cpu_time(fn, vols) -> dict:
    fn(vols[0])  # warm-up
    wall, cpu = [], []
    for v in vols:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(v)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"s_per_volume": float(np.mean(wall)), "s_per_volume_min": float(np.min(wall)),
            "cpu_s_per_volume": float(np.mean(cpu))}


def bench_cuda(batch: int, repeats: int = 3) -> dict:
    vols = torch.from_numpy(morphologies(batch, seed=1)).cuda()
    objectives.describe_batch(vols[:8])
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        objectives.describe_batch(vols)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() - base
    best = min(times)
    return {"device": torch.cuda.get_device_name(), "batch": batch, "s_per_batch": best,
            "volumes_per_s": batch / best, "peak_mem_gb": peak / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-volumes", type=int, default=6)
    ap.add_argument("--cuda-batch", type=int, default=256)
    ap.add_argument("--skip-numpy", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    vols = morphologies(args.cpu_volumes)
    res: dict = {
        "shape": list(SHAPE), "devices": ["cpu"] + ([torch.cuda.get_device_name()] if torch.cuda.is_available() else []),
        "cpu": platform.processor() or platform.machine(),
        "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "load_avg_1min": os.getloadavg()[0],
    }
    res["torch_cpu"] = _cpu_time(lambda v: objectives.describe(v), vols)
    if torch.get_num_threads() != 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        res["torch_cpu_1thread"] = _cpu_time(lambda v: objectives.describe(v), vols)
        torch.set_num_threads(threads)
    if not args.skip_numpy:
        res["numpy_cpu"] = _cpu_time(lambda v: graspi_numpy.describe(v), vols)
    if torch.cuda.is_available():
        res["torch_cuda"] = bench_cuda(args.cuda_batch)
    else:
        res["torch_cuda"] = None
    print(f"descriptors on {SHAPE}, CPU {res['cpu_cores']} cores, torch threads {res['torch_threads']}, "
          f"load {res['load_avg_1min']:.1f}")
    print(f"{'engine':<18}{'device':<22}{'s/volume':>10}{'cpu s/vol':>11}{'vol/s':>10}{'peak GB':>9}")
    for key in ("torch_cpu", "torch_cpu_1thread", "numpy_cpu"):
        if key in res:
            r = res[key]
            print(f"{key:<18}{'cpu':<22}{r['s_per_volume']:>10.3f}{r['cpu_s_per_volume']:>11.3f}"
                  f"{1 / r['s_per_volume']:>10.1f}{'':>9}")
    if res["torch_cuda"]:
        r = res["torch_cuda"]
        print(f"{'torch_cuda':<18}{r['device'][:21]:<22}{r['s_per_batch'] / r['batch']:>10.5f}{'':>11}"
              f"{r['volumes_per_s']:>10.1f}{r['peak_mem_gb']:>9.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
