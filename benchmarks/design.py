"""Benchmark the design methods: composite BO (success probability) vs direct conditioning, random
search, Optuna TPE and Optuna GP, on the same targets, seeds and sample budget, in one run.

Targets come from held-out Cahn-Hilliard simulations at the default physics (``--held DIR``: the
``series_*.npz`` donor-fraction fields of ``scripts.default_models.simulate``, phase mapped the
way the training data are): every condition of the model is targeted, at the values a real
simulated volume has, picked spread over phi, chi and time (farthest points). ``--model fake``
uses the fast spread fake of the tests (``tests/design_fakes.py``) and synthetic targets.

Per run: success (some volume within every tolerance), trials, samples, wall and CPU seconds to
the first success, best distance, volumes measured and throughput (volumes sampled, decoded and
measured per second, screening latents not counted). Prints a table and writes
``benchmarks/results/design[_<model>].json`` after every run (``--append`` merges runs into it, so
a long benchmark can be run in parts: ``--only 0 1`` runs targets 0 and 1; with ``--workdir DIR``
a run cut short resumes on the next call, its times summed over the calls).

Usage::

    python -m benchmarks.design                                   # the fake, all methods
    python -m benchmarks.design --model ch2-default --held runs/v2/fields/held --targets 12 \\
        --budget 12 --samples 2 --tolerance 0.02
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from invdesign import design  # noqa: E402
from invdesign.loop.api import PRIORS  # noqa: E402
from invdesign.loop.measure import measurable_names  # noqa: E402

METHODS = ("bo", "direct", "random", "tpe", "gp")


def held_out_targets(held: Path, generator, n: int, describe=None) -> tuple[list[dict], int]:
    """``n`` targets from held-out simulated volumes: every condition of ``generator``, taken from
    the snapshots whose values lie in the model's condition bounds (what ``design`` accepts),
    spread over (phi, chi, log time) by farthest-point selection.

    Returns the targets (``{"target": {name: value}, "phi", "chi", "time", "series"}``) and how
    many snapshots there were in all.
    """
    import objectives
    from generators.cahn_hilliard.phases import phase_map

    describe = describe or objectives.describe_batch
    lo, hi = (torch.as_tensor(generator.bounds, dtype=torch.float64)[i].tolist() for i in (0, 1))
    pool, total = [], 0
    for path in sorted(Path(held).glob("series_*.npz")):
        with np.load(path) as f:
            phi, chi, times = float(f["phi"]), float(f["chi"]), [float(t) for t in f["times"]]
            fields = torch.from_numpy(np.asarray(f["fields"], dtype=np.float32))
        vols = phase_map(fields, generator.phases, chi=torch.full((len(times),), chi))
        d = describe(vols)
        for k, t in enumerate(times):
            total += 1
            tgt = {name: round(float(d[name][k]), 4) for name in generator.condition_names}
            if all(lo[i] <= tgt[name] <= hi[i] for i, name in enumerate(generator.condition_names)):
                pool.append({"target": tgt, "series": path.name, "phi": phi, "chi": chi, "time": t})
    if not pool:
        raise SystemExit(f"no held-out snapshot in {held} lies in the model's condition bounds")
    key = np.array([[p["phi"], p["chi"], math.log10(p["time"])] for p in pool])
    span = key.max(0) - key.min(0)
    key = (key - key.min(0)) / np.where(span > 0, span, 1)
    chosen = [int(np.argmin(np.abs(key - key.mean(0)).sum(1)))]
    while len(chosen) < min(n, len(pool)):
        dist = np.min(np.linalg.norm(key[:, None] - key[chosen][None], axis=-1), axis=1)
        chosen.append(int(np.argmax(dist)))
    return [pool[i] for i in chosen], total


def synthetic_targets(generator, n: int, seed: int = 1234) -> list[dict]:
    """``n`` targets for the fake: scrambled Sobol over the central half of its condition bounds
    (the conditions are named like the descriptors, so direct conditioning is defined)."""
    b = torch.as_tensor(generator.bounds, dtype=torch.float64)
    lo, hi = b[0] + 0.25 * (b[1] - b[0]), b[0] + 0.75 * (b[1] - b[0])
    x = lo + (hi - lo) * torch.quasirandom.SobolEngine(b.shape[1], scramble=True, seed=seed).draw(n, dtype=torch.float64)
    return [{"target": {k: round(float(v), 4) for k, v in zip(generator.condition_names, r)}} for r in x]


def weights_digest(model: str) -> str:
    """sha256 (16 hex digits) over a model directory's weights and config (a shipped name or a
    directory, as ``generators.load`` resolves it). Runs measured on other weights must not be mixed."""
    import hashlib

    from generators.diffusion.model_dir import resolve

    d = resolve(model)
    files = sorted(d.glob("*.safetensors")) + [d / "config.json"]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def run_one(generator, target: dict, method: str, seed: int, args, describe, workdir: Path | None = None) -> dict | None:
    """One design; what it cost and when it first succeeded.

    With ``workdir`` the study lives there and a run cut short (``timeout``) resumes where it
    stopped on the next call; ``timing.json`` beside it keeps each trial's wall and CPU seconds
    (since the previous trial finished, or since the call started), so the times add up across
    calls (the part of a trial cut short is not counted). Returns ``None`` while the study holds
    fewer than ``args.budget`` complete trials.
    """
    import tempfile

    from invdesign.studies.records import TrialRecord

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) if workdir is None else workdir
        out.mkdir(parents=True, exist_ok=True)
        timing_path = out / "timing.json"
        timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"wall": [], "cpu": []}
        last = [time.perf_counter(), time.process_time()]

        def on_trial(trial) -> None:
            now = [time.perf_counter(), time.process_time()]
            timing["wall"].append(now[0] - last[0])
            timing["cpu"].append(now[1] - last[1])
            last[:] = now
            timing_path.write_text(json.dumps(timing))

        res = design(target, args.tolerance, model=generator, budget=args.budget,
                     samples_per_trial=args.samples, method=method, seed=seed, out_dir=out,
                     device=args.device, describe=describe, keep=0, screen=args.screen,
                     threads=args.threads, callback=on_trial, initial_radius=args.initial_radius,
                     prior=args.prior)
        proposals = [TrialRecord.read(t).proposal for t in res.study.trials
                     if t.state.name == "COMPLETE"]
    c = res.candidates
    if len(proposals) < args.budget:
        return None
    ok = c[c["success"]].sort_values(["trial", "sample"])
    first = None if ok.empty else (int(ok.iloc[0]["trial"]), int(ok.iloc[0]["sample"]))
    # trials are numbered in creation order; a retried (failed) trial leaves a gap in the numbers
    order = sorted(c["trial"].unique())
    k = None if first is None else order.index(first[0])
    wall, cpu = timing["wall"], timing["cpu"]
    return {
        "method": method, "seed": seed, "success": first is not None, "n_success": int(c["success"].sum()),
        "trials_to_first_success": None if first is None else k + 1,
        "samples_to_first_success": None if first is None else k * args.samples + first[1] + 1,
        "wall_s_to_first_success": None if first is None else sum(wall[:k + 1]),
        "cpu_s_to_first_success": None if first is None else sum(cpu[:k + 1]),
        "best_distance": float(c["distance"].min()), "wall_s": sum(wall), "cpu_s": sum(cpu),
        "volumes": len(c), "volumes_per_s": len(c) / sum(wall), "screen": res.settings.screen,
        "proposals": {p: proposals.count(p) for p in sorted(set(proposals), key=str)},
    }


def summarise(runs: list[dict], budget_samples: int) -> dict:
    out = {}
    for m in METHODS:
        rs = [r for r in runs if r["method"] == m]
        if not rs:
            continue
        firsts = [r["samples_to_first_success"] for r in rs if r["success"]]
        walls = [r["wall_s_to_first_success"] for r in rs if r["success"]]
        cpus = [r.get("cpu_s_to_first_success") for r in rs if r["success"] and r.get("cpu_s_to_first_success") is not None]
        # samples to first success over every run, a failure counted as more than the budget
        censored = sorted((r["samples_to_first_success"] or budget_samples + 1) for r in rs)
        out[m] = {
            "runs": len(rs),
            "success_rate": sum(r["success"] for r in rs) / len(rs),
            "median_samples_to_first_success_all_runs": statistics.median(censored),
            "median_samples_to_first_success": statistics.median(firsts) if firsts else None,
            "median_wall_s_to_first_success": statistics.median(walls) if walls else None,
            "median_cpu_s_to_first_success": statistics.median(cpus) if cpus else None,
            "median_best_distance": statistics.median(r["best_distance"] for r in rs),
            "volumes_per_s": sum(r["volumes"] for r in rs) / sum(r["wall_s"] for r in rs),
            "mean_wall_s": statistics.fmean(r["wall_s"] for r in rs),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fake", help="'fake' or a model name/dir (generators.load)")
    ap.add_argument("--held", type=Path, help="held-out series_*.npz directory (real models)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--targets", type=int, default=12)
    ap.add_argument("--only", type=int, nargs="+", help="run only these target indices")
    ap.add_argument("--budget", type=int, default=12, help="trials per run")
    ap.add_argument("--samples", type=int, default=2, help="volumes per trial")
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--screen", type=int, default=None, help="latents per kept sample (default: auto)")
    ap.add_argument("--threads", default=None, help="torch threads (default: auto, the free cores)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--append", action="store_true", help="merge into the existing JSON (runs already "
                    "there are kept, not run again)")
    ap.add_argument("--initial-radius", type=float, default=None, help="BO's initial box around the target "
                    "condition, as a fraction of each range (default: design()'s)")
    ap.add_argument("--prior", choices=PRIORS, default=None,
                    help="BO's prior mean (default: design()'s)")
    ap.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/design[_<model>].json)")
    ap.add_argument("--workdir", type=Path, help="keep the studies here: a run cut short resumes on the next call")
    args = ap.parse_args()

    out = args.out or ROOT / "benchmarks" / "results" / (
        "design.json" if args.model == "fake" else f"design_{Path(args.model).name}.json")
    old = json.loads(out.read_text()) if args.append and out.is_file() else {}
    digest = weights_digest(args.model) if args.model != "fake" else None
    if old.get("runs") and old.get("weights_sha256", digest) != digest:
        raise SystemExit(f"{out} holds runs measured on other weights of {args.model} "
                         f"({old.get('weights_sha256')} vs {digest}): write to a new --out")
    describe = None
    if args.model == "fake":
        from tests.design_fakes import SpreadFakeGenerator, fake_describe_batch

        generator, describe = SpreadFakeGenerator(args.device), fake_describe_batch
        targets, pool_size = synthetic_targets(generator, args.targets), None
    else:
        import generators

        generator = generators.load(args.model, device=args.device)
        if args.held is None:
            raise SystemExit("give --held DIR (held-out simulations) for a real model")
        targets, pool_size = held_out_targets(args.held, generator, args.targets)
        if old.get("targets") and old.get("settings", {}).get("tolerance") == args.tolerance:
            # parts of one benchmark keep one target list (the held-out set may have grown since)
            targets, pool_size = old["targets"], old.get("held_out_snapshots")
    known = set(measurable_names(generator, describe))
    missing = [n for t in targets for n in t["target"] if n not in known]
    if missing:
        raise SystemExit(f"targets name descriptors this model does not measure: {missing}")

    runs = [r for r in old.get("runs", [])]
    load_before = os.getloadavg()[0]

    def save() -> dict:
        runs.sort(key=lambda r: (r["target_index"], r["seed"], METHODS.index(r["method"])))
        summary = summarise(runs, args.budget * args.samples)
        out.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        machine = old.get("machine", {})
        machine.update({"platform": platform.platform(), "torch": torch.__version__,
                        "cpu_count": os.cpu_count(), "device": args.device,
                        "load_avg_1min": [load_before, os.getloadavg()[0]]})
        out.write_text(json.dumps({
            "settings": settings, "weights_sha256": digest, "targets": targets, "held_out_snapshots": pool_size,
            "machine": machine, "summary": summary, "runs": runs,
        }, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x))
        return summary

    for ti, tgt in enumerate(targets):
        if args.only is not None and ti not in args.only:
            continue
        for seed in args.seeds:
            for method in args.methods:
                if any((x["target_index"], x["seed"], x["method"]) == (ti, seed, method) for x in runs):
                    continue  # measured by an earlier part (--append)
                work = None if args.workdir is None else args.workdir / Path(args.model).name / f"t{ti:02d}_s{seed}_{method}"
                r = run_one(generator, tgt["target"], method, seed, args, describe, work)
                if r is None:
                    continue
                runs = [x for x in runs if (x["target_index"], x["seed"], x["method"]) != (ti, seed, method)]
                r.update(target_index=ti, target=tgt["target"],
                         source={k: tgt[k] for k in ("series", "phi", "chi", "time") if k in tgt})
                runs.append(r)
                save()  # after every run: a part cut short keeps what it finished
                print(f"target {ti:2d} seed {seed} {method:6s} success={r['success']!s:5s} "
                      f"first={r['samples_to_first_success']} samples "
                      f"({r['wall_s_to_first_success'] or 0:.0f} s) best={r['best_distance']:.3g} "
                      f"{r['wall_s']:.0f} s {r['volumes_per_s']:.2f} vol/s {r['proposals']}", flush=True)
    summary = save()
    print(f"\n{'method':8s} {'success':>8s} {'samples to 1st (median, all runs)':>34s} "
          f"{'wall s to 1st':>14s} {'best dist':>10s} {'vol/s':>7s}")
    for m, s in summary.items():
        wall = "-" if s["median_wall_s_to_first_success"] is None else f"{s['median_wall_s_to_first_success']:.0f}"
        print(f"{m:8s} {s['success_rate']:8.0%} {s['median_samples_to_first_success_all_runs']:34.1f} "
              f"{wall:>14s} {s['median_best_distance']:10.3g} {s['volumes_per_s']:7.2f}")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
