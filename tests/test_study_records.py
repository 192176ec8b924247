"""One trial-record type writes and reads a design trial's attributes; artifacts are hash-checked
whenever they are loaded."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import optuna
import pytest

from invdesign.studies.artifacts import ArtifactCorrupted, SafeArtifactStore, load_trial_arrays, save_trial_arrays
from invdesign.studies.records import TrialRecord

ROOT = Path(__file__).resolve().parents[1]


def test_record_round_trip_through_a_stored_trial(tmp_path):
    study = optuna.create_study(storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log"))))
    trial = study.ask()
    rec = TrialRecord(condition=[0.1, 0.2], worker="h:1", proposal="fallback", p_success=0.25,
                      fallback_reason="models could not be fitted", n=2, sample_seed=0, means={"a": 0.5},
                      variances={"a": 0.01}, samples={"a": [0.4, 0.6]}, predicted={"phi": [0.4, 0.5]},
                      recipe={"phi": 0.45},
                      surrogate_recipe={"phi": [0.41, 0.52], "chi": [2.0, 2.1], "log_time": [3.0, 3.1],
                                        "predicted_distance": [0.5, 0.4], "p_success": [0.6, 0.7]},
                      sample_distances=[1.5, 0.5], sample_success=[False, True],
                      success=True, mean_distance=0.2, artifact_id="x", artifact_sha256="0" * 64)
    rec.write(trial)
    study.tell(trial, 0.5)
    back = TrialRecord.read(study.get_trials()[0])
    assert back == rec and back.measured
    assert set(study.get_trials()[0].user_attrs) == set(TrialRecord.keys())
    assert not TrialRecord(condition=[0.1]).measured
    assert TrialRecord(condition=[0.1]).attrs() == {"condition": [0.1]}  # empty fields are not written


def test_the_keys_are_spelled_in_the_record_only():
    """No module of the project writes or reads a trial attribute by a string key of its own."""
    keys = set(TrialRecord.keys())
    pending: set[str] = set()
    offenders = []
    for top in ("invdesign", "apps"):
        for path in (ROOT / top).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if rel in pending or rel == "invdesign/studies/records.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                # trial.user_attrs["key"], .get("key"), set_user_attr("key", ...)
                if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                        and node.value.attr == "user_attrs" and isinstance(node.slice, ast.Constant) \
                        and node.slice.value in keys:
                    offenders.append(f"{rel}:{node.lineno}")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                        and isinstance(node.args[0], ast.Constant) and node.args[0].value in keys and (
                            node.func.attr == "set_user_attr" or (node.func.attr == "get" and isinstance(
                                node.func.value, ast.Attribute) and node.func.value.attr == "user_attrs")):
                    offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders
    from invdesign.loop import proposers

    assert proposers.CONDITION_ATTR in keys  # the proposers' key is the record's


def test_artifact_round_trip_and_every_fault_is_one_line(tmp_path):
    store = SafeArtifactStore(tmp_path / "art")
    study = optuna.create_study()
    trial = study.ask()
    vol = np.arange(24, dtype=np.uint8).reshape(1, 2, 3, 4) % 3
    aid, sha = save_trial_arrays(store, trial, volume=vol, condition=np.array([0.5]))
    got = load_trial_arrays(store, aid, sha)
    assert np.array_equal(got["volume"], vol) and got["volume"].dtype == np.uint8
    path = store.path(aid)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorrupted, match="artifact of trial 0 is corrupted \\(SHA-256 mismatch\\)"):
        load_trial_arrays(store, aid, sha, what="artifact of trial 0")
    with pytest.raises(ValueError, match="no SHA-256 recorded"):
        load_trial_arrays(store, aid, None)
    with pytest.raises(ValueError, match="none recorded"):
        load_trial_arrays(store, None, sha)
    path.unlink()
    with pytest.raises(ValueError, match="missing"):
        load_trial_arrays(store, aid, sha)
    # a hash that matches bytes that are not an .npz: refused, not unpickled
    junk = b"\x80\x04K\x01."  # a pickle
    import hashlib
    import io

    store.write("junk.npz", io.BytesIO(junk))
    with pytest.raises(ArtifactCorrupted, match="not a readable .npz"):
        load_trial_arrays(store, "junk.npz", hashlib.sha256(junk).hexdigest())


def test_results_and_workers_load_through_the_check(tmp_path):
    """A design's candidate volumes are hash-checked when loaded by DesignResult and by workers."""
    from invdesign import design
    from invdesign.distributed import read_artifact
    from invdesign.loop.results import load_trial_volumes
    from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

    res = design({"ABS_f_D": 0.5}, 0.05, model=BiasedFakeGenerator(), budget=2, samples_per_trial=2,
                 method="random", describe=fake_describe_batch, out_dir=tmp_path / "out")
    study = res.study
    rec = TrialRecord.read(study.get_trials()[1])
    store = SafeArtifactStore(res.settings.artifact_dir)
    assert load_trial_volumes(study, 1).shape[0] == 2
    store.path(rec.artifact_id).write_bytes(store.path(rec.artifact_id).read_bytes()[:-3])
    with pytest.raises(ArtifactCorrupted, match="trial 1"):
        load_trial_volumes(study, 1)
    with pytest.raises(ArtifactCorrupted, match="trial 1"):
        read_artifact(str(tmp_path / "out" / "study.journal"), "design", 1)
    assert load_trial_volumes(study, 0).shape[0] == 2  # the other trial is intact
