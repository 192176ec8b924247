"""Time the full descriptor set on 128x128x64 two-phase volumes: torch engine vs NumPy/SciPy.

Morphologies: thresholded Gaussian-smoothed noise (sigma 2 and 4 voxels, donor fractions 0.35, 0.5,
0.65). CPU, in the same run:

- one volume at a time (s/volume wall and CPU time, mean over the volumes after a warm-up): the
  engine's default policy, then 1 and 2 torch intra-op threads forced (``--intra-op-2``: slow on a
  loaded machine), 1 thread also split per part (components, DISS interface distance, tortuosity
  sweep, rest = full minus those);
- the straightforward NumPy/SciPy implementation (``benchmarks/graspi_numpy.py``), and the ratio
  of its CPU time per volume to the engine's (one thread each);
- a batch as the design loop measures a trial's samples (all volumes in one ``describe_batch``):
  in chunks of 8 volumes (the engine's chunk before) and of one volume (now), on 1 worker and on
  2 workers side by side (``objectives.descriptors.CPU_WORKERS``).

On a loaded shared machine wall time depends on the load (noted before and after); CPU time
(``time.process_time``) is the steadier number. CUDA (when available): batches of 256 (volumes/s and
peak memory from ``torch.cuda.max_memory_allocated``). Prints a table and writes
``benchmarks/results/descriptors.json``.

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
from objectives import descriptors as engine
from objectives.components import label_components
from objectives.dissociation import interface_distance
from objectives.tortuosity import straight_path_counts

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
            "s_per_volume_median": float(np.median(wall)),
            "cpu_s_per_volume": float(np.mean(cpu)), "cpu_s_per_volume_median": float(np.median(cpu))}


def _parts(vols: np.ndarray) -> dict:
    """Per-part CPU and wall time per volume (mean) at the current torch thread count."""
    tv = torch.from_numpy(vols)
    wrap = (False, False)
    parts = {
        "components": lambda v: label_components(v, wrap, phases=(0, 1)),
        "diss": lambda v: interface_distance(v == 0, v == 1, wrap),
        "tortuosity": lambda v: straight_path_counts(torch.cat([v == 0, (v == 1).flip(3)]), wrap),
        "full": lambda v: objectives.describe_batch(v),
    }
    out = {}
    for name, fn in parts.items():
        out[name] = _cpu_time(lambda i: fn(tv[i:i + 1]), list(range(len(vols))))
    # medians: on a loaded machine a mean difference can even come out negative
    out["rest"] = {k: out["full"][k + "_median"] - out["components"][k + "_median"]
                   - out["diss"][k + "_median"] - out["tortuosity"][k + "_median"]
                   for k in ("s_per_volume", "cpu_s_per_volume")}
    return out


def _forced_threads(n: int, vols: np.ndarray) -> tuple[dict, dict]:
    """(describe timing, per-part timings) with exactly ``n`` torch threads (policy disabled)."""
    saved, policy = torch.get_num_threads(), engine.CPU_THREADS
    torch.set_num_threads(n)
    engine.CPU_THREADS = None
    try:
        return _cpu_time(lambda v: objectives.describe(v), vols), _parts(vols)
    finally:
        engine.CPU_THREADS = policy
        torch.set_num_threads(saved)


def _batch(vols: np.ndarray, workers: int, chunk_voxels: int) -> dict:
    """One ``describe_batch`` of every volume (a trial's samples): wall and CPU time per volume."""
    saved = engine.CPU_WORKERS, engine.CHUNK_VOXELS
    engine.CPU_WORKERS, engine.CHUNK_VOXELS = workers, chunk_voxels
    tv = torch.from_numpy(vols)
    try:
        objectives.describe_batch(tv[:2])  # warm-up (and the workers' pool)
        t0, c0 = time.perf_counter(), time.process_time()
        objectives.describe_batch(tv)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        engine.CPU_WORKERS, engine.CHUNK_VOXELS = saved
    return {"workers": workers, "volumes_per_chunk": max(1, chunk_voxels // int(np.prod(SHAPE))),
            "s_per_volume": wall / len(vols), "cpu_s_per_volume": cpu / len(vols),
            "volumes_per_s": len(vols) / wall}


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
    ap.add_argument("--intra-op-2", action="store_true", help="also time 2 intra-op threads per volume")
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
    res["engine_cpu_threads_policy"] = engine.CPU_THREADS
    res["torch_cpu"] = _cpu_time(lambda v: objectives.describe(v), vols)
    res["torch_cpu_1thread"], res["parts_1thread"] = _forced_threads(1, vols)
    if args.intra_op_2:
        res["torch_cpu_2threads"], res["parts_2threads"] = _forced_threads(2, vols)
    if not args.skip_numpy:
        res["numpy_cpu"] = _cpu_time(lambda v: graspi_numpy.describe(v), vols)
        res["speedup_vs_numpy_cpu_time"] = (res["numpy_cpu"]["cpu_s_per_volume_median"]
                                            / res["torch_cpu_1thread"]["cpu_s_per_volume_median"])
    batch = np.concatenate([vols, morphologies(max(0, 8 - len(vols)), seed=2)])[:max(8, len(vols))]
    res["batch"] = {
        "volumes": len(batch),
        "chunks_of_8_1worker": _batch(batch, 1, 8 * int(np.prod(SHAPE))),
        "chunks_of_1_1worker": _batch(batch, 1, int(np.prod(SHAPE))),
        "chunks_of_1_2workers": _batch(batch, 2, int(np.prod(SHAPE))),
    }
    res["goal"] = {"s_per_volume_2cores": 0.15, "speedup_vs_numpy": 5.0,
                   "note": "wall times depend on the load recorded here; CPU times on the cache share"}
    if torch.cuda.is_available():
        res["torch_cuda"] = bench_cuda(args.cuda_batch)
    else:
        res["torch_cuda"] = None
    res["load_avg_1min_after"] = os.getloadavg()[0]
    print(f"descriptors on {SHAPE}, CPU {res['cpu_cores']} cores, torch threads {res['torch_threads']}, "
          f"engine policy {res['engine_cpu_threads_policy']} thread(s), "
          f"load {res['load_avg_1min']:.1f} -> {res['load_avg_1min_after']:.1f}")
    print("per part, 1 thread, median over volumes (rest = full - the others)")
    print(f"{'part':<14}{'cpu s':>10}{'wall s':>10}")
    for part in ("components", "diss", "tortuosity", "rest", "full"):
        a = res["parts_1thread"][part]
        sfx = "" if part == "rest" else "_median"
        print(f"{part:<14}{a['cpu_s_per_volume' + sfx]:>10.4f}{a['s_per_volume' + sfx]:>10.4f}")
    print(f"{'engine':<18}{'device':<22}{'s/volume':>10}{'cpu s/vol':>11}{'vol/s':>10}{'peak GB':>9}")
    for key in ("torch_cpu", "torch_cpu_1thread", "torch_cpu_2threads", "numpy_cpu"):
        if key in res:
            r = res[key]
            print(f"{key:<18}{'cpu':<22}{r['s_per_volume']:>10.3f}{r['cpu_s_per_volume']:>11.3f}"
                  f"{1 / r['s_per_volume']:>10.1f}{'':>9}")
    if "speedup_vs_numpy_cpu_time" in res:
        print(f"engine vs NumPy/SciPy, CPU time per volume, 1 thread each: {res['speedup_vs_numpy_cpu_time']:.2f}x")
    print(f"batch of {res['batch']['volumes']} (one describe_batch, as the loop measures a trial):")
    for key, r in res["batch"].items():
        if isinstance(r, dict):
            print(f"  {key:<22}{r['s_per_volume']:>8.3f} s/vol wall {r['cpu_s_per_volume']:>8.3f} s/vol cpu "
                  f"{r['volumes_per_s']:>7.2f} vol/s")
    if res["torch_cuda"]:
        r = res["torch_cuda"]
        print(f"{'torch_cuda':<18}{r['device'][:21]:<22}{r['s_per_batch'] / r['batch']:>10.5f}{'':>11}"
              f"{r['volumes_per_s']:>10.1f}{r['peak_mem_gb']:>9.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
