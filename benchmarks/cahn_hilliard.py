"""Cahn-Hilliard simulator benchmark: speed per volume-step, coarsening exponent, data-set cost.

Run ``python benchmarks/cahn_hilliard.py [--quick]`` from the repository root. Prints a table and
writes ``benchmarks/results/cahn_hilliard.json``.

- ``ms_per_volume_step``: wall time of one semi-implicit step divided by the batch size, at
  128x128x64 in float32 (CPU with the machine's threads, batch 1 and 4; CUDA batch 16 when a GPU is
  present; goal on an H100: 0.06 ms).
- ``coarsening_exponent``: slope of log L(t) (L = 2 pi / <k> from the structure factor) over the
  late times of phi = 0.5, chi = 3 runs (3-D and 2-D); bulk-diffusion coarsening predicts 1/3.
- ``dataset_1000``: estimated time to build 1,000 labelled volumes at 128x128x64 with the default
  schedule (8 snapshots per run up to t = 10,000, runs in batches), simulation plus descriptors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from generators.cahn_hilliard import (  # noqa: E402
    CHParams,
    characteristic_length,
    coarsening_exponent,
    default_times,
    initial_field,
    integrate,
    simulate,
)

SHAPE = (128, 128, 64)
RESULTS = Path(__file__).resolve().parent / "results" / "cahn_hilliard.json"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(batch: int, device: torch.device, steps: int, dtype=torch.float32) -> float:
    """Milliseconds per volume-step at SHAPE (fixed dt = 1 so every step is a full step)."""
    c0 = initial_field([0.5] * batch, SHAPE, list(range(batch)), 0.01, device=device, dtype=dtype)
    p = CHParams(dt=1.0)
    integrate(c0, 3.0, [2.0], p)  # warm-up (plans, allocations)
    sync(device)
    start = time.perf_counter()
    integrate(c0, 3.0, [float(steps)], p)
    sync(device)
    return (time.perf_counter() - start) * 1e3 / (steps * batch)


def schedule_steps(times: list[float], params: CHParams) -> int:
    """Number of steps the adaptive schedule takes to reach every snapshot time."""
    t, n = 0.0, 0
    for target in times:
        while t < target:
            t = min(target, t + params.step_size(t))
            n += 1
    return n


def coarsening(shape, times, seeds, device) -> dict:
    s = simulate([0.5] * len(seeds), 3.0, times, shape=shape, seed=seeds, device=device,
                 params=CHParams(dt_max=2.0))
    lengths = characteristic_length(s.flatten(0, 1)).reshape(len(seeds), -1).mean(0).tolist()
    late = len(times) // 2
    return {"shape": list(shape), "times": times, "lengths": lengths,
            "exponent_late": coarsening_exponent(times[late:], lengths[late:]),
            "exponent_all": coarsening_exponent(times, lengths)}


def describe_seconds(device: torch.device) -> float | None:
    try:
        from objectives import describe_batch
    except ImportError:
        return None
    from generators.cahn_hilliard import phase_map

    c = simulate(0.5, 3.0, [20.0], shape=SHAPE, seed=0, device=device)
    v = phase_map(c).repeat(4, 1, 1, 1)  # c is (1, X, Y, Z): one snapshot
    describe_batch(v[:1])
    sync(device)
    start = time.perf_counter()
    describe_batch(v)
    sync(device)
    return (time.perf_counter() - start) / 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and smaller coarsening runs")
    args = ap.parse_args()
    steps = 5 if args.quick else 20
    rows, result = [], {"machine": platform.machine(), "torch": torch.__version__,
                        "cpu_threads": torch.get_num_threads(), "shape": list(SHAPE)}
    cpu = torch.device("cpu")
    timing = {}
    threads = torch.get_num_threads()
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)  # on a busy machine one thread can beat several
        for b in (1, 4):
            key = f"cpu_{n_threads}thread_batch{b}"
            timing[key] = time_steps(b, cpu, steps)
            rows.append((f"CPU {n_threads} thread(s) batch {b}, ms / volume-step", timing[key]))
    torch.set_num_threads(threads)
    best_cpu = min(v for k, v in timing.items() if k.startswith("cpu_"))
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        timing["cuda_batch16"] = time_steps(16, gpu, 200)
        timing["cuda_batch16_float64"] = time_steps(16, gpu, 100, torch.float64)
        timing["cuda_name"] = torch.cuda.get_device_name(0)
        rows.append(("CUDA batch 16, ms / volume-step", timing["cuda_batch16"]))
    else:
        timing["cuda_batch16"] = None
    result["ms_per_volume_step"] = timing

    dev = torch.device("cuda") if torch.cuda.is_available() else cpu
    times3 = default_times(8, 50.0, 1000.0 if args.quick else 3000.0)
    c3 = coarsening((48, 48, 48) if args.quick else (64, 64, 64), times3, [1, 2], dev)
    times2 = default_times(8, 50.0, 2000.0 if args.quick else 5000.0)
    c2 = coarsening((256, 256), times2, [1, 2], dev)
    result["coarsening"] = {"3d": c3, "2d": c2}
    rows.append((f"coarsening exponent 3-D {tuple(c3['shape'])}, late", c3["exponent_late"]))
    rows.append((f"coarsening exponent 2-D {tuple(c2['shape'])}, late", c2["exponent_late"]))

    params = CHParams()
    times = default_times(8, 10.0, 10_000.0)
    n_steps = schedule_steps(times, params)
    desc_s = describe_seconds(dev)
    per_step = timing["cuda_batch16"] if timing["cuda_batch16"] else best_cpu
    runs = math.ceil(1000 / len(times))
    sim_h = runs * n_steps * per_step / 1e3 / 3600
    desc_h = None if desc_s is None else 1000 * desc_s / 3600
    result["dataset_1000"] = {
        "device": dev.type, "snapshots_per_run": len(times), "runs": runs,
        "steps_per_run": n_steps, "simulation_hours": sim_h, "describe_seconds_per_volume": desc_s,
        "describe_hours": desc_h, "total_hours": None if desc_h is None else sim_h + desc_h,
    }
    rows.append((f"steps per run to t = 10,000 (default schedule)", n_steps))
    rows.append((f"1,000-volume data set on {dev.type}: simulation hours", sim_h))
    if desc_h is not None:
        rows.append((f"1,000-volume data set on {dev.type}: descriptor hours", desc_h))

    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:10.4g}")
    result["load_average_1min"] = os.getloadavg()[0]  # CPU timings mean little on a busy machine
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
