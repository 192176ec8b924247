"""Many worker processes on one study: PostgreSQL and journal-file storage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from optuna.trial import TrialState

from invdesign.distributed import PendingAwareBOSampler, read_artifact
from tests.pg import journal_url, load, make_study, pg_url, spawn_worker  # noqa: F401 (fixtures)


def _run_many(url: str, tmp_path, n_workers: int, n_trials: int) -> None:
    art = tmp_path / "artifacts"
    name = make_study(url, art)
    procs = [spawn_worker(url, name, n_trials, seed=100 + i) for i in range(n_workers)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert len(json.loads(out.strip().splitlines()[-1])["completed"]) == n_trials
    study = load(url, name)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(study.trials) == len(complete) == n_workers * n_trials
    assert len({t.user_attrs["worker"] for t in complete}) == n_workers
    points = {tuple(round(v, 12) for v in t.params.values()) for t in complete}
    assert len(points) == len(complete), "two trials proposed the same conditions"
    for t in complete:
        arrays = read_artifact(url, name, t.number, art)  # checks the SHA-256 too
        assert arrays["volumes"].shape == (2, 8, 8, 4)
        assert arrays["volumes"].max() <= 2
        frac_d = float((arrays["volumes"] == 0).mean())
        assert frac_d == pytest.approx(t.user_attrs["descriptors"]["vol_frac_D"])
        np.testing.assert_allclose(arrays["conditions"][0], [t.params["a"], t.params["b"]], rtol=1e-6)
    assert not list(art.glob(".*.tmp")), "temporary artifact files left behind"


def _run_many_loop(url: str, tmp_path, n_workers: int, n_trials: int) -> None:
    """Workers on a study made by the design loop (`design --budget 0`)."""
    from tests.pg import study_name
    from tests.workers_fake import make_loop_study

    name = study_name("loop")
    make_loop_study(url, tmp_path / "out", name)
    procs = [spawn_worker(url, name, n_trials, seed=100 + i) for i in range(n_workers)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert len(json.loads(out.strip().splitlines()[-1])["completed"]) == n_trials
    study = load(url, name)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == n_workers * n_trials
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    conditions = [tuple(t.user_attrs["condition"]) for t in complete]
    assert len(set(conditions)) == len(conditions), "two trials ran the same condition"
    from optuna.artifacts import download_artifact

    from invdesign.distributed import SafeArtifactStore

    store = SafeArtifactStore(tmp_path / "out" / "artifacts", create=False)
    for t in complete:
        path = tmp_path / f"dl_{t.number}.npz"
        download_artifact(artifact_store=store, artifact_id=t.user_attrs["artifact_id"], file_path=str(path))
        with np.load(path) as z:
            vol = z["volume"]
        assert vol.shape == (2, 32, 32, 8)
        assert float((vol == 0).mean()) == pytest.approx(t.user_attrs["means"]["ABS_f_D"], abs=1e-6)


def test_four_workers_postgres(pg_url, tmp_path):
    _run_many_loop(pg_url, tmp_path, n_workers=4, n_trials=2)


def test_three_workers_journal_file_loop_study(journal_url, tmp_path):
    _run_many_loop(journal_url, tmp_path, n_workers=3, n_trials=2)


def test_two_workers_journal_file(journal_url, tmp_path):
    _run_many(journal_url, tmp_path, n_workers=2, n_trials=2)


def _fit_data():
    torch.manual_seed(0)
    X = torch.rand(8, 2, dtype=torch.float64) * 0.9 + 0.05
    Y = torch.stack([X[:, 0], X[:, 1] * (1 - X[:, 0])], -1)
    return X, Y


def test_pending_points_push_the_proposal_away():
    """With the no-pending proposal marked pending, BO proposes a clearly different point."""
    X, Y = _fit_data()
    s = PendingAwareBOSampler(("a", "b"), torch.tensor([[0.05, 0.0], [0.95, 0.9]]),
                              {"vol_frac_D": 0.3, "vol_frac_M": 0.2}, {"vol_frac_D": 0.03, "vol_frac_M": 0.03},
                              seed=0)
    names = ["vol_frac_D", "vol_frac_M"]
    first = s._propose(X, Y, None, names)
    second = s._propose(X, Y, first.unsqueeze(0), names)
    # the optimum of this toy problem is a=0.3, b=0.2/0.7: BO must go near it first
    assert first[0].item() == pytest.approx(0.3, abs=0.15)
    assert torch.linalg.norm(second - first) > 1e-3


def test_sampler_counts_running_trials_of_others(journal_url, tmp_path):
    import optuna

    from invdesign.distributed import open_storage

    name = make_study(journal_url, tmp_path / "art", n_init=2)
    storage = open_storage(journal_url, heartbeat_interval=None)
    other = optuna.load_study(study_name=name, storage=storage)
    for x in (0.2, 0.6):  # two complete trials of "another worker"
        t = other.ask()
        t.suggest_float("a", 0.05, 0.95), t.suggest_float("b", 0.0, 0.9)
        t.set_user_attr("descriptors", {"vol_frac_D": x, "vol_frac_M": 0.1})
        other.tell(t, 1.0)
    running = other.ask()
    running.suggest_float("a", 0.05, 0.95), running.suggest_float("b", 0.0, 0.9)
    s = PendingAwareBOSampler(("a", "b"), torch.tensor([[0.05, 0.0], [0.95, 0.9]]),
                              {"vol_frac_D": 0.3, "vol_frac_M": 0.2}, {"vol_frac_D": 0.03, "vol_frac_M": 0.03},
                              n_init=2, seed=0)
    mine = optuna.load_study(study_name=name, storage=storage, sampler=s)
    t = mine.ask()
    t.suggest_float("a", 0.05, 0.95)
    assert s.last_pending == 1
    assert s.last_mode == "bo"


@pytest.mark.cuda
def test_worker_on_cuda(journal_url, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from invdesign.distributed import run_worker
    from tests.workers_fake import register

    register()
    name = make_study(journal_url, tmp_path / "art")
    summary = run_worker(journal_url, name, 2, device="cuda:0", seed=0)
    assert len(summary.completed) == 2
    assert read_artifact(journal_url, name, 1, tmp_path / "art")["volumes"].shape == (2, 8, 8, 4)
