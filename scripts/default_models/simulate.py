"""Stage 1 of the default-model build: Cahn-Hilliard series at the project's default physics.

Every series is one run of ``generators.cahn_hilliard.simulate`` with ``CHParams()`` (kappa 1,
mobility 1, grid spacing 1, the default adaptive dt) at 128x128x64, from ``phi`` plus the default
noise, saved as the donor-fraction fields of its snapshots (float32, one ``.npz`` per series,
written atomically: a file that exists is whole). Workers share the queue through claim files, so
any number of them (``--workers``) can run and a killed build resumes where it stopped.

    python -m scripts.default_models.simulate --out runs/v2/fields --workers 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

SHAPE = (128, 128, 64)
T_MIN, T_MAX, N_TIMES = 300.0, 10_000.0, 10
SHORT_T_MAX_INDEX = 6  # short series stop at TIMES[6] (about t = 3070)
PHI_RANGE, CHI_RANGE = (0.3, 0.7), (2.5, 4.0)
#: name: blocks of (plan seed, series, how many of them run to T_MAX (the rest stop early), phi range
#: [, chi range (default CHI_RANGE)]), numbered on within the set. The second build added series at
#: the phi edges (where the first build's held-out misses concentrated) and more over the whole
#: range; the third block pair covers the shallow-quench corners (phi edge and chi < 2.8), where the
#: minority phase's straight-path fraction is near percolation and varies most (held series 0);
#: the shipped models were trained on the first four blocks (64 series), before these two.
SHALLOW = (2.5, 2.8)
SETS = {
    "train": [(0, 40, 24, PHI_RANGE), (2, 8, 2, (0.3, 0.36)), (3, 8, 2, (0.64, 0.7)), (4, 8, 0, PHI_RANGE),
              (5, 6, 2, (0.3, 0.38), SHALLOW), (6, 6, 2, (0.62, 0.7), SHALLOW)],
    "held": [(1, 8, 4, PHI_RANGE)],
}


def times() -> list[float]:
    """Snapshot times: ``N_TIMES`` log-spaced from T_MIN to T_MAX."""
    a, b = math.log10(T_MIN), math.log10(T_MAX)
    return [round(10 ** (a + (b - a) * i / (N_TIMES - 1)), 3) for i in range(N_TIMES)]


def jobs() -> list[dict]:
    from generators.cahn_hilliard.plan import plan_series

    out = []
    for name, blocks in SETS.items():
        first = 0
        for seed, n, n_long, phi_range, *chi_range in blocks:
            for s in plan_series(n, phi_range, chi_range[0] if chi_range else CHI_RANGE, "lhs", seed):
                t = times() if s.index < n_long else times()[:SHORT_T_MAX_INDEX + 1]
                out.append(dict(set=name, index=first + s.index, phi=s.phi, chi=s.chi, seed=s.seed, times=t))
            first += n
    # held-out series early (evaluation needs them), then the rest; long ones first within a set
    out.sort(key=lambda j: (j["set"] != "held" or j["index"] >= 2, -len(j["times"])))
    return out


def path_of(out: Path, job: dict) -> Path:
    return out / job["set"] / f"series_{job['index']:03d}.npz"


def run_job(out: Path, job: dict) -> float:
    import torch

    from generators.cahn_hilliard.solver import simulate

    start = time.perf_counter()
    fields = simulate(job["phi"], job["chi"], job["times"], shape=SHAPE, seed=job["seed"])
    seconds = time.perf_counter() - start
    dest = path_of(out, job)
    tmp = dest.with_name(dest.stem + ".tmp.npz")
    np.savez(tmp, fields=fields.numpy().astype(np.float32), times=np.asarray(job["times"]),
             phi=job["phi"], chi=job["chi"], seed=job["seed"], seconds=seconds,
             torch_threads=torch.get_num_threads())
    os.replace(tmp, dest)
    return seconds


def worker(out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    for job in jobs():
        dest = path_of(out, job)
        claim = dest.with_suffix(".claim")
        if dest.exists():
            continue
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        seconds = run_job(out, job)
        claim.unlink()
        print(json.dumps({"done": str(dest), "seconds": round(seconds, 1),
                          "steps_to": job["times"][-1]}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/v2/fields")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    for name in SETS:
        (out / name).mkdir(parents=True, exist_ok=True)
        for stale in (out / name).glob("*.claim"):  # claims of a killed build
            stale.unlink()
    (out / "plan.json").write_text(json.dumps({"times": times(), "jobs": jobs()}, indent=1))
    pids = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            worker(out)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
