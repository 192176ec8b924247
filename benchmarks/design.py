"""Benchmark the design methods: composite BO vs direct conditioning, random search, Optuna TPE
and Optuna GP, on the same targets, budget and seeds.

For each target and seed every method runs a fresh study; we record success (some volume meets
every target within tolerance), the number of trials to the first success, the best distance (in
tolerance units) and the wall time. Prints a table and saves JSON to
``benchmarks/results/design[_<model>].json``.

Usage::

    python benchmarks/design.py                       # the fast biased fake generator (CPU)
    python benchmarks/design.py --model ch2-default --device cuda --budget 30
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from invdesign import design  # noqa: E402
from invdesign.loop.measure import measurable_names  # noqa: E402

METHODS = ("bo", "direct", "random", "tpe", "gp")


def make_targets(generator, names, n: int, seed: int) -> list[dict[str, float]]:
    """``n`` target points: scrambled Sobol over the central half of the targeted conditions'
    bounds (targets named like conditions, so direct conditioning is defined)."""
    idx = [generator.condition_names.index(k) for k in names]
    b = torch.as_tensor(generator.bounds, dtype=torch.float64)[:, idx]
    lo, hi = b[0] + 0.25 * (b[1] - b[0]), b[0] + 0.75 * (b[1] - b[0])
    x = lo + (hi - lo) * torch.quasirandom.SobolEngine(len(idx), scramble=True, seed=seed).draw(n, dtype=torch.float64)
    return [{k: round(float(v), 4) for k, v in zip(names, row)} for row in x]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fake", help="'fake' (tests/design_fakes.py) or a model name/dir")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--targets", type=int, default=12)
    ap.add_argument("--budget", type=int, default=15)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = ap.parse_args()

    describe = None
    if args.model == "fake":
        from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

        generator, describe = BiasedFakeGenerator(args.device), fake_describe_batch
    else:
        import generators

        generator = generators.load(args.model, device=args.device)
    known = set(measurable_names(generator, describe))
    names = [n for n in generator.condition_names if n in known]
    if not names:
        raise SystemExit("the model's conditions are not measurable descriptors: no direct baseline")
    targets = make_targets(generator, names, args.targets, seed=1234)

    runs = []
    for ti, tgt in enumerate(targets):
        for seed in args.seeds:
            for method in args.methods:
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    res = design(tgt, args.tolerance, model=generator, budget=args.budget,
                                 samples_per_trial=args.samples, method=method, seed=seed,
                                 out_dir=tmp, device=args.device, describe=describe, keep=0)
                    wall = time.perf_counter() - t0
                c = res.candidates
                ok_trials = sorted(c.loc[c["success"], "trial"].unique())
                runs.append({
                    "target_index": ti, "target": tgt, "seed": seed, "method": method,
                    "success": bool(len(ok_trials)),
                    "trials_to_first_success": int(ok_trials[0]) + 1 if ok_trials else None,
                    "best_distance": float(c["distance"].min()), "wall_s": wall,
                })
                r = runs[-1]
                print(f"target {ti:2d} seed {seed} {method:6s} success={r['success']!s:5s} "
                      f"first={r['trials_to_first_success']} best={r['best_distance']:.3g} "
                      f"{wall:.1f}s", flush=True)

    summary = {}
    for m in args.methods:
        rs = [r for r in runs if r["method"] == m]
        firsts = [r["trials_to_first_success"] for r in rs if r["success"]]
        summary[m] = {
            "runs": len(rs),
            "success_rate": sum(r["success"] for r in rs) / len(rs),
            "median_trials_to_first_success": statistics.median(firsts) if firsts else None,
            "median_best_distance": statistics.median(r["best_distance"] for r in rs),
            "mean_wall_s": statistics.fmean(r["wall_s"] for r in rs),
        }
    print(f"\n{'method':8s} {'success':>8s} {'first (median)':>15s} {'best dist (median)':>19s} {'wall s':>8s}")
    for m, s in summary.items():
        first = "-" if s["median_trials_to_first_success"] is None else f"{s['median_trials_to_first_success']:.1f}"
        print(f"{m:8s} {s['success_rate']:8.0%} {first:>15s} {s['median_best_distance']:19.3g} {s['mean_wall_s']:8.1f}")

    out = ROOT / "benchmarks" / "results" / ("design.json" if args.model == "fake" else f"design_{Path(args.model).name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "settings": vars(args) | {"target_names": names},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "device": args.device},
        "summary": summary, "runs": runs,
    }, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x))
    print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
