"""`invdesign design`, `verify` and `export` through typer's CliRunner (fake generator)."""

import json
import sys
import types

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import generators
import objectives
from invdesign.cli.main import app
from tests.design_fakes import BiasedFakeGenerator, FakeSimulator, fake_describe_batch

runner = CliRunner()


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    loaded = []

    def load(name, device="cpu"):
        if name != "fake":
            raise ValueError(f"unknown model {name!r}")
        loaded.append(device)
        return BiasedFakeGenerator(device)

    monkeypatch.setattr(generators, "load", load, raising=False)
    monkeypatch.setattr(objectives, "describe_batch", fake_describe_batch, raising=False)
    ch = types.ModuleType("generators.cahn_hilliard")
    ch.CahnHilliardGenerator = FakeSimulator
    monkeypatch.setitem(sys.modules, "generators.cahn_hilliard", ch)
    monkeypatch.setattr(generators, "cahn_hilliard", ch, raising=False)
    return loaded


def design_args(out, *extra):
    return ["design", "--model", "fake", "--target", "ABS_f_D=0.5", "--target", "CT_f_D_tort1=0.4",
            "--tolerance", "0.03", "--budget", "2", "--samples", "2", "--method", "random",
            "--out", str(out), *extra]


def test_design_cli_writes_candidates_and_json(tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(app, design_args(out, "--json"))
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["trials_complete"] == 2 and summary["candidates"] == 4
    assert summary["targets"] == {"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}
    table = pd.read_csv(out / "candidates.csv")
    assert len(table) == 4
    with np.load(out / table.loc[0, "file"]) as f:
        assert f["volume"].shape == (32, 32, 8)
    assert json.loads((out / "summary.json").read_text())["best"]["rank"] == 0


def test_design_cli_progress_and_resume(tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(app, design_args(out))
    assert r.exit_code == 0, r.output
    assert "2 trials, 4 candidates" in r.output
    r = runner.invoke(app, design_args(out, "--budget", "3", "--json"))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["trials_complete"] == 3


def test_design_cli_budget_zero_and_per_target_tolerance(tmp_path):
    out = tmp_path / "o"
    args = design_args(out, "--budget", "0")
    i = args.index("0.03")
    args[i - 1 : i + 1] = ["--tolerance", "ABS_f_D=0.01", "--tolerance", "CT_f_D_tort1=0.05"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "no trials run" in r.output
    assert (out / "study.journal").is_file()


@pytest.mark.parametrize(
    "change, message",
    [
        (("--target", "bogus=0.3"), "unknown descriptor bogus"),
        (("--target", "ABS_f_D"), "not of the form NAME=VALUE"),
        (("--tolerance", "0"), "must be > 0"),
        (("--budget", "-1"), "budget must be >= 0"),
        (("--method", "nope"), "unknown method"),
        (("--model", "missing"), "unknown model"),
    ],
)
def test_design_cli_bad_input_is_one_line(tmp_path, change, message):
    args = design_args(tmp_path / "o")
    flag, value = change
    if flag == "--target":
        args += [flag, value]
    else:
        args[args.index(flag) + 1] = value
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert r.output.startswith("error: ")
    assert message in r.output.replace("\n", "")
    assert "Traceback" not in r.output


def test_export_and_verify_cli(tmp_path):
    out = tmp_path / "o"
    assert runner.invoke(app, design_args(out)).exit_code == 0
    table = pd.read_csv(out / "candidates.csv")
    dest = tmp_path / "best.npz"
    r = runner.invoke(app, ["export", str(dest), "--out", str(out), "--rank", "1"])
    assert r.exit_code == 0, r.output
    with np.load(dest) as a, np.load(out / table.loc[1, "file"]) as b:
        assert np.array_equal(a["volume"], b["volume"])
    dest2 = tmp_path / "t.npz"
    r = runner.invoke(app, ["export", str(dest2), "--out", str(out), "--trial",
                            str(table.loc[1, "trial"]), "--sample", str(table.loc[1, "sample"])])
    assert r.exit_code == 0, r.output
    with np.load(dest) as a, np.load(dest2) as b:
        assert np.array_equal(a["volume"], b["volume"])
    r = runner.invoke(app, ["export", str(tmp_path / "c.npz"), "--candidate", str(dest)])
    assert r.exit_code == 0, r.output
    with np.load(dest) as a, np.load(tmp_path / "c.npz") as c:
        assert np.array_equal(a["volume"], c["volume"]) and str(a["attrs"]) == str(c["attrs"])
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, volume=np.array([{"a": 1}], dtype=object))
    r = runner.invoke(app, ["export", str(tmp_path / "p.npz"), "--candidate", str(pickled)])
    assert r.exit_code == 2 and "never loaded" in r.output and "allow_pickle" not in r.output
    r = runner.invoke(app, ["export", str(tmp_path / "x.npz"), "--out", str(out), "--rank", "99"])
    assert r.exit_code == 2 and "no candidate of rank 99" in r.output
    r = runner.invoke(app, ["export", str(tmp_path / "x.xyz"), "--out", str(out)])
    assert r.exit_code == 2 and "unknown format" in r.output
    r = runner.invoke(app, ["export", str(tmp_path / "x.npz"), "--out", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no design study" in r.output

    r = runner.invoke(app, ["verify", "--out", str(out), "--seeds", "2", "--json"])
    assert r.exit_code == 0, r.output
    v = json.loads(r.stdout)
    assert v["rank"] == 0 and len(v["samples"]) == 2
    assert v["recipe"]["phi"] == pytest.approx(table.loc[0, "phi"])
    r = runner.invoke(app, ["verify", "--out", str(out), "--seeds", "2"])
    assert r.exit_code == 0 and "distance to target" in r.output


@pytest.mark.parametrize("suffix", ["vti", "tif", "h5", "npz"])
def test_export_formats_round_trip(tmp_path, suffix):
    from objectives.io import read_sample, read_volume

    out = tmp_path / "o"
    assert runner.invoke(app, design_args(out)).exit_code == 0
    table = pd.read_csv(out / "candidates.csv")
    with np.load(out / table.loc[0, "file"]) as f:
        ref = f["volume"]
    r = runner.invoke(app, ["export", str(tmp_path / f"best.{suffix}"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    path = tmp_path / f"best.{suffix}"
    assert np.array_equal(read_volume(path), ref)
    if suffix in ("npz", "h5"):
        attrs = read_sample(path)[1]
        assert attrs["trial"] == table.loc[0, "trial"]
        assert attrs["ABS_f_D"] == pytest.approx(table.loc[0, "ABS_f_D"])
    r = runner.invoke(app, ["export", str(tmp_path / "x.npz"), "--format", suffix, "--out", str(out)])
    assert r.exit_code == 0 and r.output.strip().endswith(f"x.{suffix}")
