"""Evaluation metrics and report, on an untrained compact model with a simple describe function."""

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import generators
from generators.diffusion import CompactLatentModel, ModelConfig, Stats, save_model
from generators.diffusion.data import load_shards
from generators.diffusion.evaluation import conditioning_at, evaluate, pairwise_disagreement, pearson, r2_mae
from generators.diffusion.synthetic import volume_labels, write_synthetic_shards

SHAPE = (16, 16, 8)
CONDS = ["vol_frac_D", "interface_frac"]
OUTS = ["vol_frac_D", "interface_frac", "phi", "chi", "log_time"]


def describe(volumes):
    rows = [volume_labels(v.numpy()) for v in volumes.cpu()]
    return {k: torch.tensor([r[k] for r in rows]) for k in rows[0]}


def random_model_dir(path, phases=2):
    torch.manual_seed(0)
    cfg = ModelConfig(
        family="compact", phases=phases, shape=list(SHAPE), latent_shape=[4, 4, 4, 2],
        architecture={"vae": {"widths": [4, 8, 16], "latent_channels": 4}, "fp": {"hidden": 32},
                      "denoiser": {"channels": [16, 32], "attention": True}},
        conditions=Stats(CONDS, [0.3, 0.1], [0.7, 0.4], [0.5, 0.25], [0.1, 0.05]),
        fp_outputs=Stats(OUTS, [0] * 5, [1] * 5, [0.5] * 5, [0.2] * 5),
        latent_scale=2.0, sampler={"name": "dpmpp2m", "steps": 4, "guidance": 1.0})
    return save_model(path, CompactLatentModel(cfg))


def test_r2_mae_against_hand_values():
    out = r2_mae(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    # SST = 4.667, SSE = 1
    assert out["r2"] == pytest.approx(1 - 1 / (14 / 3)) and out["mae"] == pytest.approx(1 / 3)
    assert math.isnan(r2_mae(np.ones(3), np.ones(3))["r2"])


def test_pairwise_disagreement_brute_force():
    v = torch.randint(0, 3, (5, 4, 4, 2), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    ref = np.mean([(v[i] != v[j]).float().mean().item() for i in range(5) for j in range(i + 1, 5)])
    assert pairwise_disagreement(v) == pytest.approx(ref)
    assert pairwise_disagreement(v[:1].repeat(3, 1, 1, 1)) == 0.0
    with pytest.raises(ValueError):
        pairwise_disagreement(v[:1])


def test_model_dir_round_trip(tmp_path):
    d = random_model_dir(tmp_path / "m")
    g = generators.load(d)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["family"] == "compact" and cfg["fp_outputs"]["names"] == OUTS and cfg["latent_scale"] == 2.0
    ref = CompactLatentModel(ModelConfig.from_json((d / "config.json").read_text()))
    assert not all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), g.model.state_dict().values()))
    torch.manual_seed(0)
    ref2 = CompactLatentModel(ModelConfig.from_json((d / "config.json").read_text()))
    assert all(torch.equal(a, b) for a, b in zip(ref2.state_dict().values(), g.model.state_dict().values()))
    (d / "fp.safetensors").unlink()
    with pytest.raises(ValueError, match="lacks fp.safetensors"):
        generators.load(d)
    (d / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="not a"):
        generators.load(d)


def test_evaluate_report(tmp_path):
    g = generators.load(random_model_dir(tmp_path / "m"))
    data = load_shards(write_synthetic_shards(tmp_path / "s", n=6, shape=SHAPE))
    rep = evaluate(g, data, n_conditions=3, n_samples=2, n_diversity=3, describe=describe)
    assert set(rep["conditioning"]) == set(CONDS) and rep["unmeasured_conditions"] == []
    for v in rep["conditioning"].values():
        assert v["mae"] >= 0 and v["r2"] <= 1
    # the metrics against the truth: see test_evaluate_scores_an_exact_generator_one
    assert set(rep["fp_on_heldout"]) == set(OUTS)
    assert 0.0 <= rep["diversity"]["voxel_disagreement"] <= 1.0
    json.dumps(rep)
    # without data: conditions from the bounds; no FP section
    rep2 = evaluate(g, None, n_conditions=2, n_samples=1, n_diversity=2, describe=describe)
    assert "fp_on_heldout" not in rep2 and rep2["n_conditions"] == 2
    # held-out data of another shape is refused
    bad = load_shards(write_synthetic_shards(tmp_path / "s2", n=2, shape=(8, 8, 8)))
    with pytest.raises(ValueError, match="differ"):
        evaluate(g, bad, describe=describe)


class EchoGenerator:
    """Volumes that carry the row index of the condition they were made at, so a describe stand-in
    can return exactly the requested condition (or a shifted / column-swapped one)."""

    condition_names = tuple(CONDS)
    bounds = torch.tensor([[0.3, 0.1], [0.7, 0.4]], dtype=torch.float64)
    config = type("C", (), {"sampler": {"name": "echo", "steps": 1}})()

    def __init__(self):
        self.rows = []

    def sample(self, conditions, n=1, seed=None, **kw):
        c = torch.as_tensor(conditions, dtype=torch.float64).repeat_interleave(n, 0)
        start = len(self.rows)
        self.rows.extend(c.tolist())
        idx = torch.arange(start, start + len(c))
        vols = (idx.view(-1, 1, 1, 1) % 256).to(torch.uint8).expand(-1, 2, 2, 2).clone()
        vols[:, 1, 1, 1] = (idx // 256).to(torch.uint8)
        return generators.Samples(volumes=vols, conditions=c.float())

    def describer(self, shift=(0.0, 0.0), swap=False):
        def describe(volumes):
            idx = volumes[:, 0, 0, 0].long() + 256 * volumes[:, 1, 1, 1].long()
            rows = torch.tensor(self.rows, dtype=torch.float64)[idx] + torch.tensor(shift, dtype=torch.float64)
            cols = rows.flip(1) if swap else rows
            return {k: cols[:, j] for j, k in enumerate(CONDS)}
        return describe


def test_evaluate_scores_an_exact_generator_one():
    g = EchoGenerator()
    rep = evaluate(g, None, n_conditions=12, n_samples=2, n_diversity=3, describe=g.describer())
    for k in CONDS:  # 1 and 0 up to the float32 the conditions are sampled in
        c = rep["conditioning"][k]
        assert c["r2"] == pytest.approx(1.0, abs=1e-9) and c["mae"] == pytest.approx(0.0, abs=1e-7)
        assert c["r2_of_means"] == pytest.approx(1.0, abs=1e-9)
    # a measurement off by 0.05 in the first condition: MAE 0.05 and R^2 = 1 - n 0.05^2 / SST
    g2 = EchoGenerator()
    rep2 = evaluate(g2, None, n_conditions=12, n_samples=2, n_diversity=3, describe=g2.describer((0.05, 0.0)))
    asked = np.array(g2.rows[:24])[:, 0]
    want = 1 - 24 * 0.05**2 / np.sum((asked - asked.mean()) ** 2)
    assert rep2["conditioning"][CONDS[0]]["mae"] == pytest.approx(0.05, rel=1e-5)
    assert rep2["conditioning"][CONDS[0]]["r2"] == pytest.approx(want, rel=1e-6) and want < 0.99
    assert rep2["conditioning"][CONDS[1]]["r2"] == pytest.approx(1.0, abs=1e-9)
    # measurements in the wrong columns are not credited to the condition they do not follow
    g3 = EchoGenerator()
    rep3 = evaluate(g3, None, n_conditions=12, n_samples=2, n_diversity=3, describe=g3.describer(swap=True))
    assert all(rep3["conditioning"][k]["r2"] < 0.5 for k in CONDS)


def test_pearson_against_hand_values():
    assert pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.5]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1])
    assert pearson([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))


class PredictingEchoGenerator(EchoGenerator):
    """An echo generator whose FP predicts ``phi`` as twice the first condition."""

    def sample(self, conditions, n=1, seed=None, **kw):
        s = super().sample(conditions, n, seed, **kw)
        return generators.Samples(volumes=s.volumes, conditions=s.conditions,
                                  predicted={"phi": 2 * s.conditions[:, 0], "other": s.conditions[:, 1]})


def test_conditioning_at_scores_given_conditions_and_recipes():
    cond = np.stack([np.linspace(0.3, 0.7, 6), np.linspace(0.4, 0.1, 6) ** 2], axis=1)
    g = PredictingEchoGenerator()
    rep = conditioning_at(g, cond, recipe={"phi": 2 * cond[:, 0], "chi": cond[:, 1]}, n_samples=2,
                          describe=g.describer())
    assert np.allclose(np.array(g.rows), np.repeat(cond, 2, axis=0))  # the rows asked for, n each
    for k in CONDS:
        c = rep["conditioning"][k]
        assert c["r2"] == pytest.approx(1.0, abs=1e-6) and c["r"] == pytest.approx(1.0, abs=1e-6)
        assert c["mae"] == pytest.approx(0.0, abs=1e-6)
    assert set(rep["recipe"]) == {"phi"}  # chi is not predicted
    assert rep["recipe"]["phi"]["mae"] == pytest.approx(0.0, abs=1e-6)
    assert rep["measured"][CONDS[0]].shape == (12,) and set(rep["predicted"]) == {"phi", "other"}
    # a generator with its columns reversed follows neither condition (here: anti-correlated)
    g2 = PredictingEchoGenerator()
    rev = conditioning_at(g2, cond, describe=g2.describer(swap=True))
    assert all(rev["conditioning"][k]["r2"] < 0 and rev["conditioning"][k]["r"] < 0 for k in CONDS)
    # fed the reversed columns but scored against the conditions asked for (a broken model's view):
    # the echo of the reversed rows misses what was asked, though it matches what it was fed
    g3 = PredictingEchoGenerator()
    fed = cond[:, ::-1].copy()
    judged = conditioning_at(g3, fed, describe=g3.describer(), against=cond)
    assert np.allclose(np.array(g3.rows), fed)
    assert all(judged["conditioning"][k]["r"] < 0 for k in CONDS)
    assert conditioning_at(g3, fed, describe=g3.describer())["conditioning"][CONDS[0]]["r2"] == pytest.approx(1.0, abs=1e-6)


def test_cli_evaluate(tmp_path):
    from invdesign.cli.main import app

    d = random_model_dir(tmp_path / "m")
    r = CliRunner().invoke(app, ["evaluate", str(d), "--n-conditions", "2", "--n-samples", "1",
                                 "--n-diversity", "2", "--steps", "2", "--json"])
    assert r.exit_code == 0, r.output
    assert "diversity" in json.loads(r.output)


def test_cli_evaluate_unknown_model():
    from invdesign.cli.main import app

    bad = CliRunner().invoke(app, ["evaluate", "no-such-model"])
    assert bad.exit_code == 2 and "shipped models" in bad.output


def test_conditions_outside_the_training_range_are_reported_apart():
    from generators.diffusion.evaluation import conditioning_in_bounds

    cond = np.array([[0.2, 0.5], [0.4, 0.5], [0.5, 0.6], [0.6, 0.9]])  # rows 0 and 3 outside
    bounds = np.array([[0.3, 0.4], [0.7, 0.8]])
    truth = np.repeat(cond, 2, axis=0)
    measured = {"a": truth[:, 0].copy(), "b": truth[:, 1].copy()}
    measured["a"][[0, 1, 6, 7]] += 0.3  # only the outside conditions are missed
    rep = conditioning_in_bounds(measured, cond, 2, ["a", "b"], bounds)
    assert rep["conditions_in_bounds"] == 2
    inb = rep["conditioning_in_bounds"]
    assert inb["a"]["mae"] == pytest.approx(0.0, abs=1e-12) and inb["a"]["r2"] == pytest.approx(1.0)
    assert inb["b"]["mae"] == pytest.approx(0.0, abs=1e-12)
    # every condition inside (or fewer than 2): no separate report
    assert "conditioning_in_bounds" not in conditioning_in_bounds(measured, cond, 2, ["a", "b"],
                                                                  np.array([[0.0, 0.0], [1.0, 1.0]]))


def test_below_floors_names_each_miss():
    from generators.diffusion.evaluation import below_floors

    report = {"conditioning": {"a": {"r2": 0.9, "r": 0.95}, "b": {"r2": float("nan"), "r": 0.1}},
              "recipe": {"phi": {"mae": 0.05, "r": 0.99}}}
    floors = {"a": {"r2": 0.8, "r": 0.9}, "b": {"r2": 0.0}, "phi": {"mae": 0.02}, "chi": {"mae": 1.0}}
    bad = below_floors(report, floors)
    assert set(bad) == {"b", "phi", "chi"}
    assert bad["phi"] == "mae 0.050 vs floor 0.02" and bad["chi"] == "not measured"
