"""The ceilings set by the simulator's own seed noise, for the recipe and the generator gates.

Each held-out row of a label table is one simulation (one noise seed) at a known recipe (phi, chi,
time). This re-simulates every held-out series with ``--seeds`` fresh seeds (one run to its latest
time, snapshots at each of its times) and labels the volumes exactly as the training data were
labelled (both phase counts). Two ceilings follow:

* recipes (``benchmarks/recipes.py``): for each of its targets, the target's *own* recipe scored
  with the benchmark's rule (mean over seeds within tolerance of every target). This is what a
  perfect search that returned the truth would reach; the seed-to-seed spread sets it.
* generator gate 3 (``benchmarks/models_heldout_all.py``): R^2 and MAE of each fresh run's
  descriptors against the held-out row's, per run, over all rows: what a "generator" that is the
  simulator itself scores when asked for the held-out conditions.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/recipes_ceiling.py --table runs/v2/labels.csv
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.recipes import held_targets  # noqa: E402
from generators.cahn_hilliard.attributes import label_volumes  # noqa: E402
from generators.cahn_hilliard.params import CHParams  # noqa: E402
from generators.cahn_hilliard.phases import phase_map  # noqa: E402
from generators.cahn_hilliard.solver import initial_field, integrate  # noqa: E402
from generators.diffusion.evaluation import r2_mae  # noqa: E402
from generators.diffusion.presets import THREE_PHASE_CONDITIONS, TWO_PHASE_CONDITIONS  # noqa: E402
from generators.surrogate import read_table  # noqa: E402
from objectives.losses import distance  # noqa: E402

#: the shipped models' conditions per phase count (ch2-default, ch3-default)
NAMES = {2: TWO_PHASE_CONDITIONS, 3: THREE_PHASE_CONDITIONS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True, help="label table (CSV) with a 'held' set")
    ap.add_argument("--targets", type=int, default=12, help="recipe-benchmark targets (its rule)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--base-seed", type=int, default=70_000, help="fresh seeds: base + k")
    ap.add_argument("--shape", type=int, nargs=3, default=(128, 128, 64))
    ap.add_argument("--series", nargs="+", help="only these held-out series (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "recipes_ceiling.json")
    a = ap.parse_args()
    rows = read_table(a.table)
    held = [r for r in rows if str(r.get("set")) == "held"
            and str(r.get("separated", "True")).strip().lower() in ("true", "1", "1.0")]
    targets = {p: held_targets(rows, NAMES[p], a.targets) for p in (2, 3)}
    series = sorted({str(r["series"]) for r in held}, key=int)
    if a.series:
        series = [s for s in series if s in set(a.series)]
    params = CHParams()
    seeds = [a.base_seed + k for k in range(a.seeds)]
    used = {int(float(r["seed"])) for r in rows if r.get("seed") not in (None, "")}
    if used & set(seeds):
        raise SystemExit(f"seeds {sorted(used & set(seeds))} are in the table: choose another --base-seed")
    done: dict[str, list[dict]] = {}  # per series: one record per held row
    if a.out.exists():  # resume: keep the series already simulated with these settings
        old = json.loads(a.out.read_text())
        if all(old["settings"].get(k) == v for k, v in (("seeds", a.seeds), ("base_seed", a.base_seed),
                                                        ("shape", list(a.shape)), ("table", a.table))):
            for r in old["rows"]:
                done.setdefault(str(r["series"]), []).append(r)
    for name in series:
        if name in done:
            continue
        mine = sorted((r for r in held if str(r["series"]) == name), key=lambda r: float(r["time"]))
        phi, chi = float(mine[0]["phi"]), float(mine[0]["chi"])
        times = [float(r["time"]) for r in mine]
        t0 = time.perf_counter()
        c0 = initial_field(torch.full((len(seeds),), phi, dtype=torch.float64), tuple(a.shape), seeds, params.noise)
        snaps = integrate(c0, torch.full((len(seeds),), chi, dtype=torch.float64), times, params)  # (S, T, ...)
        sim_s = time.perf_counter() - t0
        recs = []
        for k, r in enumerate(mine):
            rec = {"series": name, "phi": phi, "chi": chi, "time": times[k], "sim_s_per_seed": sim_s / len(seeds)}
            for p in (2, 3):
                vols = phase_map(snaps[:, k], p, chi=torch.full((len(seeds),), chi, dtype=torch.float64))
                lab = label_volumes(vols, p)
                rec[f"ch{p}"] = {n: {"held": float(r[n]), "runs": [float(v) for v in lab[n]]} for n in NAMES[p]}
            recs.append(rec)
        done[name] = recs
        print(f"series {name} phi={phi:.3f} chi={chi:.2f}: {len(times)} times to t={times[-1]:.0f}, "
              f"{sim_s:.0f} s for {len(seeds)} seeds", flush=True)
        save(a, done, targets)
    save(a, done, targets, final=True)


def save(a, done: dict[str, list[dict]], targets: dict, final: bool = False) -> None:
    all_rows = [r for recs in done.values() for r in recs]
    by_key = {(str(r["series"]), float(r["time"])): r for r in all_rows}
    summary: dict = {}
    tgt_runs = []
    for p in (2, 3):
        gate = {n: r2_mae([v for r in all_rows for v in r[f"ch{p}"][n]["runs"]],
                          [r[f"ch{p}"][n]["held"] for r in all_rows for _ in r[f"ch{p}"][n]["runs"]])
                for n in NAMES[p]}
        res = []
        for i, t in enumerate(targets[p]):
            r = by_key.get((str(t["series"]), float(t["recipe"]["time"])))
            if r is None:
                continue
            mean = {n: statistics.fmean(r[f"ch{p}"][n]["runs"]) for n in NAMES[p]}
            std = {n: statistics.stdev(r[f"ch{p}"][n]["runs"]) if a.seeds > 1 else 0.0 for n in NAMES[p]}
            dist = float(distance(torch.tensor([mean[n] for n in NAMES[p]], dtype=torch.float64),
                                  torch.tensor([t["target"][n] for n in NAMES[p]], dtype=torch.float64),
                                  torch.tensor(a.tolerance, dtype=torch.float64)))
            res.append({"target_index": i, "series": t["series"], "recipe": t["recipe"], "target": t["target"],
                        "mean": mean, "std": std, "distance": dist, "success": dist <= 1.0})
        tgt_runs.append(res)
        summary[f"ch{p}"] = {
            "gate3_per_run": gate, "rows": len(all_rows),
            "recipe_targets": len(res),
            "recipe_success_rate": sum(x["success"] for x in res) / len(res) if res else None,
            "recipe_median_distance": statistics.median(x["distance"] for x in res) if res else None}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({
        "settings": {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                     for k, v in vars(a).items()},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cpus": os.cpu_count()},
        "complete": final, "summary": summary, "recipe_targets": {"ch2": tgt_runs[0], "ch3": tgt_runs[1]},
        "rows": all_rows}, indent=1))
    tmp.replace(a.out)
    if final:
        print(json.dumps(summary, indent=1))
        print(f"saved {a.out}")


if __name__ == "__main__":
    main()
