"""The design loop on a fast, deliberately biased fake generator (see tests/design_fakes.py)."""

import json

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

from invdesign import DesignResult, design, run_trials
from invdesign.loop.results import load_trial_volumes
from invdesign.studies.optuna_internals import storage_of
from invdesign.studies.study import Settings
from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

TARGETS = {"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}
TOL = 0.03


def run(tmp_path, name="run", **kw):
    kw.setdefault("model", BiasedFakeGenerator())
    kw.setdefault("describe", fake_describe_batch)
    kw.setdefault("tolerance", TOL)
    return design(TARGETS, out_dir=tmp_path / name, **kw)


def test_fake_is_biased_so_direct_conditioning_misses(tmp_path):
    res = run(tmp_path, method="direct", budget=4)
    assert not res.success
    assert res.best["distance"] > 3
    # direct conditioning runs the target as the condition, resampled with new seeds
    assert np.allclose(res.candidates["condition_ABS_f_D"], 0.5)
    assert res.candidates.groupby("trial")["ABS_f_D"].mean().nunique() == 4


@pytest.mark.slow
def test_composite_bo_beats_direct_conditioning(tmp_path):
    direct = run(tmp_path, "direct", method="direct", budget=12)
    bo = run(tmp_path, "bo", method="bo", budget=12)
    assert bo.best["distance"] < 0.25 * direct.best["distance"]
    assert bo.best["distance"] < 2.0  # within ~2 tolerances (it meets them with this seed)
    assert bool(bo.best["success"]) == bo.success
    # the first trial of the BO is the direct condition (initial design), then Sobol points
    first = bo.candidates[bo.candidates.trial == 0].iloc[0]
    assert first["condition_ABS_f_D"] == pytest.approx(0.5)
    assert first["condition_CT_f_D_tort1"] == pytest.approx(0.4)
    # the winning condition compensates the fake's bias: donor-fraction condition above target
    assert bo.best["condition_ABS_f_D"] > 0.55


def test_result_table_ranked_and_flagged(tmp_path):
    res = run(tmp_path, method="random", budget=3, samples_per_trial=2)
    c = res.candidates
    assert len(c) == 6 and list(c["rank"]) == list(range(6))
    assert c["distance"].is_monotonic_increasing
    for col in ("trial", "sample", "condition_ABS_f_D", "condition_CT_f_D_tort1", "ABS_f_D",
                "CT_f_D_tort1", "distance", "success", "phi", "chi", "log_time", "time"):
        assert col in c.columns
    assert np.allclose(c["time"], 10.0 ** c["log_time"])
    # the distance column is the max normalised error of the measured values
    err = np.maximum(abs(c["ABS_f_D"] - 0.5), abs(c["CT_f_D_tort1"] - 0.4)) / TOL
    assert np.allclose(c["distance"], err)
    assert (c["success"] == (c["distance"] <= 1)).all()
    assert res.best["rank"] == 0 and res.success == bool(c["success"].any())


def test_candidates_written_and_readable(tmp_path):
    res = run(tmp_path, method="random", budget=2, samples_per_trial=2)
    out = tmp_path / "run"
    assert len(res.files) == 4
    table = pd.read_csv(out / "candidates.csv")
    assert len(table) == 4
    for _, row in table.iterrows():
        with np.load(out / row["file"]) as f:
            vol = f["volume"]
        assert vol.dtype == np.uint8 and vol.shape == (32, 32, 8)
        assert np.array_equal(vol, res.volume(int(row["rank"])))
        # the stored volume measures what the table says
        d = fake_describe_batch(torch.from_numpy(vol)[None])
        assert float(d["ABS_f_D"]) == pytest.approx(row["ABS_f_D"], abs=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials_complete"] == 2 and summary["candidates"] == 4
    assert summary["targets"] == TARGETS and summary["model"] == "fake-biased"


def test_study_holds_settings_trials_and_artifacts(tmp_path):
    res = run(tmp_path, method="random", budget=2, samples_per_trial=3)
    study = res.study
    s = Settings.from_study(study)
    assert s.targets == TARGETS and s.tolerances == {k: TOL for k in TARGETS}
    assert s.method == "random" and s.samples_per_trial == 3
    assert study.user_attrs["model"] == "fake-biased"
    for t in study.trials:
        assert t.state == TrialState.COMPLETE
        assert set(t.params) == {"ABS_f_D", "CT_f_D_tort1"}
        assert t.user_attrs["condition"] == pytest.approx([t.params["ABS_f_D"], t.params["CT_f_D_tort1"]])
        assert set(t.user_attrs["recipe"]) == {"phi", "chi", "log_time"}
        metas = optuna.artifacts.get_all_artifact_meta(t, storage=storage_of(study))
        assert len(metas) == 1 and metas[0].filename.endswith(".npz")
        vols = load_trial_volumes(study, t.number)
        assert vols.shape == (3, 32, 32, 8)
        means = fake_describe_batch(torch.from_numpy(vols))
        assert t.user_attrs["means"]["ABS_f_D"] == pytest.approx(float(means["ABS_f_D"].mean()), abs=1e-6)
    # the journal file is plain Optuna storage: another process can load it
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "run" / "study.journal")))
    again = optuna.load_study(study_name="design", storage=storage)
    assert len(again.trials) == 2


def test_budget_zero_creates_study_only(tmp_path):
    res = run(tmp_path, method="bo", budget=0)
    assert len(res.study.trials) == 0 and res.best is None and not res.success
    assert Settings.from_study(res.study).targets == TARGETS


def test_resume_continues_without_lost_or_repeated_trials(tmp_path):
    first = run(tmp_path, method="bo", budget=3)
    conds = [t.user_attrs["condition"] for t in first.study.trials]
    second = run(tmp_path, method="bo", budget=5)
    trials = second.study.trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert [t.user_attrs["condition"] for t in trials[:3]] == conds
    # no trial ran twice: every condition is new, except the BO's resamples of one run before
    fresh = [tuple(np.round(t.user_attrs["condition"], 9)) for t in trials if t.user_attrs["proposal"] != "resample"]
    assert len(set(fresh)) == len(fresh) >= 3
    for t in trials:
        if t.user_attrs["proposal"] == "resample":
            assert tuple(np.round(t.user_attrs["condition"], 9)) in fresh[: t.number]
    # same budget again: nothing more to do
    third = run(tmp_path, method="bo", budget=5)
    assert len(third.study.trials) == 5
    # the candidate files are those of the current ranking only
    files = sorted(p.name for p in (tmp_path / "run" / "candidates").glob("*.npz"))
    assert len(files) == 5 * 4 and files == sorted(p.name for p in third.files)


class DiesOnCall(BiasedFakeGenerator):
    """Raises on its ``k``-th sample call (an interrupted run)."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def sample(self, conditions, n=1, seed=None):
        if self.calls + 1 == self.k:
            self.calls += 1
            raise KeyboardInterrupt
        return super().sample(conditions, n, seed)


def test_interrupted_run_resumes(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, method="random", budget=5, model=DiesOnCall(3))
    from invdesign.studies.study import open_existing

    study = open_existing(None, tmp_path / "run", None)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL]
    res = run(tmp_path, method="random", budget=5)
    states = [t.state for t in res.study.trials]
    assert states.count(TrialState.COMPLETE) == 5 and states.count(TrialState.FAIL) == 1
    assert len(res.candidates) == 5 * 4


def test_stale_running_trial_marked_failed_on_resume(tmp_path):
    res = run(tmp_path, method="random", budget=1)
    res.study.ask()  # a trial left RUNNING by a run that died
    res2 = run(tmp_path, method="random", budget=2)
    states = [t.state for t in res2.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]


def test_resume_with_other_settings_is_refused(tmp_path):
    run(tmp_path, method="random", budget=1)
    with pytest.raises(ValueError, match="exists with other settings.*targets"):
        design({"ABS_f_D": 0.6, "CT_f_D_tort1": 0.4}, TOL, model=BiasedFakeGenerator(), budget=1,
               method="random", out_dir=tmp_path / "run", describe=fake_describe_batch)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(targets={"nope": 0.5}), "unknown descriptor nope"),
        (dict(targets={"ABS_f_D": 1.5}), "out of range"),
        (dict(targets={"ABS_f_D": 0.95}), "training range"),
        (dict(tolerance=0.0), "must be > 0"),
        (dict(tolerance=-1.0), "must be > 0"),
        (dict(budget=-1), "budget must be >= 0"),
        (dict(budget=2.5), "budget must be an integer"),
        (dict(samples_per_trial=0), "samples_per_trial must be >= 1"),
        (dict(method="sgd"), "unknown method"),
        (dict(time_budget=0), "time_budget"),
        (dict(model=object()), "model must be"),
    ],
)
def test_bad_input(tmp_path, kw, match):
    args = dict(targets=TARGETS, tolerance=TOL, model=BiasedFakeGenerator(), budget=1,
                describe=fake_describe_batch, out_dir=tmp_path)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        design(**args)
    assert not (tmp_path / "study.journal").exists()


@pytest.mark.parametrize("method", ["tpe", "gp", "random"])
def test_baselines_run_behind_same_interface(tmp_path, method):
    res = run(tmp_path, method=method, budget=3, samples_per_trial=2)
    assert isinstance(res, DesignResult) and len(res.candidates) == 6
    assert Settings.from_study(res.study).method == method


def test_bo_with_batches_and_sqlite_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'designs.db'}"
    res = design(TARGETS, TOL, model=BiasedFakeGenerator(), budget=6, batch_size=2, method="bo",
                 storage=url, study_name="batched", out_dir=tmp_path / "o", n_initial=2,
                 describe=fake_describe_batch)
    trials = res.study.trials
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    conds = [tuple(t.user_attrs["condition"]) for t in trials]
    assert len(set(conds)) == 6  # a batch's second point differs from its first (pending)
    assert optuna.load_study(study_name="batched", storage=url).user_attrs["method"] == "bo"


def test_time_budget_stops_early(tmp_path):
    res = run(tmp_path, method="random", budget=50, time_budget=1e-9)
    assert len(res.study.trials) == 0


def test_run_trials_reads_everything_from_the_study(tmp_path):
    res = run(tmp_path, method="random", budget=0)
    done = run_trials(res.study, BiasedFakeGenerator(), 2, describe=fake_describe_batch)
    assert done == 2 and len(res.study.trials) == 2
    with pytest.raises(ValueError, match="differ from the study"):
        class Other(BiasedFakeGenerator):
            condition_names = ("a", "b")
        run_trials(res.study, Other(), 1, describe=fake_describe_batch)
    with pytest.raises(ValueError, match=">= 0"):
        run_trials(res.study, BiasedFakeGenerator(), -1, describe=fake_describe_batch)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_design_on_cuda_measures_on_the_generator_device(tmp_path):
    fake_describe_batch.devices.clear()
    res = run(tmp_path, method="bo", budget=4, model=BiasedFakeGenerator("cuda"), device="cuda",
              n_initial=2)
    assert len(res.candidates) == 16
    assert fake_describe_batch.devices and set(fake_describe_batch.devices) == {"cuda"}


def test_default_measurement_is_objectives_describe_batch(tmp_path):
    pytest.importorskip("objectives.descriptors")
    res = design({"ABS_f_D": 0.5, "CT_f_A_tort1": 0.3}, 0.05, model=BiasedFakeGenerator(),
                 budget=2, method="random", out_dir=tmp_path)
    c = res.candidates
    assert {"STAT_n", "CT_f_e_conn", "CT_f_A_tort1"} <= set(c.columns)
    # ABS_f_D is the donor voxel fraction: recompute it from the written volumes
    for _, row in c.head(3).iterrows():
        assert float((res.volume(int(row["rank"])) == 0).mean()) == pytest.approx(row["ABS_f_D"], abs=1e-6)
    with pytest.raises(ValueError, match="unknown descriptor vol_frac_D"):
        design({"vol_frac_D": 0.5}, 0.05, model=BiasedFakeGenerator(), budget=1, out_dir=tmp_path / "x")


def test_should_stop_ends_the_run_between_trials(tmp_path):
    """``should_stop`` is asked before each trial: the run ends there, what is complete stays."""
    done = []
    res = design(TARGETS, TOL, model=BiasedFakeGenerator(), budget=6, method="random", samples_per_trial=2,
                 out_dir=tmp_path / "run", describe=fake_describe_batch, callback=done.append,
                 should_stop=lambda: len(done) >= 2)
    assert [t.state for t in res.study.trials] == [TrialState.COMPLETE] * 2
    assert len(res.candidates) == 2 * 2
    res = design(TARGETS, TOL, model=BiasedFakeGenerator(), budget=6, method="random", samples_per_trial=2,
                 out_dir=tmp_path / "run", describe=fake_describe_batch, should_stop=lambda: False)
    assert [t.state for t in res.study.trials] == [TrialState.COMPLETE] * 6
