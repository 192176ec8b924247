"""Stage 2 of the default-model build: phase maps and descriptors of the simulated series.

For every series file of stage 1 (``fields/<set>/series_NNN.npz``) and every snapshot: the two-phase
map (donor where c > 0.5) and the three-phase map (mixed band from the run's chi,
``generators.cahn_hilliard.phases``), each described by ``objectives.describe_batch``
(``generators.cahn_hilliard.attributes.label_volumes``). Writes, per phases and set, one HDF5 shard
per series in MicroGen3D's layout (``shards/ch2/train/series_NNN.h5``: what ``invdesign train``
reads), and the table ``labels.csv`` (one row per set, series and time; both label sets, the recipe
and ``separated``). Resumable: a series whose two shards exist is only re-read for the table.

A snapshot is *separated* when the standard deviation of its field reaches half of that of the
sharp two-phase field with the same donor-rich fraction f at the binodal compositions of its chi:
``std(c) >= 0.5 * (2 c_b - 1) * sqrt(f (1 - f))``. Unseparated snapshots are kept in the table
(flagged) but left out of the shards: they are not designs.

    python -m scripts.default_models.label --fields runs/v2/fields --out runs/v2 [--wait]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

TABLE = "labels.csv"


def separated(c: torch.Tensor, chi: float) -> bool:
    """The separation rule of the module docstring for one field ``c``."""
    from generators.cahn_hilliard.free_energy import binodal

    cb = float(binodal(chi))
    f = float((c > 0.5).float().mean())
    return float(c.std()) >= 0.5 * (2 * cb - 1) * math.sqrt(f * (1 - f)) and 0 < f < 1


def label_series(path: Path, out: Path, set_name: str) -> list[dict]:
    """Shards of one series (both phase counts) and its table rows."""
    from generators.cahn_hilliard.attributes import label_volumes
    from generators.cahn_hilliard.phases import phase_map
    from objectives.io import write_h5_samples

    d = np.load(path)
    fields = torch.from_numpy(d["fields"])
    phi, chi, seed = float(d["phi"]), float(d["chi"]), int(d["seed"])
    times = [float(t) for t in d["times"]]
    index = int(path.stem.split("_")[1])
    rows = [dict(set=set_name, series=index, phi=phi, chi=chi, seed=seed, time=t,
                 log_time=math.log10(t), separated=separated(fields[k], chi),
                 sim_seconds=float(d["seconds"]) / len(times))
            for k, t in enumerate(times)]
    keep = [k for k, r in enumerate(rows) if r["separated"]]
    for phases in (2, 3):
        shard = out / "shards" / f"ch{phases}" / set_name / f"series_{index:03d}.h5"
        shard.parent.mkdir(parents=True, exist_ok=True)
        vols = phase_map(fields, phases, chi=torch.full((len(times),), chi, dtype=torch.float64))
        start = time.perf_counter()
        labels = label_volumes(vols, phases)
        per_volume = (time.perf_counter() - start) / len(times)
        for k, r in enumerate(rows):
            r.update({name: float(v[k]) for name, v in labels.items()})
            r[f"describe_seconds_ch{phases}"] = per_volume
        if shard.exists() or not keep:
            continue
        attrs = [dict({n: rows[k][n] for n in labels}, phi=phi, chi=chi, log_time=rows[k]["log_time"],
                      time=rows[k]["time"], seed=seed, series=index) for k in keep]
        names = [f"sample_{index * len(times) + k:07d}" for k in keep]
        tmp = shard.with_name(shard.stem + ".tmp.h5")
        write_h5_samples(tmp, vols[keep].numpy(), attrs, names, mode="w")
        os.replace(tmp, shard)
    return rows


def write_table(out: Path, rows: list[dict]) -> None:
    rows = sorted(rows, key=lambda r: (r["set"], r["series"], r["time"]))
    keys = list(rows[0])
    for r in rows:
        keys += [k for k in r if k not in keys]
    tmp = out / (TABLE + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / TABLE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", default="runs/v2/fields")
    ap.add_argument("--out", default="runs/v2")
    ap.add_argument("--wait", action="store_true", help="keep labelling until every planned series is done")
    args = ap.parse_args()
    torch.set_num_threads(1)
    fields, out = Path(args.fields), Path(args.out)
    plan = json.loads((fields / "plan.json").read_text())["jobs"]
    cache = out / "labels_cache"
    cache.mkdir(parents=True, exist_ok=True)
    while True:
        for job in plan:
            src = fields / job["set"] / f"series_{job['index']:03d}.npz"
            dst = cache / f"{job['set']}_{job['index']:03d}.json"
            if src.exists() and not dst.exists():
                rows = label_series(src, out, job["set"])
                dst.write_text(json.dumps(rows))
                print(json.dumps({"labelled": str(src), "volumes": len(rows)}), flush=True)
        done = [json.loads(p.read_text()) for p in sorted(cache.glob("*.json"))]
        if done:
            write_table(out, [r for rows in done for r in rows])
        if not args.wait or len(done) == len(plan):
            break
        time.sleep(20)


if __name__ == "__main__":
    main()
