"""Quality of the shipped models at the held-out conditions (``tests/data/shipped_heldout.json``).

For each model: ``--samples`` volumes (default 1; default sampler, seed 0) at each held-out
condition row, measured with ``objectives.describe_batch``: R^2, MAE and Pearson r per condition
against the requested value, and the error of the predicted recipe (``phi``, ``chi``,
``log_time``) against the held-out volume's true recipe, beside the error of a constant recipe (the
model's training mean). This is what ``tests/test_shipped_models.py`` samples; each row is checked
against that test's ``FLOORS`` table.

``--variant reversed`` feeds the condition columns in reverse order and ``--variant ignore:NAME``
holds one condition at its held-out mean (scored against the conditions asked for): models that
get the columns wrong or ignore a condition, which must fall below a floor.

``--floors`` prints a ``FLOORS`` table at the measured level less a margin (R^2 and r less 0.1,
recipe MAE times 1.2 plus 0.005), to paste into ``tests/test_shipped_models.py`` when new models ship;
``--write`` saves ``benchmarks/results/shipped_models_heldout[_variant].json``.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/shipped_models_heldout.py [--models ch2-default ch3-default]
        [--variant reversed | ignore:NAME] [--samples 1] [--floors] [--write]
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import generators  # noqa: E402
from generators.diffusion.evaluation import below_floors, conditioning_at  # noqa: E402
from generators.protocol import RECIPE_NAMES  # noqa: E402

HELDOUT = ROOT / "tests" / "data" / "shipped_heldout.json"
TEST = ROOT / "tests" / "test_shipped_models.py"
MARGIN_R = 0.1  # R^2 and r floors: measured less this
MARGIN_MAE = (1.2, 0.005)  # recipe MAE ceilings: measured times 1.2 plus 0.005


def heldout(model: str) -> dict[str, np.ndarray]:
    """The held-out labels of ``model`` by name, each ``(rows,)``."""
    d = json.loads(HELDOUT.read_text())[model]
    rows = np.asarray(d["rows"], dtype=float)
    return {k: rows[:, j] for j, k in enumerate(d["names"])}


def test_floors() -> dict:
    """``FLOORS`` of ``tests/test_shipped_models.py`` (read from the source, not imported)."""
    for node in ast.parse(TEST.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "FLOORS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"no FLOORS table in {TEST}")


def variant_conditions(cond: np.ndarray, names: tuple[str, ...], variant: str | None) -> np.ndarray:
    """The conditions a broken model would effectively see (see the module docstring)."""
    if variant is None:
        return cond
    if variant == "reversed":
        return cond[:, ::-1].copy()
    if variant.startswith("ignore:"):
        j = names.index(variant.split(":", 1)[1])
        out = cond.copy()
        out[:, j] = cond[:, j].mean()
        return out
    raise SystemExit(f"unknown variant {variant!r} (reversed or ignore:NAME)")


def score(name: str, variant: str | None = None, samples: int = 1, seed: int = 0) -> dict:
    gen = generators.load(name)
    labels = heldout(name)
    cond = np.stack([labels[k] for k in gen.condition_names], axis=1)
    # a variant is scored against the conditions asked for (what a broken model is judged by)
    report = conditioning_at(gen, variant_conditions(cond, gen.condition_names, variant), n_samples=samples,
                             seed=seed, recipe={k: labels[k] for k in RECIPE_NAMES}, against=cond)
    report.pop("measured")
    report.pop("predicted")
    means = dict(zip(gen.config.fp_outputs.names, gen.config.fp_outputs.mean))
    report["constant_recipe_mae"] = {k: float(np.mean(np.abs(labels[k] - means[k]))) for k in RECIPE_NAMES}
    return {"model": name, "variant": variant, "rows": len(cond), "samples_per_row": samples,
            "sampler": dict(gen.config.sampler), **report}


def suggested_floors(rows: list[dict]) -> str:
    """A ``FLOORS`` literal at the measured level less the margins."""
    def down(v):
        return None if math.isnan(v) else math.floor((v - MARGIN_R) * 100) / 100

    lines = ["FLOORS = {"]
    for r in rows:
        lines.append(f"    {r['model']!r}: {{")
        for k, v in r["conditioning"].items():  # a NaN score (a constant measurement) gets no floor
            floor = {key: down(v[key]) for key in ("r2", "r") if down(v[key]) is not None}
            lines.append(f"        {k!r}: {floor},  # measured R^2 {v['r2']:.3f}, r {v['r']:.3f}")
        for k, v in r["recipe"].items():
            floor = {"mae": math.ceil((v["mae"] * MARGIN_MAE[0] + MARGIN_MAE[1]) * 1000) / 1000}
            if down(v["r"]) is not None:
                floor["r"] = down(v["r"])
            lines.append(f"        {k!r}: {floor},  # measured MAE {v['mae']:.3f}, r {v['r']:.3f} "
                         f"(constant recipe MAE {r['constant_recipe_mae'][k]:.3f})")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines).replace("'", '"')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["ch2-default", "ch3-default"])
    ap.add_argument("--variant", default=None, help="reversed or ignore:NAME")
    ap.add_argument("--samples", type=int, default=1, help="samples per held-out row (default 1, as the test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--floors", action="store_true", help="print a FLOORS table for tests/test_shipped_models.py")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/shipped_models_heldout*.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    floors = test_floors()
    rows = []
    for name in a.models:
        t0, c0 = time.perf_counter(), time.process_time()
        r = score(name, a.variant, a.samples, a.seed)
        r["seconds"] = round(time.perf_counter() - t0, 1)
        r["cpu_seconds"] = round(time.process_time() - c0, 1)
        r["below_test_floors"] = below_floors(r, floors[name]) if name in floors else None
        rows.append(r)
        for k, v in r["conditioning"].items():
            print(f"{name:<12} {k:<14} R^2 {v['r2']:7.3f}  MAE {v['mae']:.4f}  r {v['r']:6.3f}", flush=True)
        for k, v in r["recipe"].items():
            print(f"{name:<12} {k:<14} MAE {v['mae']:.4f} (constant {r['constant_recipe_mae'][k]:.4f})  "
                  f"R^2 {v['r2']:7.3f}  r {v['r']:6.3f}", flush=True)
        print(f"{name:<12} {r['seconds']} s wall, {r['cpu_seconds']} s CPU; below the test's floors: "
              f"{r['below_test_floors'] if r['below_test_floors'] is not None else 'no floors for this model'}",
              flush=True)
    if a.floors:
        print(suggested_floors(rows))
    if a.write:
        tag = "" if a.variant is None else "_" + a.variant.replace(":", "_")
        dest = ROOT / "benchmarks" / "results" / f"shipped_models_heldout{tag}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps({"load_avg_1min": os.getloadavg()[0], "torch": torch.__version__,
                                    "threads": a.threads, "heldout": str(HELDOUT.relative_to(ROOT)),
                                    "rows": rows}, indent=1) + "\n")
        print(f"wrote {dest}")


if __name__ == "__main__":
    main()
