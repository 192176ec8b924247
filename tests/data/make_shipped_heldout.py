"""Write ``shipped_heldout.json``: labels of held-out simulations, the conditions and recipes the
shipped models are tested at (``tests/test_shipped_models.py``,
``benchmarks/shipped_models_heldout.py``).

The held-out sets are the default-physics held-out series (HDF5 shards, e.g.
``runs/v2/shards/ch2/held/*.h5`` and ``runs/v2/shards/ch3/held/*.h5``: 8 series, 68 volumes each,
not in the repository). Only labels are kept, never volumes: per row the model's condition values
(the descriptors of the held-out volume), its recipe (``phi``, ``chi``, ``log_time``) and its
``series`` id. Of each set, ``--rows`` rows (default 16) spread over the model's condition range
are kept: greedy farthest-point selection in standardised condition space, from the row nearest
the median (deterministic). The condition names are those of the shipped model's
``generators/weights/<model>/config.json``; re-run this script when they change.

    PYTHONPATH=. python tests/data/make_shipped_heldout.py \\
        --ch2 runs/v2/shards/ch2/held/*.h5 --ch3 runs/v2/shards/ch3/held/*.h5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generators.datasets import shard_paths  # noqa: E402
from generators.diffusion.data import load_shards  # noqa: E402
from generators.diffusion.model_dir import WEIGHTS_DIR  # noqa: E402
from generators.protocol import RECIPE_NAMES  # noqa: E402

DEST = Path(__file__).with_name("shipped_heldout.json")
#: The shipped model each option's shards are the held-out set of.
MODELS = {"ch2": "ch2-default", "ch3": "ch3-default"}


def spread_rows(table: np.ndarray, k: int) -> list[int]:
    """Indices of ``k`` rows of ``table`` ``(n, d)`` spread over its range: greedy farthest-point
    selection in standardised units, starting from the row nearest the median."""
    if k >= len(table):
        return list(range(len(table)))
    std = table.std(axis=0)
    z = (table - table.mean(axis=0)) / np.where(std > 0, std, 1.0)
    first = int(np.argmin(np.linalg.norm(z - np.median(z, axis=0), axis=1)))
    picked = [first]
    dist = np.linalg.norm(z - z[first], axis=1)
    while len(picked) < k:
        nxt = int(np.argmax(dist))
        picked.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(z - z[nxt], axis=1))
    return sorted(picked)


def _shown(path: Path) -> str:
    """A shard's path as recorded: from its ``runs`` folder on when it has one (no machine's prefix)."""
    parts = Path(path).resolve().parts
    return str(Path(*parts[parts.index("runs"):])) if "runs" in parts else Path(path).name


def heldout_rows(paths: list[str], conditions: list[str], k: int) -> dict:
    """The JSON block of one held-out set: ``names``, ``rows`` (``k`` rows) and ``sources``."""
    files = shard_paths(paths, recursive=True)
    labels: dict[str, list[float]] = {}
    origin: list[str] = []
    for f in files:  # one shard at a time: the row's file and index within it are recorded
        part = load_shards(f)
        for name, v in part.labels.items():
            labels.setdefault(name, []).extend(np.asarray(v, float).tolist())
        origin.extend(f"{f.name}#{i}" for i in range(len(part)))
    missing = [c for c in [*conditions, *RECIPE_NAMES] if c not in labels]
    if missing:
        raise SystemExit(f"the shards at {paths} lack the labels {missing}")
    names = [*conditions, *RECIPE_NAMES] + (["series"] if "series" in labels else [])
    table = np.stack([np.asarray(labels[c]) for c in conditions], axis=1)
    pick = spread_rows(table, k)
    return {"names": names, "samples": [origin[i] for i in pick], "n_heldout": len(origin),
            "shards": [_shown(f) for f in files],
            "rows": [[round(float(labels[c][i]), 8) for c in names] for i in pick]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt, model in MODELS.items():
        ap.add_argument(f"--{opt}", nargs="+", required=True, metavar="SHARD",
                        help=f"held-out HDF5 shards (files, directories or globs) of {model}")
    ap.add_argument("--rows", type=int, default=16, help="rows kept per model (default 16)")
    ap.add_argument("--out", type=Path, default=DEST)
    a = ap.parse_args(argv)
    out: dict = {"source": "default-physics held-out simulations; made by tests/data/make_shipped_heldout.py",
                 "selection": f"{a.rows} rows per model, farthest-point in standardised condition space"}
    for opt, model in MODELS.items():
        conditions = json.loads((WEIGHTS_DIR / model / "config.json").read_text())["conditions"]["names"]
        out[model] = heldout_rows(getattr(a, opt), conditions, a.rows)
        print(f"{model}: {len(out[model]['rows'])} of {out[model]['n_heldout']} held-out rows, "
              f"labels {out[model]['names']}")
    text = json.dumps(out, indent=1)
    for model in MODELS.values():  # one line per row
        for row in out[model]["rows"]:
            text = text.replace(json.dumps(row, indent=1).replace("\n", "\n   "), json.dumps(row), 1)
    a.out.write_text(text + "\n")
    print(f"wrote {a.out} ({a.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
