"""`invdesign surrogate`, `invdesign recipe` and `invdesign verify --phi/--chi/--time` through
typer's CliRunner, on a copy of a shipped model and the small stand-in label table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from invdesign.cli.main import app

runner = CliRunner()
TABLE = Path(__file__).parent / "data" / "ch_labels_32.csv"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A copy of ch2-default with a surrogate of ABS_f_D fitted by `invdesign surrogate`."""
    from generators.diffusion.model_dir import WEIGHTS_DIR

    d = tmp_path_factory.mktemp("m") / "model"
    shutil.copytree(WEIGHTS_DIR / "ch2-default", d)
    (d / "surrogate.safetensors").unlink(missing_ok=True)
    r = runner.invoke(app, ["surrogate", "--table", str(TABLE), "--model", str(d), "-d", "ABS_f_D", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["descriptors"] == ["ABS_f_D"] and s["series"] == 40
    assert s["held_out"]["descriptors"]["ABS_f_D"]["r2"] > 0.95
    assert Path(s["file"]) == d / "surrogate.safetensors"
    return d


@pytest.fixture
def small_simulator(monkeypatch):
    """Verification on a 16x16x8 grid with the default physics (seconds, not minutes)."""
    import invdesign.verification as verification
    from generators.cahn_hilliard import CahnHilliardGenerator

    made = []

    def small(device="cpu", shape=None, phases=2, model=None):
        made.append(CahnHilliardGenerator(shape=(16, 16, 8), phases=phases))
        return made[-1]

    monkeypatch.setattr(verification, "default_simulator", small)
    return made


def test_recipe_prediction_only_json(model_dir):
    r = runner.invoke(app, ["recipe", "--model", str(model_dir), "-t", "ABS_f_D=0.45", "--verify-recipes", "0",
                            "--recipes", "3", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["state"] == "finished" and s["surrogate"] == "model" and len(s["recipes"]) == 3
    for rec in s["recipes"]:
        assert {"phi", "chi", "time", "verification"} <= set(rec) and rec["verification"] is None
        assert rec["predicted"]["ABS_f_D"]["mean"] == pytest.approx(0.45, abs=0.03)
    assert s["pathway"] and all(p["time"] > 0 for p in s["pathway"])


def test_recipe_verifies_with_the_simulator_and_resumes(model_dir, small_simulator, tmp_path):
    args = ["recipe", "--model", str(model_dir), "-t", "ABS_f_D=0.45", "--verify-recipes", "1",
            "--verify-seeds", "2", "--bound", "time=300:1000", "--out", str(tmp_path / "o")]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    first = s["recipes"][0]
    assert 300 <= first["time"] <= 1000.001
    v = first["verification"]
    assert v["seeds"] == 2 and len(v["samples"]) == 2
    # the simulator's donor fraction follows phi: the verified recipe lands near the target
    assert v["mean"]["ABS_f_D"] == pytest.approx(0.45, abs=0.06)
    runs = sorted((tmp_path / "o" / "runs").rglob("run_*.npz"))
    assert len(runs) == 2
    r2 = runner.invoke(app, args)
    assert r2.exit_code == 0, r2.output
    assert r2.output.count("read back") == 2
    assert "meets every target" in r2.output or "no verified recipe" in r2.output
    assert sorted((tmp_path / "o" / "runs").rglob("run_*.npz")) == runs


def test_verify_any_recipe_keeps_its_runs(small_simulator, tmp_path):
    args = ["verify", "--phi", "0.5", "--chi", "3.2", "--time", "400", "-t", "ABS_f_D=0.5",
            "--tolerance", "0.05", "--seeds", "2", "--runs", str(tmp_path / "r"), "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["recipe"]["time"] == pytest.approx(400) and s["recipe_source"] == "fp"
    assert len(s["samples"]) == 2 and abs(s["mean"]["ABS_f_D"] - 0.5) < 0.1
    assert len(list((tmp_path / "r").rglob("run_*.npz"))) == 2
    again = runner.invoke(app, args[:-1])
    assert again.exit_code == 0 and again.output.count("read back") == 2, again.output
    assert "recipe phi=0.5 chi=3.2 time=400" in again.output


@pytest.mark.parametrize("extra, message", [
    (["-t", "CT_f_A_tort1=0.5"], "does not model CT_f_A_tort1"),
    (["-t", "ABS_f_D=0.5", "--tolerance", "0"], "tolerance"),
    (["-t", "ABS_f_D=0.5", "--bound", "time=300"], "NAME=LOW:HIGH"),
    (["-t", "ABS_f_D=0.5", "--verify-seeds", "0"], "verify_seeds"),
    (["-t", "ABS_f_D=0.5", "--table", "nope.csv"], "no label table"),
])
def test_recipe_bad_input(model_dir, extra, message):
    r = runner.invoke(app, ["recipe", "--model", str(model_dir), *extra, "--verify-recipes", "0"])
    assert r.exit_code == 2 and message in r.output.replace("\n", "") and "Traceback" not in r.output


def test_model_without_surrogate_says_how_to_get_one(tmp_path):
    from generators.diffusion.model_dir import WEIGHTS_DIR

    bare = tmp_path / "bare"  # a copy of ch3-default without its surrogate
    shutil.copytree(WEIGHTS_DIR / "ch3-default", bare)
    (bare / "surrogate.safetensors").unlink()
    r = runner.invoke(app, ["recipe", "--model", str(bare), "-t", "vol_frac_D=0.4", "--verify-recipes", "0"])
    assert "surrogate.safetensors" in r.output.replace("\n", ""), r.output
    assert r.exit_code == 2 and "invdesign surrogate --table" in r.output.replace("\n", "")
    r = runner.invoke(app, ["surrogate", "--table", str(tmp_path / "none.csv"), "--model", str(bare)])
    assert r.exit_code == 2 and "no label table" in r.output
    r = runner.invoke(app, ["verify", "--phi", "0.5", "--chi", "3", "-t", "ABS_f_D=0.5"])
    assert r.exit_code == 2 and "--time" in r.output
