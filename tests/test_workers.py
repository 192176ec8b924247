"""Many worker processes on one study: PostgreSQL and journal-file storage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from optuna.trial import TrialState

from invdesign.distributed import read_artifact
from tests.pg import journal_url, load, make_study, pg_url, spawn_worker  # noqa: F401 (fixtures)


def _run_workers(url: str, name: str, n_workers: int, n_trials: int):
    """Run ``n_workers`` worker processes at once, check each completed ``n_trials``; the study."""
    procs = [spawn_worker(url, name, n_trials) for _ in range(n_workers)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert len(json.loads(stdout.strip().splitlines()[-1])["completed"]) == n_trials
    return load(url, name)


def _run_many(url: str, tmp_path, n_workers: int, n_trials: int) -> None:
    out = tmp_path / "out"
    art = out / "artifacts"
    name = make_study(url, out)
    study = _run_workers(url, name, n_workers, n_trials)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(study.trials) == len(complete) == n_workers * n_trials
    assert len({t.user_attrs["worker"] for t in complete}) == n_workers
    points = {tuple(round(v, 12) for v in t.params.values()) for t in complete}
    assert len(points) == len(complete), "two trials proposed the same conditions"
    for t in complete:
        arrays = read_artifact(url, name, t.number)  # checks the SHA-256 too
        assert arrays["volume"].shape == (2, 8, 8, 4)
        assert arrays["volume"].max() <= 2
        frac_d = float((arrays["volume"] == 0).mean())
        assert frac_d == pytest.approx(t.user_attrs["means"]["vol_frac_D"])
        np.testing.assert_allclose(arrays["condition"], [t.params["a"], t.params["b"]], rtol=1e-6)
    assert not list(art.glob(".*.tmp")), "temporary artifact files left behind"


def _run_many_loop(url: str, tmp_path, n_workers: int, n_trials: int) -> None:
    """Workers on a study made by the design loop (`design --budget 0`)."""
    from tests.pg import study_name
    from tests.workers_fake import make_loop_study

    name = study_name("loop")
    make_loop_study(url, tmp_path / "out", name)
    study = _run_workers(url, name, n_workers, n_trials)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == n_workers * n_trials
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    # BO may re-run the best condition on purpose ("resample"); every other trial is a new condition
    fresh = [tuple(t.user_attrs["condition"]) for t in complete if t.user_attrs.get("proposal") != "resample"]
    assert len(set(fresh)) == len(fresh), "two trials proposed the same condition"
    for t in complete:
        if t.user_attrs.get("proposal") == "resample":
            earlier = {tuple(u.user_attrs["condition"]) for u in complete if u.number < t.number}
            assert tuple(t.user_attrs["condition"]) in earlier, "a resample ran a condition never run before"
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


SPACE_BOUNDS = [[0.05, 0.0], [0.95, 0.9]]


def test_pending_points_push_the_proposal_away():
    """With the no-pending proposal marked pending, BO proposes a clearly different point."""
    from invdesign.loop.composite_bo import propose_bo
    from invdesign.loop.space import ConditionSpace

    X, Y = _fit_data()
    space = ConditionSpace(("a", "b"), torch.tensor(SPACE_BOUNDS))
    target, tol = torch.tensor([0.3, 0.2]), torch.tensor([0.03, 0.03])
    kw = dict(variances=torch.zeros_like(Y), n_samples=2, target=target, tolerance=tol, seed=0)
    first = propose_bo(space, X, Y, **kw)[0]
    second = propose_bo(space, X, Y, X_pending=first.unsqueeze(0), **kw)[0]
    # the optimum of this toy problem is a=0.3, b=0.2/0.7: BO must go near it first
    assert first[0].item() == pytest.approx(0.3, abs=0.15)
    assert torch.linalg.norm(second - first) > 1e-3


def _add_trial(study, x, state, means=None):
    """A trial of "another worker" with the loop's user attrs."""
    import optuna
    from optuna.distributions import FloatDistribution

    trial = optuna.create_trial(
        state=state, value=1.0 if state == TrialState.COMPLETE else None,
        params={"a": x[0], "b": x[1]},
        distributions={"a": FloatDistribution(0.05, 0.95), "b": FloatDistribution(0.0, 0.9)},
        user_attrs={"condition": list(x), **({"means": means, "variances": {k: 0.0 for k in means}, "n": 2}
                                             if means else {})})
    study.add_trial(trial)
    return study.trials[-1]


def test_proposals_count_running_trials_of_others(journal_url, tmp_path, monkeypatch):
    import invdesign.loop.proposers as proposers
    from invdesign.loop.space import ConditionSpace
    from invdesign.studies.study import Settings

    name = make_study(journal_url, tmp_path / "out", n_init=2)
    study = load(journal_url, name)
    for x in (0.2, 0.6):  # two complete trials of "another worker"
        _add_trial(study, (x, 0.3), TrialState.COMPLETE, {"vol_frac_D": x, "vol_frac_M": 0.1})
    running = _add_trial(study, (0.5, 0.5), TrialState.RUNNING)
    seen = {}
    original = proposers.propose_bo

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(proposers, "propose_bo", spy)
    settings = Settings.from_study(study)
    space = ConditionSpace(("a", "b"), torch.tensor(settings.bounds))
    proposers.propose(study, space, settings, 1)
    assert seen, "the BO (not the initial design) proposed"
    assert seen["X_pending"].tolist() == [running.user_attrs["condition"]]


def test_a_trial_failing_between_proposals_does_not_repeat_a_condition(journal_url, tmp_path):
    """Seen once with 4 workers on PostgreSQL: a trial failed between two proposals, the count of
    running + complete trials came back to an earlier value, and the next proposal drew the same
    Sobol point again. Proposals are indexed by trials ever created, which never repeats."""
    from invdesign.loop.proposers import open_trials
    from invdesign.loop.space import ConditionSpace
    from invdesign.studies.study import Settings

    name = make_study(journal_url, tmp_path / "out", n_init=1)
    study = load(journal_url, name)
    settings = Settings.from_study(study)
    space = ConditionSpace(("a", "b"), torch.tensor(settings.bounds))
    seen = []
    for _ in range(4):
        (trial, x), = open_trials(study, space, settings, 1)
        seen.append(tuple(x.tolist()))
        study.tell(trial, state=TrialState.FAIL)  # e.g. a worker that died: its trial fails
    assert len(set(seen)) == len(seen), f"a condition was proposed twice: {seen}"


def test_live_trials_of_others_survive_and_dead_ones_are_retried(journal_url, tmp_path):
    """Opening trials fails a trial whose heartbeat stopped (and retries its condition) but leaves a
    trial with a fresh heartbeat running."""
    from invdesign.distributed import open_storage, run_worker
    from invdesign.studies.optuna_internals import trial_id_of
    from invdesign.studies.storage import HEARTBEAT_ATTR

    name = make_study(journal_url, tmp_path / "out", n_init=2)
    run_worker(journal_url, name, 2, heartbeat_interval=1, grace_period=2)
    storage = open_storage(journal_url, heartbeat_interval=None)
    import optuna

    study = optuna.load_study(study_name=name, storage=storage)
    live = _add_trial(study, (0.5, 0.5), TrialState.RUNNING)
    dead = _add_trial(study, (0.7, 0.1), TrialState.RUNNING)
    import time

    storage.set_trial_system_attr(trial_id_of(live), HEARTBEAT_ATTR, time.time() + 600)  # beats on
    storage.set_trial_system_attr(trial_id_of(dead), HEARTBEAT_ATTR, time.time() - 60)  # died
    summary = run_worker(journal_url, name, 1, heartbeat_interval=1, grace_period=2)
    study = load(journal_url, name)
    assert study.trials[live.number].state == TrialState.RUNNING
    assert study.trials[dead.number].state == TrialState.FAIL
    retry = study.trials[summary.completed[0]]
    assert retry.system_attrs["failed_trial"] == dead.number
    assert retry.user_attrs["condition"] == pytest.approx([0.7, 0.1])


@pytest.mark.cuda
def test_worker_on_cuda(journal_url, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from invdesign.distributed import run_worker
    from tests.workers_fake import register

    register()
    name = make_study(journal_url, tmp_path / "out")
    summary = run_worker(journal_url, name, 2, device="cuda:0")
    assert len(summary.completed) == 2
    assert read_artifact(journal_url, name, 1)["volume"].shape == (2, 8, 8, 4)


def test_proposal_lock_kind_follows_the_storage(journal_url, tmp_path):
    """Journal and SQLite lock a file; PostgreSQL an advisory lock, also under Optuna's cache."""
    import optuna

    from invdesign.distributed import open_storage
    from invdesign.studies.locks import ProposalLock
    from invdesign.studies.optuna_internals import storage_of

    assert ProposalLock(open_storage(journal_url), "s").path == tmp_path / "study.log.propose.lock"
    sqlite = optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}", study_name="s")
    assert ProposalLock(storage_of(sqlite), "s").path == tmp_path / "x.db.propose.lock"
    with ProposalLock(storage_of(sqlite), "s"):  # re-entered after release
        pass
    with ProposalLock(storage_of(sqlite), "s"):
        pass


def _assert_lock_excludes(url: str) -> None:
    """Two storages opened on one URL (as two processes do): while one holds the study's proposal
    lock, the other waits for it, and gets it once it is released."""
    import threading

    from invdesign.distributed import open_storage
    from invdesign.studies.locks import ProposalLock

    first = ProposalLock(open_storage(url, heartbeat_interval=None), "s")
    second = ProposalLock(open_storage(url, heartbeat_interval=None), "s")
    entered = threading.Event()

    def take_second():
        with second:
            entered.set()

    with first:
        thread = threading.Thread(target=take_second, daemon=True)
        thread.start()
        assert not entered.wait(1.0), "a second process entered the proposal lock while it was held"
    assert entered.wait(30), "the proposal lock was not handed over after release"
    thread.join(30)


def test_proposal_lock_excludes_across_journal_storages(journal_url):
    _assert_lock_excludes(journal_url)


def test_proposal_lock_excludes_across_postgres_connections(pg_url):
    _assert_lock_excludes(pg_url)


def test_proposal_lock_on_postgres_is_an_advisory_lock(pg_url):
    import optuna

    from invdesign.distributed import open_storage
    from invdesign.studies.locks import ProposalLock
    from invdesign.studies.optuna_internals import storage_of

    study = optuna.create_study(storage=open_storage(pg_url, heartbeat_interval=None))
    lock = ProposalLock(storage_of(study), study.study_name)  # Optuna's cache over the database
    assert lock.path is None and lock.engine is not None
    with lock:
        assert lock._conn is not None
