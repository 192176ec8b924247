"""A short design beside another torch job: the automatic thread count vs all cores.

Runs ``invdesign design`` (``ch2-default``, direct conditioning, 3 trials of 2 samples, no
screening: sampling and measuring only) as a subprocess, alone and beside a competing process that
multiplies matrices with torch's default threads, once with ``--threads auto`` (the free cores,
:mod:`invdesign.threads`) and once with every core forced (what torch does by default). Records
the wall seconds and the load, prints a table and writes ``benchmarks/results/threads.json``.

Run: ``python -m benchmarks.threads [--repeats 2] [--model ch2-default]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "threads.json"
COMPETITOR = "import torch\na = torch.randn(1500, 1500)\nwhile True:\n    a @ a\n"


def one_design(model: str, threads: str) -> float:
    """Wall seconds of one short design in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "invdesign.cli.main", "design", "--model", model,
               "-t", "ABS_f_D=0.47", "-t", "CT_f_D_tort1=0.51", "-t", "CT_f_A_tort1=0.57",
               "--tolerance", "0.02", "--budget", "3", "--samples", "2", "--method", "direct",
               "--screen", "1", "--threads", threads, "--out", tmp, "--json"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("OMP_NUM_THREADS", None)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ch2-default")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = []
    for beside in (False, True):
        competitor = None
        if beside:
            env = dict(os.environ)
            env.pop("OMP_NUM_THREADS", None)  # torch's default threads, as a user's job would
            competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR], env=env)
            time.sleep(3)
        try:
            for _ in range(args.repeats):
                for threads in ("auto", str(cores)):
                    load = os.getloadavg()[0]
                    wall = one_design(args.model, threads)
                    rows.append({"beside_torch_job": beside, "threads": threads, "wall_s": wall,
                                 "load_avg_1min": load})
                    print(f"beside={beside!s:5s} threads={threads:4s} {wall:7.1f} s (load {load:.1f})",
                          flush=True)
        finally:
            if competitor is not None:
                competitor.kill()
                competitor.wait()

    def best(beside, threads):
        return min(r["wall_s"] for r in rows if r["beside_torch_job"] == beside and r["threads"] == threads)

    summary = {t: {"alone_s": best(False, t), "beside_s": best(True, t),
                   "slowdown": best(True, t) / best(False, t)} for t in ("auto", str(cores))}
    for t, s in summary.items():
        print(f"threads={t:4s} alone {s['alone_s']:.1f} s, beside a torch job {s['beside_s']:.1f} s: "
              f"{s['slowdown']:.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"model": args.model, "cores": cores, "summary": summary, "rows": rows,
                                   "note": "the machine's own load is recorded per row"}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
