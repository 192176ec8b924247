"""`invdesign simulate` and `invdesign dataset ch` end to end (checked against the descriptor engine)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import objectives
from invdesign.cli.main import app



def test_simulate_writes_npz_and_prints_descriptors(tmp_path):
    out = tmp_path / "v.npz"
    res = CliRunner().invoke(app, ["simulate", "--phi", "0.4", "--chi", "3", "--time", "60",
                                   "--shape", "16,16,8", "--seed", "2", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    vol = np.load(out)["volume"]
    assert vol.shape == (16, 16, 8) and vol.dtype == np.uint8
    assert summary["descriptors"]["ABS_f_D"] == pytest.approx((vol == 0).mean())
    assert summary["descriptors"]["ABS_f_D"] == pytest.approx(0.4, abs=0.1)
    assert summary["mean_donor_fraction"] == pytest.approx(0.4, abs=1e-5)
    d = objectives.describe(vol)
    assert summary["descriptors"]["CT_f_D_tort1"] == pytest.approx(d["CT_f_D_tort1"])
    assert summary["descriptors"]["norm_STAT_e"] == pytest.approx(d["STAT_e"] / (3 * vol.size))


def test_simulate_prints_a_table_unless_json(tmp_path):
    out = tmp_path / "v.npz"
    res = CliRunner().invoke(app, ["simulate", "--phi", "0.4", "--chi", "3", "--time", "60",
                                   "--shape", "16,16,8", "--seed", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(res.stdout)
    vol = np.load(out)["volume"]
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in res.stdout.splitlines() if line.count("│") == 3}
    d = objectives.describe(vol)
    assert rows["ABS_f_D"] == f"{(vol == 0).mean():.6g}" and rows["STAT_n_D"] == f"{d['STAT_n_D']:.6g}"
    assert rows["CT_f_D_tort1"] == f"{d['CT_f_D_tort1']:.6g}"
    text = " ".join(res.stdout.split())
    assert "phi 0.4, chi 3, time 60" in text and "mean donor fraction 0.4" in text and "16x16x8" in text


def test_simulate_reports_progress_up_to_the_time():
    from invdesign.cli.simulate import run_simulation

    seen = []
    run_simulation(0.4, 3.0, 40.0, (8, 8, 4), 0, 2, "cpu", "float32", None, progress=seen.append)
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == pytest.approx(40.0)


def test_simulate_three_phases_to_other_formats(tmp_path):
    from objectives.io import read_volume

    out = tmp_path / "v.tif"
    res = CliRunner().invoke(app, ["simulate", "--phi", "0.5", "--chi", "3", "--time", "60",
                                   "--shape", "16,16,8", "--phases", "3", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    vol = read_volume(out)
    assert set(np.unique(vol)) == {0, 1, 2}
    assert json.loads(res.stdout)["descriptors"]["vol_frac_M"] == pytest.approx((vol == 2).mean())


def test_simulate_bad_input_is_one_line(tmp_path):
    for args in (["--phi", "1.5"], ["--phi", "0.5", "--shape", "16"],
                 ["--phi", "0.5", "--out", str(tmp_path / "v.xyz")], ["--phi", "0.5", "--phases", "4"]):
        res = CliRunner().invoke(app, ["simulate", "--chi", "3", "--time", "10", "--shape", "8,8,4",
                                       *([] if "--shape" not in args else []), *args])
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output and "error" in res.output


def test_dataset_ch_builds_and_resumes(tmp_path):
    from generators.datasets import H5VolumeDataset

    args = ["dataset", "ch", "--out", str(tmp_path), "--shape", "12,12,8", "--n-series", "3",
            "--snapshots", "2", "--t-min", "5", "--t-max", "40", "--phases", "2", "--batch", "2",
            "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["samples"] == 6 and len(summary["built_now"]) == 2
    names = ["ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1", "norm_STAT_e", "log_time"]
    ds = H5VolumeDataset(tmp_path, names)
    for i in range(len(ds)):
        vol, lab = ds[i]
        d = objectives.describe(vol[0].numpy().astype(np.uint8))
        assert lab[:3].tolist() == pytest.approx([d[k] for k in names[:3]], rel=1e-6)
    again = CliRunner().invoke(app, args)
    assert json.loads(again.stdout)["built_now"] == []
    clash = CliRunner().invoke(app, args[:-1] + ["--seed", "9"])
    assert clash.exit_code == 2 and "other settings" in clash.output
