"""Benchmark ``invdesign.recipe``: do the recipes it finds make the targets when re-simulated?

Targets are held-out simulations of a label table (rows of set ``held``: other seeds than the
training data), the model's condition descriptors at one snapshot each, spread evenly over the
held rows. For each target: ``invdesign.recipe`` (surrogate search + verification of the first
``--verify-recipes`` recipes with ``--seeds`` fresh seeds, timed together), and for comparison the
feature predictor's own recipe (the model sampled at the target condition, its FP's recipe averaged
over the samples) simulated with the same number of fresh seeds. With ``--recheck`` the first
recipe is simulated again with independent seeds (ranking several verified recipes by their own
seeds would flatter the first one). Success: the mean over seeds within tolerance of every target.
Prints a table and saves JSON to ``benchmarks/results/recipes_<model>.json``.

Usage::

    python benchmarks/recipes.py --model ch2-default --table runs/v2/labels.csv            # full
    python benchmarks/recipes.py --model ch2-default --table T.csv --targets 2 --seeds 2   # short
    python benchmarks/recipes.py ... --surrogate S.safetensors --shape 32 32 16 --no-fp   # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import invdesign  # noqa: E402
from generators.surrogate import RecipeSurrogate, read_table, score  # noqa: E402
from invdesign.verification import verify  # noqa: E402


def held_targets(rows, names, n: int, held: str = "held") -> list[dict]:
    """``n`` held-out rows spread evenly over the held set (sorted by series, time)."""
    pool = [r for r in rows if str(r.get("set", held)) == held]
    if "separated" in (rows[0] if rows else {}):
        pool = [r for r in pool if str(r["separated"]).strip().lower() in ("true", "1", "1.0")]
    if not pool:
        raise SystemExit(f"the table has no (separated) rows of set {held!r}")
    pool.sort(key=lambda r: (int(float(r.get("series", 0))), float(r["time"])))
    idx = sorted({round(i * (len(pool) - 1) / max(n - 1, 1)) for i in range(n)}) if n > 1 else [len(pool) // 2]
    return [{"target": {k: round(float(pool[i][k]), 4) for k in names},
             "recipe": {"phi": float(pool[i]["phi"]), "chi": float(pool[i]["chi"]), "time": float(pool[i]["time"])},
             "series": pool[i].get("series"), "seed": pool[i].get("seed")} for i in idx]


def fp_recipe(generator, target: dict, names, samples: int, seed: int) -> dict:
    """The feature predictor's recipe at the target condition (mean over ``samples`` latents)."""
    cond = torch.tensor([[target[n] for n in generator.condition_names]], dtype=torch.float32)
    s = generator.sample(cond, n=samples, seed=seed)
    return {k: float(s.predicted[k].float().mean()) for k in ("phi", "chi", "log_time")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ch2-default")
    ap.add_argument("--table", required=True, help="label table (CSV) with a 'held' set")
    ap.add_argument("--targets", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=3, help="fresh-seed simulations per recipe")
    ap.add_argument("--verify-recipes", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--surrogate", type=Path, help="surrogate file (default: the model's)")
    ap.add_argument("--fit", action="store_true", help="fit a surrogate from --table if the model has none")
    ap.add_argument("--shape", type=int, nargs=3, help="simulate at this shape with the default physics "
                    "(smoke runs; default: the model's own simulator)")
    ap.add_argument("--max-time", type=float, help="longest annealing time a recipe may have (caps the "
                    "verification cost: a run costs about time + 100 solver steps)")
    ap.add_argument("--recheck", action="store_true", help="re-simulate the first recipe with independent seeds")
    ap.add_argument("--no-fp", action="store_true", help="skip the feature predictor's recipe")
    ap.add_argument("--fp-samples", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--resume", action="store_true", help="keep the targets already in --out (the JSON is "
                    "saved after every target, so a run cut short resumes where it stopped)")
    ap.add_argument("--only", type=int, nargs="+", help="run only these target indices (e.g. split one "
                    "benchmark over two processes, each with its own --out)")
    ap.add_argument("--include", type=Path, nargs="+", default=[], help="JSON files of other processes of "
                    "the same benchmark: their targets are added (and not run again)")
    args = ap.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / f"recipes_{Path(args.model).name}.json"

    import generators

    generator = generators.load(args.model, device=args.device)
    names = list(generator.condition_names)
    rows = read_table(args.table)
    sur = RecipeSurrogate.load(args.surrogate) if args.surrogate else generator.surrogate
    if sur is None and args.fit:
        from generators.surrogate import fit_surrogate

        sur = fit_surrogate(rows, names)
    if sur is None:
        raise SystemExit(f"model {args.model} has no recipe surrogate: give --surrogate, or --fit")
    simulator = None
    if args.shape:
        from generators.cahn_hilliard import CahnHilliardGenerator

        simulator = CahnHilliardGenerator(shape=tuple(args.shape), phases=generator.phases, device=args.device)
    targets = held_targets(rows, names, args.targets)
    held_score = score(sur, rows, ("held",))

    def save(runs: list[dict], summary: dict | None) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                         if k not in ("resume", "only", "include")} | {"target_names": names},
            "machine": {"platform": platform.platform(), "torch": torch.__version__,
                        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load": os.getloadavg(),
                        "device": args.device},
            "surrogate": {"info": sur.info, "held_out": held_score},
            "complete": summary is not None and len(runs) == len(targets), "summary": summary, "runs": runs,
        }, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x)))
        tmp.replace(out)

    keep = ("model", "table", "targets", "seeds", "verify_recipes", "tolerance", "shape", "max_time",
            "recheck", "no_fp", "fp_samples")

    def saved_runs(path: Path) -> list[dict]:
        old = json.loads(path.read_text())
        if any(str(old["settings"].get(k)) != str(v) for k, v in vars(args).items() if k in keep):
            raise SystemExit(f"{path}: saved with other settings than this run's (model, targets, seeds, ...)")
        return old["runs"]

    done: dict[int, dict] = {}
    for path in ([out] if args.resume and out.exists() else []) + list(args.include):
        done.update({int(r["target_index"]): r for r in saved_runs(path)})
    if done:
        print(f"{len(done)} of {len(targets)} targets already measured", flush=True)
    runs = [done[i] for i in sorted(done)]
    bad = [i for i in args.only or () if not 0 <= i < len(targets)]
    if bad:
        raise SystemExit(f"--only: no target {bad[0]} (there are {len(targets)})")
    for ti in args.only or range(len(targets)):  # in the order given
        if ti in done:
            continue
        item = targets[ti]
        tgt = item["target"]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = invdesign.recipe(tgt, args.tolerance, generator, surrogate=sur, simulator=simulator,
                                   verify_seeds=args.seeds, verify_recipes=args.verify_recipes,
                                   seed=1000 + ti, out_dir=tmp, device=args.device,
                                   bounds={"time": (1.0, args.max_time)} if args.max_time else None)
            wall = time.perf_counter() - t0
        first = res.summary()["recipes"][0]
        v = first["verification"] or {}
        run = {"target_index": ti, **item, "wall_s": wall, "search_s": res.search_seconds,
               "first": {k: first[k] for k in ("phi", "chi", "time", "predicted_distance", "p_success")},
               "verified_distance": v.get("distance_to_target"), "verified_mean": v.get("mean"),
               "seed_std": v.get("std"), "success": bool(v.get("success", False))}
        if args.recheck and v:
            again = verify({k: first[k] for k in ("phi", "chi", "log_time")}, simulator=simulator,
                           seeds=args.seeds, targets=tgt, tolerance=args.tolerance, seed=50_000 + ti,
                           model=None if simulator is not None else generator, recipe="fp",
                           device=args.device)
            run["recheck"] = {"distance": again.distance_to_target, "mean": again.mean, "std": again.std,
                              "success": again.success}
        if not args.no_fp:
            t1 = time.perf_counter()
            fp = fp_recipe(generator, tgt, names, args.fp_samples, seed=ti)
            fv = verify(fp, simulator=simulator, seeds=args.seeds, targets=tgt, tolerance=args.tolerance,
                        seed=90_000 + ti, model=None if simulator is not None else generator, recipe="fp",
                        device=args.device)
            run["fp"] = {"recipe": fv.recipe, "distance": fv.distance_to_target, "mean": fv.mean,
                         "std": fv.std, "success": fv.success, "wall_s": time.perf_counter() - t1}
        runs.append(run)
        runs.sort(key=lambda r: r["target_index"])
        fp_txt = "" if args.no_fp else f" | FP recipe distance {run['fp']['distance']:.2f}"
        vd = run["verified_distance"]
        print(f"target {ti:2d} {tgt}: recipe phi={first['phi']:.3f} chi={first['chi']:.3f} "
              f"t={first['time']:.4g} predicted {first['predicted_distance']:.2f} verified "
              f"{'-' if vd is None else f'{vd:.2f}'} {'OK' if run['success'] else 'miss'} "
              f"({wall:.0f} s){fp_txt}", flush=True)
        save(runs, None)

    def rate(key):
        vals = [r[key] for r in runs]
        return sum(bool(x) for x in vals) / len(vals)

    verified = [r["verified_distance"] for r in runs if r["verified_distance"] is not None]
    summary = {
        "targets": len(runs), "success_rate": rate("success"),
        "median_verified_distance": statistics.median(verified) if verified else None,
        "mean_seed_std": {n: statistics.fmean(r["seed_std"][n] for r in runs if r["seed_std"]) for n in names}
        if any(r["seed_std"] for r in runs) else None,
        "mean_wall_s": statistics.fmean(r["wall_s"] for r in runs),
        "max_wall_s": max(r["wall_s"] for r in runs),
    }
    if args.recheck:
        rc = [r["recheck"] for r in runs if "recheck" in r]
        summary["recheck_success_rate"] = sum(x["success"] for x in rc) / max(len(rc), 1)
    if not args.no_fp:
        summary["fp_success_rate"] = sum(r["fp"]["success"] for r in runs) / len(runs)
        summary["fp_median_distance"] = statistics.median(r["fp"]["distance"] for r in runs)
    print(json.dumps(summary, indent=1))
    save(runs, summary)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
