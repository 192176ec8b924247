"""Time writing and reading one 128x128x64 three-phase volume in every format.

Prints a table (write/read seconds, file size) and saves ``benchmarks/results/io_formats.json``.
Run: ``python benchmarks/io_formats.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
import objectives.io as vio  # noqa: E402

CASES = [
    ("npy", ".npy", {}), ("npz", ".npz", {}), ("h5 (gzip)", ".h5", {}),
    ("vti appended", ".vti", {"vti_encoding": "appended"}),
    ("vti base64", ".vti", {"vti_encoding": "base64"}),
    ("vti ascii", ".vti", {"vti_encoding": "ascii"}),
    ("tiff", ".tif", {}), ("graspi txt", ".txt", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # blocky three-phase volume (compressible like real morphologies)
    vol = np.kron(rng.integers(0, 3, (32, 32, 16)), np.ones((4, 4, 4), dtype=np.int64)).astype(np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, ext, opts in CASES:
            path = Path(tmp) / f"v{ext}"
            writes, reads = [], []
            for _ in range(args.repeat):
                path.unlink(missing_ok=True)
                t0 = time.perf_counter()
                vio.write_volume(path, vol, **opts)
                writes.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                back = vio.read_volume(path)
                reads.append(time.perf_counter() - t0)
                assert np.array_equal(back, vol)
            rows.append({"format": label, "write_s": min(writes), "read_s": min(reads),
                         "size_mib": path.stat().st_size / 2**20})
    print(f"{'format':<14} {'write s':>9} {'read s':>9} {'MiB':>8}   (128x128x64, best of {args.repeat})")
    for r in rows:
        print(f"{r['format']:<14} {r['write_s']:>9.4f} {r['read_s']:>9.4f} {r['size_mib']:>8.3f}")
    out = Path(__file__).resolve().parent / "results" / "io_formats.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"shape": list(vol.shape), "machine": platform.processor() or platform.machine(),
                               "rows": rows}, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
