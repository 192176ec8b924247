"""End-to-end training of the `tiny` preset on a synthetic data set (CPU, seconds)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import generators
from generators.diffusion.data import load_shards
from generators.diffusion.presets import load_train_config
from generators.diffusion.synthetic import write_synthetic_shards
from generators.diffusion.training import train
from generators.protocol import Generator

SHAPE = (16, 16, 8)
CONDS = ["vol_frac_D", "interface_frac"]
STEPS = 40


def tiny_config(**over):
    return load_train_config(preset="tiny", overrides={"conditions": CONDS, "log_every": 10, **over})


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("shards"), n=24, shape=SHAPE, seed=1)


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    result = train("all", load_shards(shards), tiny_config(), out, steps=STEPS, progress=False)
    return out, result


def test_losses_fall(trained):
    _, result = trained
    for stage, key in (("vae", "val"), ("fp", "train"), ("denoiser", "val")):
        h = result[stage]["history"]
        assert result[stage]["steps"] == STEPS
        assert h[-1][key] < 0.9 * h[0][key], (stage, h)


def test_model_directory_loads_and_samples(trained, shards):
    out, _ = trained
    assert {"config.json", "vae.safetensors", "fp.safetensors", "denoiser.safetensors"} <= {p.name for p in out.iterdir()}
    g = generators.load(out)
    assert isinstance(g, Generator)
    assert g.condition_names == tuple(CONDS) and g.phases == 2 and g.shape == SHAPE
    data = load_shards(shards)
    lo = [data.labels[k].min() for k in CONDS]
    hi = [data.labels[k].max() for k in CONDS]
    assert torch.allclose(g.bounds, torch.tensor([lo, hi], dtype=torch.float64))
    cond = g.bounds.mean(0, keepdim=True).repeat(2, 1)
    s = g.sample(cond, n=3, seed=5, steps=5)
    assert s.volumes.shape == (6, *SHAPE) and s.volumes.dtype == torch.uint8
    assert set(s.volumes.unique().tolist()) <= {0, 1}
    assert s.latents.shape == (6, *g.latent_shape) and s.conditions.shape == (6, 2)
    assert {"phi", "chi", "log_time", "vol_frac_D"} <= set(s.predicted) == set(g.predicted_names)
    assert all(v.shape == (6,) and torch.isfinite(v).all() for v in s.predicted.values())
    again = g.sample(cond, n=3, seed=5, steps=5)
    other = g.sample(cond, n=3, seed=6, steps=5)
    assert torch.equal(s.latents, again.latents) and not torch.equal(s.latents, other.latents)
    for sampler in ("ddim", "ancestral"):
        s2 = g.sample(cond[:1], n=2, seed=0, sampler=sampler, steps=4, guidance=2.0)
        assert s2.volumes.shape == (2, *SHAPE)


def test_trained_model_records_the_default_physics(trained):
    """``invdesign train`` writes the simulator block itself: recipes are verified with the
    project's one physics (CHParams defaults) at the model's shape."""
    from dataclasses import asdict

    from generators.cahn_hilliard import CHParams

    g = generators.load(trained[0])
    block = json.loads((trained[0] / "config.json").read_text())["simulator"]
    assert block == {"shape": list(SHAPE), "upsample": 1, "params": asdict(CHParams())}
    sim = g.recipe_simulator()
    assert sim.params == CHParams() and sim.params.kappa == 1.0 and sim.params.mobility == 1.0
    assert sim.shape == SHAPE and sim.phases == g.phases and sim.upsample == 1


def test_fp_is_better_than_the_mean_on_training_volumes(trained, shards):
    # encode -> FP recovers the donor fraction better than predicting its mean
    g = generators.load(trained[0])
    data = load_shards(shards)
    pred = g.predict(g.encode(data.volumes))["vol_frac_D"].numpy()
    y = data.labels["vol_frac_D"]
    assert np.mean((pred - y) ** 2) < np.var(y)


def test_resume_continues_from_the_checkpoint(shards, tmp_path):
    data = load_shards(shards)
    train("vae", data, tiny_config(), tmp_path, steps=10, progress=False)
    first = json.loads((tmp_path / "checkpoints" / "vae_state.json").read_text())
    w10 = (tmp_path / "checkpoints" / "vae.safetensors").read_bytes()
    r = train("vae", data, tiny_config(), tmp_path, steps=20, resume=True, progress=False)
    assert first["step"] == 10 and r["vae"]["steps"] == 20
    assert [h["step"] for h in r["vae"]["history"]] == [10, 20]
    assert (tmp_path / "checkpoints" / "vae.safetensors").read_bytes() != w10
    # a later stage without its predecessor says so
    with pytest.raises(ValueError, match="train it first"):
        train("fp", data, tiny_config(), tmp_path / "other", steps=2, progress=False)


def test_three_phase_pipeline(tmp_path):
    d = write_synthetic_shards(tmp_path / "s3", n=12, shape=SHAPE, phases=3, seed=2)
    out = tmp_path / "m3"
    train("all", load_shards(d), tiny_config(conditions=["vol_frac_D", "vol_frac_M"]), out, steps=3, progress=False)
    g = generators.load(out)
    assert g.phases == 3
    assert g.inequality_constraints == [([0, 1], [-1.0, -1.0], -1.0)]
    s = g.sample(g.bounds.mean(0, keepdim=True), n=2, seed=0, steps=3)
    assert s.volumes.shape == (2, *SHAPE) and int(s.volumes.max()) <= 2


def test_bad_inputs(trained, shards, tmp_path):
    g = generators.load(trained[0])
    with pytest.raises(ValueError, match=r"conditions must be \(m, 2\)"):
        g.sample(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="NaN"):
        g.sample(torch.tensor([[float("nan"), 0.1]]))
    with pytest.raises(ValueError, match="shipped models"):
        generators.load("no-such-model")
    with pytest.raises(ValueError, match="not labels"):
        train("vae", load_shards(shards), tiny_config(conditions=["nope"]), tmp_path, steps=1, progress=False)
    with pytest.raises(ValueError, match="unknown stage"):
        train("gan", load_shards(shards), tiny_config(), tmp_path, steps=1, progress=False)
    with pytest.raises(ValueError, match="unknown preset"):
        load_train_config(preset="huge")


def test_cli_train(shards, tmp_path):
    from invdesign.cli.main import app

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"conditions": CONDS}))
    out = tmp_path / "cli_model"
    args = ["train", "all", "--data", str(shards), "--preset", "tiny", "--config", str(cfg), "--out", str(out),
            "--steps", "2", "--quiet"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{"):])
    assert summary["denoiser"]["steps"] == 2 and summary["model_dir"] == str(out)
    assert generators.load(out).shape == SHAPE
    bad = CliRunner().invoke(app, ["train", "vae", "--data", str(tmp_path / "none"), "--preset", "tiny", "--out", str(out)])
    assert bad.exit_code == 2 and "no HDF5 shards" in bad.output
    both = CliRunner().invoke(app, [*args[:-3], "--steps", "2", "--epochs", "1"])
    assert both.exit_code == 2 and "not both" in both.output
    # --epochs: one pass over the 22 training samples at the tiny VAE batch of 8 -> 3 steps
    ep = CliRunner().invoke(app, ["train", "vae", "--data", str(shards), "--preset", "tiny", "--config", str(cfg),
                                  "--out", str(tmp_path / "ep"), "--epochs", "1", "--quiet"])
    assert ep.exit_code == 0, ep.output
    assert json.loads(ep.output[ep.output.index("{"):])["vae"]["steps"] == 3


def test_design_and_verify_end_to_end_on_a_real_tiny_model(trained, tmp_path):
    """``design`` and ``verify`` with no fakes: the trained tiny model (a model directory, as
    ``invdesign train`` writes it), the real descriptor engine and the real Cahn-Hilliard simulator
    with the physics the model recorded."""
    import objectives
    from generators.cahn_hilliard import CahnHilliardGenerator
    from invdesign import design, verify
    from invdesign.verification import recipe_conditions, run_seed

    res = design({"ABS_f_D": 0.5}, 0.1, model=str(trained[0]), budget=3, samples_per_trial=2, seed=0,
                 out_dir=tmp_path / "design")
    table = res.candidates
    assert len(table) == 6 and list(table["rank"]) == list(range(6))
    assert table["distance"].is_monotonic_increasing
    for rank in range(len(table)):
        row = table.iloc[rank]
        measured = objectives.describe(res.volume(rank))  # the engine, again, on the stored volume
        for k in ("ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1", "STAT_n_D"):
            assert row[k] == pytest.approx(measured[k], rel=1e-9), (rank, k)
        assert row["distance"] == pytest.approx(abs(measured["ABS_f_D"] - 0.5) / 0.1, rel=1e-9)
        assert bool(row["success"]) == (row["distance"] <= 1)
        assert {"phi", "chi", "log_time"} <= set(row.index) and np.isfinite(row["log_time"])
    v = verify(res, seeds=2)
    best = res.best
    assert v.recipe["phi"] == pytest.approx(best["phi"]) and v.recipe["log_time"] == pytest.approx(best["log_time"])
    # the model's recorded simulator (the default physics at its shape) ran the recipe
    sim = CahnHilliardGenerator(shape=SHAPE, phases=2)
    ref = np.stack([sim.sample(recipe_conditions(sim, v.recipe), n=1, seed=run_seed(0, j)).volumes[0].numpy()
                    for j in range(2)])  # verify's run j has seed run_seed(0, j) (the seeds matter below)
    assert v.volumes.shape == (2, *SHAPE) and np.array_equal(v.volumes, ref)
    for i in range(2):
        assert v.table["ABS_f_D"][i] == pytest.approx(objectives.describe(ref[i])["ABS_f_D"], rel=1e-9)
    assert v.mean["ABS_f_D"] == pytest.approx(v.table["ABS_f_D"].mean())
    assert v.distance_to_target == pytest.approx(abs(v.mean["ABS_f_D"] - 0.5) / 0.1)
    # a model that recorded other physics is verified with those (the block is read, not assumed)
    import shutil

    other = tmp_path / "other_physics"
    shutil.copytree(trained[0], other)
    config = json.loads((other / "config.json").read_text())
    config["simulator"].setdefault("params", {})["kappa"] = 3.0
    (other / "config.json").write_text(json.dumps(config))
    row = best.copy()
    row["phi"], row["chi"], row["log_time"] = 0.5, 3.0, 1.5  # a recipe that phase-separates
    ours, theirs = (verify(row, targets={"ABS_f_D": 0.5}, tolerance=0.1, seeds=2, model=str(m))
                    for m in (trained[0], other))
    for result, params in ((ours, None), (theirs, {"kappa": 3.0})):
        s = CahnHilliardGenerator(shape=SHAPE, phases=2, params=params)
        runs = [s.sample(recipe_conditions(s, result.recipe), n=1, seed=run_seed(0, j)).volumes[0].numpy()
                for j in range(2)]  # verify's run j has seed run_seed(0, j)
        assert np.array_equal(result.volumes, np.stack(runs))
        assert len(np.unique(result.volumes)) == 2  # phase-separated: the physics shows
    assert not np.array_equal(ours.volumes, theirs.volumes)


def test_recipe_predictions_stay_in_the_training_range(trained):
    """An FP extrapolating past its data (phi 1.5, log_time -3) gives a recipe the simulator can run."""
    out, _ = trained
    g = generators.load(out)
    stats = g.config.fp_outputs
    lo = {k: stats.min[stats.names.index(k)] for k in ("phi", "log_time")}
    hi = {k: stats.max[stats.names.index(k)] for k in ("phi", "log_time")}
    raw = g.model.predict

    def wild(latents):
        p = raw(latents)
        p["phi"] = torch.full_like(p["phi"], 1.5)
        p["log_time"] = torch.full_like(p["log_time"], -3.0)
        return p

    g.model.predict = wild
    lat = torch.zeros(2, *g.latent_shape)
    p = g.predict(lat)
    assert torch.allclose(p["phi"], torch.full((2,), hi["phi"]))
    assert torch.allclose(p["log_time"], torch.full((2,), lo["log_time"]))
    descriptor = next(k for k in stats.names if k not in ("phi", "chi", "log_time"))
    assert torch.equal(p[descriptor], raw(lat)[descriptor].float())  # descriptors are not clipped
