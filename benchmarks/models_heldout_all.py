"""Every held-out condition of a shard directory, one sample each: R^2 and MAE per condition, over
all rows and over the rows inside a reference model's bounds (default: the model's own); with
``--seeds`` one sample per row and seed, pooled (one seed moves a tortuosity R^2 by up to 0.4).
Also the MAE per held-out series (``by_series``: the shallow-corner series 0 dominates the
tortuosity misses) and every measured value (``measured``, rows in seed-major order).

The 16 x 2 evaluation of ``invdesign evaluate`` is noisy (one outlier moves R^2 by 0.3); this
uses all rows (68 in the default-physics held-out set). Prints and saves JSON::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/models_heldout_all.py ch3-default runs/v2/shards/ch3/held
    ... MODEL SHARDS --fp-guidance 0 --bounds-of OTHER_MODEL --seeds 0 1 --out benchmarks/results/NAME.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import generators  # noqa: E402
from generators.diffusion.data import load_shards  # noqa: E402
from generators.diffusion.evaluation import conditioning_at, r2_mae  # noqa: E402

from benchmarks.design import weights_digest  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("shards")
    ap.add_argument("--fp-guidance", type=float, default=None, help="default: the model's")
    ap.add_argument("--bounds-of", help="model whose bounds define 'inside' (default: the model)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one sample per row per seed, pooled")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calibration", type=Path, help="a condition calibration file to sample through "
                    "(default: the model's own, if it has one)")
    ap.add_argument("--no-calibrate", action="store_true", help="sample the raw conditional")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = generators.load(a.model)
    if a.calibration:
        from generators.diffusion.calibration import ConditionCalibration

        gen.calibration = ConditionCalibration.load(a.calibration)
    calibrate = False if a.no_calibrate else None
    ref = generators.load(a.bounds_of) if a.bounds_of else gen
    names = list(gen.condition_names)
    held = load_shards(a.shards)
    cond = held.table(names)
    series = held.table(["series"])[:, 0].astype(int) if "series" in held.labels else np.zeros(len(cond), int)
    lo, hi = ref.bounds.numpy()
    inside = ((cond >= lo) & (cond <= hi)).all(1)
    start = time.perf_counter()
    runs = [conditioning_at(gen, cond, n_samples=1, seed=s, fp_guidance=a.fp_guidance,
                            calibrate=calibrate)["measured"] for s in a.seeds]
    measured = {n: np.concatenate([m[n] for m in runs]) for n in names}
    k = len(a.seeds)
    cond_k, inside_k, series_k = np.tile(cond, (k, 1)), np.tile(inside, k), np.tile(series, k)
    out = {"model": a.model, "weights_sha256": weights_digest(a.model), "shards": a.shards, "fp_guidance": a.fp_guidance,
           "calibration": None if a.no_calibrate or gen.calibration is None else str(a.calibration or "model's own"),
           "seeds": a.seeds, "rows": len(cond), "inside": int(inside.sum()), "bounds_of": a.bounds_of or a.model,
           "seconds": time.perf_counter() - start,
           "all": {n: r2_mae(measured[n], cond_k[:, j]) for j, n in enumerate(names)}, "inside_bounds": {},
           "by_series": {str(v): {n: r2_mae(measured[n][series_k == v], cond_k[series_k == v, j])["mae"]
                                  for j, n in enumerate(names)} for v in np.unique(series)},
           "measured": {n: v.tolist() for n, v in measured.items()}}
    for j, n in enumerate(names):
        out["inside_bounds"][n] = r2_mae(measured[n][inside_k], cond_k[inside_k, j])
        print(f"{n:14s} all R^2 {out['all'][n]['r2']:7.3f} MAE {out['all'][n]['mae']:.3f} | inside "
              f"({out['inside']}) R^2 {out['inside_bounds'][n]['r2']:7.3f} MAE {out['inside_bounds'][n]['mae']:.3f}")
    dest = a.out or ROOT / "benchmarks" / "results" / f"models_heldout_all_{Path(a.model).name}.json"
    dest.write_text(json.dumps(out, indent=1))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
