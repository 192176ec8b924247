"""A small stand-in label table for developing the recipe surrogate (not the real data set).

Simulates Cahn-Hilliard series at the project's default physics (``CHParams()``) on a small grid
(default 32x32x16, seconds per series), with the same kind of plan as the default-model build
(Latin hypercube over phi 0.3-0.7, chi 2.5-4.0; snapshots log-spaced t = 300..10000; some series
stop early), and writes one CSV row per (set, series, time) in the label-table format that
``generators.surrogate.read_table`` reads:

    set, series, phi, chi, seed, time, log_time, separated, <2-phase GraSPI names>, vol_frac_D,
    vol_frac_M, tortuosity_A, tortuosity_D

The two-phase descriptors are measured on ``phase_map(c, 2)``, the three-phase ones on
``phase_map(c, 3, chi=chi)``; ``separated`` is ``std(c) > 0.1`` (a stand-in rule).

    python -m scripts.recipe_standin_table --out tests/data/ch_labels_32.csv
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import torch

SETS = {"train": (0, 40, 24), "held": (1, 8, 4)}  # plan seed, series, how many run to t = 10000
T_MIN, T_MAX, N_TIMES, SHORT = 300.0, 10_000.0, 10, 6
THREE = ("vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D")


def times() -> list[float]:
    a, b = math.log10(T_MIN), math.log10(T_MAX)
    return [round(10 ** (a + (b - a) * i / (N_TIMES - 1)), 3) for i in range(N_TIMES)]


def label_rows(set_name: str, index: int, phi: float, chi: float, seed: int, ts: list[float],
               fields: torch.Tensor) -> list[dict]:
    """Rows of one series: ``fields`` ``(T, X, Y, Z)`` donor fractions at times ``ts``."""
    from generators.cahn_hilliard.phases import phase_map
    from objectives.descriptors import _three_phase, describe_batch
    from objectives.labels import as_label_tensor

    two = describe_batch(phase_map(fields, 2))
    lab3 = phase_map(fields, 3, chi=torch.full((fields.shape[0],), chi, dtype=torch.float64))
    three = _three_phase(as_label_tensor(lab3), (False, False))
    rows = []
    for i, t in enumerate(ts):
        row = dict(set=set_name, series=index, phi=phi, chi=chi, seed=seed, time=t,
                   log_time=math.log10(t), separated=bool(fields[i].std() > 0.1))
        row.update({k: float(v[i]) for k, v in two.items()})
        row.update({k: float(three[k][i]) for k in THREE})
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", type=int, nargs=3, default=(32, 32, 16))
    args = ap.parse_args()
    from generators.cahn_hilliard.plan import plan_series
    from generators.cahn_hilliard.solver import simulate

    torch.set_num_threads(1)
    rows = []
    for name, (plan_seed, n, n_long) in SETS.items():
        for s in plan_series(n, (0.3, 0.7), (2.5, 4.0), "lhs", plan_seed):
            ts = times() if s.index < n_long else times()[:SHORT + 1]
            fields = simulate(s.phi, s.chi, ts, shape=tuple(args.shape), seed=s.seed)
            rows += label_rows(name, s.index, s.phi, s.chi, s.seed, ts, fields)
            print(name, s.index, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
