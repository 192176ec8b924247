"""Shared helpers for worker tests: the test PostgreSQL, studies, worker processes.

The PostgreSQL tests need ``INVDESIGN_TEST_PG_URL`` (``eval "$(scripts/ci_postgres.sh start)"``);
they skip with a message saying so when it is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "workers_fake.py"
PG_ENV = "INVDESIGN_TEST_PG_URL"
PG_SCRIPT = ROOT / "scripts" / "ci_postgres.sh"


def pg_url_or_skip() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"no test PostgreSQL: set {PG_ENV} (eval \"$(scripts/ci_postgres.sh start)\")")
    return url


@pytest.fixture
def pg_url() -> str:
    """URL of the throwaway PostgreSQL started by scripts/ci_postgres.sh."""
    return pg_url_or_skip()


@pytest.fixture
def journal_url(tmp_path: Path) -> str:
    """A fresh journal-file storage (the default single-machine storage)."""
    return str(tmp_path / "study.log")


def study_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_study(url: str, out_dir: Path, name: str | None = None, n_samples: int = 2, n_init: int = 3,
               model: str = "workers-fake") -> str:
    """Create a study of a registered fake generator as ``design --budget 0`` does; returns its name.

    Its artifacts go to ``out_dir / "artifacts"``.
    """
    from invdesign.loop.api import design
    from tests.workers_fake import register

    register()
    name = name or study_name()
    design({"vol_frac_D": 0.3, "vol_frac_M": 0.2}, tolerance=0.03, model=model, budget=0,
           samples_per_trial=n_samples, n_initial=n_init, storage=url, study_name=name, out_dir=out_dir)
    return name


def spawn_worker(url: str, name: str, n_trials: int, *extra: str, env: dict | None = None) -> subprocess.Popen:
    """Start ``invdesign worker`` (with the fake generator registered) as a separate process."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **(env or {}))
    cmd = [sys.executable, str(FAKE), "worker", "--storage", url, "--study-name", name,
           "--n-trials", str(n_trials), "--json", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def load(url: str, name: str):
    import optuna

    from invdesign.distributed import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat_interval=None))


def wait_for(predicate, timeout: float = 60.0, every: float = 0.2) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def pg_control(action: str) -> None:
    """pause/resume the test server (needs the state written by scripts/ci_postgres.sh start)."""
    subprocess.run(["bash", str(PG_SCRIPT), action], check=True, capture_output=True, timeout=120)
