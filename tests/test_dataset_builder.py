"""Data-set builder: deterministic plans, MicroGen3D-layout shards, labels, resumption after a kill."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from generators.cahn_hilliard.dataset_builder import BuildConfig, build_dataset
from generators.cahn_hilliard.plan import grid_shape, plan_series

ROOT = Path(__file__).resolve().parents[1]


def count_engine(volumes, periodic=False):
    """A stand-in descriptor engine with independently known values (voxel counts)."""
    v = torch.as_tensor(volumes)
    n = v[0].numel()
    frac = [(v == k).flatten(1).double().sum(1) / n for k in range(3)]
    if (v == 2).any():
        return {"vol_frac_D": frac[0], "vol_frac_A": frac[1], "vol_frac_M": frac[2],
                "tortuosity_D": frac[0] / 2, "tortuosity_A": frac[1] / 2}
    stat_e = sum(((v.narrow(d, 1, v.shape[d] - 1) != v.narrow(d, 0, v.shape[d] - 1))
                  .flatten(1).double().sum(1)) for d in (1, 2, 3))
    names = ("ABS_wf_D", "DISS_wf10_D", "CT_f_e_conn", "CT_f_D_tort1", "CT_f_A_tort1")
    return {"STAT_e": stat_e, "ABS_f_D": frac[0], **{k: frac[0] * 0 + i for i, k in enumerate(names)}}


def small_config(**kw):
    base = dict(shape=(12, 12, 8), n_series=5, snapshots=2, t_min=5.0, t_max=40.0,
                phi_range=(0.4, 0.6), chi_range=(2.8, 3.5), phases=3, batch=2, seed=3)
    base.update(kw)
    return BuildConfig(**base)


def read_all(out: Path):
    samples = {}
    for shard in sorted(out.glob("shard_*.h5")):
        with h5py.File(shard, "r") as fh:
            for name in fh.keys():
                assert name not in samples, f"duplicate sample {name}"
                samples[name] = (fh[name][()], dict(fh[name].attrs))
    return samples


def test_lhs_plan_is_stratified_and_deterministic():
    plan = plan_series(10, (0.3, 0.7), (2.0, 4.0), "lhs", seed=1)
    phi = np.array([s.phi for s in plan])
    chi = np.array([s.chi for s in plan])
    assert sorted(np.floor((phi - 0.3) / 0.04 + 1e-12).astype(int)) == list(range(10))
    assert sorted(np.floor((chi - 2.0) / 0.2 + 1e-12).astype(int)) == list(range(10))
    assert plan == plan_series(10, (0.3, 0.7), (2.0, 4.0), "lhs", seed=1)
    assert plan != plan_series(10, (0.3, 0.7), (2.0, 4.0), "lhs", seed=2)
    assert len({s.seed for s in plan}) == 10


def test_grid_plan_covers_the_box():
    assert grid_shape(12) == (3, 4) and grid_shape(7) == (1, 7)
    plan = plan_series(6, (0.3, 0.7), (2.0, 4.0), "grid")
    assert sorted({s.phi for s in plan}) == [0.3, 0.7]
    assert sorted({round(s.chi, 9) for s in plan}) == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="design"):
        plan_series(6, (0.3, 0.7), (2.0, 4.0), "sobol")
    with pytest.raises(ValueError, match="phi"):
        plan_series(6, (0.0, 0.7), (2.0, 4.0))


def test_build_writes_labelled_shards_and_a_manifest(tmp_path):
    cfg = small_config()
    summary = build_dataset(tmp_path, cfg, describe_batch=count_engine, progress=False)
    assert summary["shards"] == 3 and summary["samples"] == 10
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["seed"] == 3 and len(manifest["plan"]) == 5
    assert sorted(manifest["shards"]) == ["shard_00000.h5", "shard_00001.h5", "shard_00002.h5"]
    samples = read_all(tmp_path)
    assert sorted(samples) == [f"sample_{i:07d}" for i in range(10)]
    plan = {s.index: s for s in cfg.plan()}
    distinct = 0
    for name, (vol, attrs) in samples.items():
        assert vol.dtype == np.uint8 and vol.shape == cfg.shape and set(np.unique(vol)) <= {0, 1, 2}
        i = int(name.split("_")[1])
        s = plan[i // 2]
        assert attrs["series"] == s.index and attrs["phi"] == s.phi and attrs["chi"] == s.chi
        assert attrs["log_time"] == pytest.approx(np.log10(cfg.times()[i % 2]))
        # every three-phase label is the engine's value for its own phase (count_engine: the
        # tortuosities are half the donor / acceptor fractions, so a swap shows)
        assert attrs["vol_frac_M"] == pytest.approx((vol == 2).mean())
        assert attrs["vol_frac_D"] == pytest.approx((vol == 0).mean())
        assert attrs["tortuosity_D"] == pytest.approx((vol == 0).mean() / 2)
        assert attrs["tortuosity_A"] == pytest.approx((vol == 1).mean() / 2)
        distinct += (vol == 0).mean() != pytest.approx((vol == 1).mean())
    assert distinct >= 3  # volumes where D and A differ: a swapped pair of labels cannot pass


def test_three_phase_labels_are_the_descriptor_engines_values(tmp_path):
    """With the real engine: each stored label equals objectives.describe of the stored volume."""
    import objectives

    cfg = small_config(n_series=2, snapshots=1, t_min=40.0)
    build_dataset(tmp_path, cfg, progress=False)
    samples = read_all(tmp_path)
    assert samples
    for vol, attrs in samples.values():
        assert 2 in np.unique(vol)
        d = objectives.describe(vol)
        for key in ("vol_frac_D", "vol_frac_M", "tortuosity_D", "tortuosity_A"):
            assert attrs[key] == pytest.approx(d[key], rel=1e-6), key


def test_two_phase_labels_include_norm_stat_e(tmp_path):
    cfg = small_config(phases=2, n_series=2, snapshots=1, t_min=40.0)
    build_dataset(tmp_path, cfg, describe_batch=count_engine, progress=False)
    for vol, attrs in read_all(tmp_path).values():
        pairs = sum((np.diff(vol.astype(int), axis=d) != 0).sum() for d in range(3))
        assert attrs["norm_STAT_e"] == pytest.approx(pairs / (3 * vol.size))
        assert attrs["ABS_f_D"] == pytest.approx((vol == 0).mean())


def test_resume_after_an_interruption_completes_without_duplicates(tmp_path):
    cfg = small_config()
    ref = tmp_path / "ref"
    build_dataset(ref, cfg, describe_batch=count_engine, progress=False)

    out = tmp_path / "out"

    def stop(shard):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(out, cfg, describe_batch=count_engine, progress=False, on_shard=stop)
    assert len(list(out.glob("shard_*.h5"))) == 1
    # a crash between the rename and the manifest update, and a half-written temp file
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] = {}
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "shard_00001.h5.tmp").write_bytes(b"half a shard")
    summary = build_dataset(out, cfg, describe_batch=count_engine, progress=False)
    assert summary["built_now"] == ["shard_00001.h5", "shard_00002.h5"]
    assert not list(out.glob("*.tmp"))
    got, want = read_all(out), read_all(ref)
    assert sorted(got) == sorted(want)
    for name in want:
        assert np.array_equal(got[name][0], want[name][0])
        assert got[name][1] == want[name][1]
    again = build_dataset(out, cfg, describe_batch=count_engine, progress=False)
    assert again["built_now"] == [] and again["samples"] == 10


def test_resume_after_a_kill(tmp_path):
    """Kill a building process (SIGKILL) after its first shard; re-running finishes the set."""
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_dataset_builder import count_engine, small_config
        from generators.cahn_hilliard.dataset_builder import build_dataset
        def hold(shard):
            print("shard", shard, flush=True)
            time.sleep(60)
        build_dataset({str(out)!r}, small_config(), describe_batch=count_engine, progress=False,
                      on_shard=hold)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("shard 0")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(list(out.glob("shard_*.h5"))) == 1
    summary = build_dataset(out, small_config(), describe_batch=count_engine, progress=False)
    assert summary["samples"] == 10 and len(read_all(out)) == 10


def test_a_different_configuration_is_refused(tmp_path):
    build_dataset(tmp_path, small_config(n_series=2), describe_batch=count_engine, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        build_dataset(tmp_path, small_config(n_series=2, seed=4), describe_batch=count_engine,
                      progress=False)


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError, match="phases"):
        small_config(phases=1)
    with pytest.raises(ValueError, match="batch"):
        small_config(batch=0)
    with pytest.raises(ValueError, match="shape"):
        small_config(shape=(8,))
    with pytest.raises(ValueError, match="chi"):
        small_config(chi_range=(4.0, 3.0))
