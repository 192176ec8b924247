"""Workers on one PostgreSQL study: trials per minute vs workers, and BO trials-to-target.

Usage: ``python benchmarks/workers.py [--trials 12] [--sleep 1.0]`` (starts a throwaway PostgreSQL
with scripts/ci_postgres.sh unless INVDESIGN_TEST_PG_URL is set). The generator is the design-loop
tests' biased fake, slowed by ``--sleep`` seconds per trial to stand in for diffusion sampling, so
the numbers measure the coordination (BO proposals, storage, locks), not a real model.
Prints a table and writes ``benchmarks/results/workers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pg_url() -> tuple[str, bool]:
    url = os.environ.get("INVDESIGN_TEST_PG_URL")
    if url:
        return url, False
    out = subprocess.run(["bash", str(ROOT / "scripts/ci_postgres.sh"), "start"], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1], True


def run(url: str, n_workers: int, total: int, sleep: float, tmp: Path) -> dict:
    from invdesign.distributed import open_storage
    from tests.workers_fake import make_loop_study
    import optuna
    from optuna.trial import TrialState

    name = f"bench-{n_workers}-{uuid.uuid4().hex[:6]}"
    make_loop_study(url, tmp / name, name)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", FAKE_SLEEP_S=str(sleep))
    per = [total // n_workers + (i < total % n_workers) for i in range(n_workers)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests/workers_fake.py"), "worker", "--storage", url,
                               "--study-name", name, "--n-trials", str(n), "--json"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in per]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err[-2000:])
    wall = time.perf_counter() - t0
    study = optuna.load_study(study_name=name, storage=open_storage(url, heartbeat_interval=None))
    done = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.datetime_complete)
    hit = next((i + 1 for i, t in enumerate(done) if t.value is not None and t.value <= 1.0), None)
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return {"workers": n_workers, "trials": len(done), "wall_s": round(wall, 2),
            "trials_per_min": round(60 * len(done) / wall, 2),
            "trials_per_min_after_startup": round(60 * len(done) / span, 2), "trials_to_target": hit,
            "best_distance": round(min(t.value for t in done), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--sleep", type=float, default=1.0, help="seconds per sample call (fake model cost)")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    import tempfile

    # ``sleep`` is applied per generator.sample call; the biased fake is wrapped below.
    os.environ["FAKE_SLEEP_S"] = str(args.sleep)
    url, started = pg_url()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in [int(x) for x in args.workers.split(",")]:
                rows.append(run(url, n, args.trials, args.sleep, Path(tmp)))
                print(rows[-1], flush=True)
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "scripts/ci_postgres.sh"), "stop"], check=False)
    print(f"\n{'workers':>7} {'trials':>6} {'wall s':>7} {'trials/min':>10} {'excl. start':>11} "
          f"{'to target':>9} {'best':>6}")
    for r in rows:
        print(f"{r['workers']:>7} {r['trials']:>6} {r['wall_s']:>7} {r['trials_per_min']:>10} "
              f"{r['trials_per_min_after_startup']:>11} "
              f"{str(r['trials_to_target']):>9} {r['best_distance']:>6}")
    out = ROOT / "benchmarks" / "results" / "workers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"storage": "postgresql (scripts/ci_postgres.sh)", "generator": "fake-biased",
                               "sleep_per_trial_s": args.sleep, "cpu_count": os.cpu_count(),
                               "machine": platform.platform(), "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
