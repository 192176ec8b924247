"""Faults a shared study survives: killed workers, full disks, unwritable directories, a database
that goes away and comes back, running out of GPU memory while sampling."""

from __future__ import annotations

import builtins
import hashlib
import os
import signal
import time

import pytest
import torch
from optuna.trial import TrialState

import invdesign.studies.artifacts as artifacts_mod
from invdesign.distributed import WorkerError, read_artifact, run_worker
from tests.pg import journal_url, load, make_study, pg_control, pg_url, spawn_worker, wait_for  # noqa: F401
from tests.workers_fake import FakeGenerator, register

register()
BEATS = ("--heartbeat-interval", "1", "--grace-period", "2")


def artifact_of(trial) -> tuple[str, str]:
    """A trial's artifact id and recorded SHA-256."""
    return trial.user_attrs["artifact_id"], trial.user_attrs["artifact_sha256"]


def _hashes(art_dir) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(art_dir.iterdir())}


def _kill_mid_trial_then_resume(url, tmp_path):
    art = tmp_path / "out" / "artifacts"
    name = make_study(url, tmp_path / "out")
    p = spawn_worker(url, name, 6, *BEATS, env={"FAKE_SLEEP_S": "1.5"})
    try:
        wait_for(lambda: len(load(url, name).get_trials(states=(TrialState.COMPLETE,))) >= 2
                 and len(load(url, name).get_trials(states=(TrialState.RUNNING,))) == 1, timeout=120)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    study = load(url, name)
    before = {t.number: artifact_of(t) for t in study.get_trials(states=(TrialState.COMPLETE,))}
    killed = study.get_trials(states=(TrialState.RUNNING,))
    assert len(killed) == 1
    hashes = _hashes(art)
    time.sleep(2.5)  # past the grace period: the dead worker's trial is stale

    summary = run_worker(url, name, 2, heartbeat_interval=1, grace_period=2)
    assert len(summary.completed) == 2
    study = load(url, name)
    dead = study.trials[killed[0].number]
    assert dead.state == TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == dead.params
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    # nothing completed before the kill was lost or changed
    after = _hashes(art)
    assert all(after[k] == v for k, v in hashes.items())
    for number, meta in before.items():
        assert study.trials[number].state == TrialState.COMPLETE
        assert artifact_of(study.trials[number]) == meta
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        read_artifact(url, name, t.number)  # raises on a hash mismatch


def test_kill_9_then_resume_journal(journal_url, tmp_path):
    _kill_mid_trial_then_resume(journal_url, tmp_path)


def test_kill_9_then_resume_postgres(pg_url, tmp_path):
    _kill_mid_trial_then_resume(pg_url, tmp_path)


def test_unwritable_artifact_directory_is_refused_before_any_trial(journal_url, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    name = make_study(journal_url, tmp_path / "out")
    with pytest.raises(ValueError, match="artifact directory"):
        run_worker(journal_url, name, 1, artifacts=blocker / "art")
    with pytest.raises(ValueError, match="not a directory"):
        run_worker(journal_url, name, 1, artifacts=blocker)
    assert load(journal_url, name).trials == []


def test_full_disk_fails_the_trial_cleanly(journal_url, tmp_path, monkeypatch):
    art = tmp_path / "out" / "artifacts"
    name = make_study(journal_url, tmp_path / "out")
    run_worker(journal_url, name, 1)
    good = _hashes(art)

    real_open = builtins.open

    def full_open(path, mode="r", *a, **k):  # writes hit a device with no space left
        if "w" in mode and str(path).endswith(".tmp"):
            return real_open("/dev/full", mode, *a, **k)
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(artifacts_mod, "open", full_open, raising=False)
    with pytest.raises(OSError, match="No space left on device"):
        run_worker(journal_url, name, 1)
    monkeypatch.undo()
    study = load(journal_url, name)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert "artifact_id" not in study.trials[1].user_attrs
    assert _hashes(art) == good, "a partial artifact was left behind"
    run_worker(journal_url, name, 1)  # the study goes on once there is space again
    assert load(journal_url, name).trials[2].state == TrialState.COMPLETE


def test_cuda_oom_once_falls_back_to_smaller_batches(journal_url, tmp_path):
    from invdesign.distributed import register_generator

    gens = []

    def factory(device="cpu"):
        gens.append(FakeGenerator(device=device, oom_once=True))
        return gens[-1]

    register_generator("fake-oom", factory)
    name = make_study(journal_url, tmp_path / "out", n_samples=4, model="fake-oom")
    summary = run_worker(journal_url, name, 2)
    assert len(summary.completed) == 2 and summary.batch_size == 2
    assert gens[-1].calls == [4, 2, 2, 2, 2]  # the batch stays small after the first OOM
    arrays = read_artifact(journal_url, name, 0)
    assert arrays["volume"].shape[0] == 4


def test_cuda_oom_at_batch_one_stops_with_a_clear_message(journal_url, tmp_path):
    from invdesign.distributed import register_generator

    class AlwaysOOM(FakeGenerator):
        def sample(self, conditions, n=1, seed=None):
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    register_generator("fake-always-oom", lambda device="cpu": AlwaysOOM(device=device))
    name = make_study(journal_url, tmp_path / "out", n_samples=4, model="fake-always-oom")
    with pytest.raises(WorkerError, match="out of GPU memory"):
        run_worker(journal_url, name, 1)
    assert [t.state for t in load(journal_url, name).trials] == [TrialState.FAIL]


def test_database_goes_away_and_comes_back(pg_url, tmp_path):
    if not os.path.exists(os.environ.get("INVDESIGN_PG_STATE", "/tmp/invdesign-ci-pg")):
        pytest.skip("server not started by scripts/ci_postgres.sh (cannot pause it)")
    name = make_study(pg_url, tmp_path / "out")
    p = spawn_worker(pg_url, name, 6, *BEATS, env={"FAKE_SLEEP_S": "1.5"})
    try:
        wait_for(lambda: len(load(pg_url, name).get_trials(states=(TrialState.COMPLETE,))) >= 1
                 and len(load(pg_url, name).get_trials(states=(TrialState.RUNNING,))) == 1, timeout=120)
        pg_control("pause")
        out, err = p.communicate(timeout=120)
    finally:
        pg_control("resume")
        if p.poll() is None:
            p.kill()
    password = pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert p.returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    message = " ".join(err[err.index("error:"):].split())  # rich may wrap the line at 80 columns
    assert "lost storage" in message and "***" in message, err[-2000:]
    assert password not in out + err
    study = load(pg_url, name)
    n_complete = len(study.get_trials(states=(TrialState.COMPLETE,)))
    time.sleep(2.5)
    summary = run_worker(pg_url, name, 2, wait_s=30, heartbeat_interval=1, grace_period=2)
    assert len(summary.completed) == 2
    study = load(pg_url, name)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == n_complete + 2
    assert not study.get_trials(states=(TrialState.RUNNING,))
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        read_artifact(pg_url, name, t.number)


def test_kill_9_on_a_design_loop_study(journal_url, tmp_path):
    """A worker on a study made by `design --budget 0` dies mid-trial; the next one goes on."""
    from tests.workers_fake import make_loop_study

    make_loop_study(journal_url, tmp_path / "out", "d")
    art = tmp_path / "out" / "artifacts"
    p = spawn_worker(journal_url, "d", 6, *BEATS, env={"FAKE_SLEEP_S": "1.5"})
    try:
        wait_for(lambda: len(load(journal_url, "d").get_trials(states=(TrialState.COMPLETE,))) >= 2
                 and len(load(journal_url, "d").get_trials(states=(TrialState.RUNNING,))) == 1, timeout=120)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    hashes = _hashes(art)
    killed = load(journal_url, "d").get_trials(states=(TrialState.RUNNING,))[0].number
    time.sleep(2.5)
    summary = run_worker(journal_url, "d", 2, heartbeat_interval=1, grace_period=2)
    assert len(summary.completed) == 2
    study = load(journal_url, "d")
    assert study.trials[killed].state == TrialState.FAIL
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == len(hashes) + 2
    after = _hashes(art)
    assert all(after[k] == v for k, v in hashes.items())
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
