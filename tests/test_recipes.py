"""invdesign.recipe: the surrogate inverted to recipes on a known pathway, verified by a fake
simulator; stop and resume; fresh seeds; the recipe design candidates carry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import invdesign
from invdesign.recipes.api import fresh_seeds
from invdesign.recipes.search import RecipeSearch
from tests.design_fakes import fake_describe_batch
from tests.recipe_fakes import PathwaySimulator, SurrogateFakeGenerator, alignment, fitted_surrogate, make_table

TARGETS = {"ABS_f_D": 0.5, "CT_f_D_tort1": 0.6}


@pytest.fixture(scope="module")
def sur():
    return fitted_surrogate()


def _aligned_for(target_ct: float) -> float:
    """chi + log10(time) of the fake simulator's recipes that give CT_f_D_tort1 = target (by
    simulating a line of alignments: the pathway in closed form)."""
    sim = PathwaySimulator()
    sums = np.linspace(5.5, 8.0, 26)
    cond = torch.tensor([[0.5, s - 3.0, 1000.0] for s in sums])
    ct = fake_describe_batch(sim.sample(cond, 8, 0).volumes)["CT_f_D_tort1"].reshape(-1, 8).mean(1).numpy()
    return float(np.interp(target_ct, ct, sums))


def test_search_finds_recipes_along_the_known_pathway(sur):
    search = RecipeSearch(sur, list(TARGETS))
    recs = search.find(list(TARGETS.values()), [0.05, 0.05], seeds=3, n=4)
    assert len(recs) == 4 and recs[0].p_success >= 0.5
    want = _aligned_for(TARGETS["CT_f_D_tort1"])
    for r in recs[:3]:
        assert r.phi == pytest.approx(0.5, abs=0.05)
        assert r.chi + r.log_time == pytest.approx(want, abs=0.35)  # on the pathway
    chis = [r.chi for r in recs]
    assert max(chis) - min(chis) > 0.3  # spread along it, not four copies of one recipe
    # the pathway: longer annealing needs lower chi for the same structure
    path = [p for p in search.pathway(list(TARGETS.values()), [0.05, 0.05]) if p["predicted_distance"] <= 1]
    assert len(path) >= 3
    assert np.corrcoef([p["log_time"] for p in path], [p["chi"] for p in path])[0, 1] < -0.8
    chi, lt, dist, p = search.plane(0.5, list(TARGETS.values()), [0.05, 0.05], resolution=11)
    assert dist.shape == (11, 11) and float(dist.min()) < 1 and float(dist.max()) > 2


def test_recipe_is_verified_and_ranked(sur, tmp_path):
    sim = PathwaySimulator()
    res = invdesign.recipe(TARGETS, 0.05, model=SurrogateFakeGenerator(surrogate=sur), simulator=sim,
                           describe=fake_describe_batch, verify_recipes=2, verify_seeds=3, out_dir=tmp_path)
    assert res.state == "finished" and sim.runs == 6 and res.surrogate_source == "model"
    s = json.loads((tmp_path / "recipes.json").read_text())
    assert s == json.loads(json.dumps(res.summary(), default=float))
    first, second = s["recipes"][0], s["recipes"][1]
    assert {"phi", "chi", "time", "verification"} <= set(first)
    assert first["verification"]["distance_to_target"] <= second["verification"]["distance_to_target"]
    assert first["verification"]["seeds"] == 3 and set(first["verification"]["std"]) == set(TARGETS)
    assert all(r["verification"] is None for r in s["recipes"][2:])
    # the verified mean is the mean of what the simulator made at that recipe
    v = res.best.verification
    assert v.mean["ABS_f_D"] == pytest.approx(v.table["ABS_f_D"].mean())
    assert res.success and first["verification"]["distance_to_target"] <= 1
    # the recipe really makes the targets: independent of the surrogate
    a = alignment(first["chi"], np.log10(first["time"]))
    assert abs(first["phi"] - 0.5) < 0.06 and 0.2 < a < 0.95


def test_stop_and_resume_keep_finished_runs(sur, tmp_path):
    kwargs = dict(model=SurrogateFakeGenerator(surrogate=sur), describe=fake_describe_batch,
                  verify_recipes=2, verify_seeds=3)
    whole = invdesign.recipe(TARGETS, 0.05, simulator=PathwaySimulator(), out_dir=tmp_path / "a", **kwargs)
    sim = PathwaySimulator()
    calls = []

    def stop_after_four():
        calls.append(1)
        return sim.runs >= 4

    part = invdesign.recipe(TARGETS, 0.05, simulator=sim, out_dir=tmp_path / "b", should_stop=stop_after_four,
                            **kwargs)
    assert part.state == "stopped" and sim.runs == 4
    assert sum(r.verification is not None for r in part.recipes) == 1
    assert json.loads((tmp_path / "b" / "recipes.json").read_text())["state"] == "stopped"
    again_sim = PathwaySimulator()
    events = []
    done = invdesign.recipe(TARGETS, 0.05, simulator=again_sim, out_dir=tmp_path / "b", progress=events.append,
                            **kwargs)
    assert done.state == "finished" and again_sim.runs == 2  # only the runs that were missing
    assert [e["resumed"] for e in events if e["stage"] == "verify"] == [True] * 4 + [False] * 2
    for a, b in zip(whole.recipes, done.recipes):
        assert (a.predicted.phi, a.predicted.chi) == (b.predicted.phi, b.predicted.chi)
        if a.verification is not None:
            assert a.verification.mean == b.verification.mean
    with pytest.raises(ValueError, match="other settings"):
        invdesign.recipe({"ABS_f_D": 0.4, "CT_f_D_tort1": 0.6}, 0.05, simulator=again_sim,
                         out_dir=tmp_path / "b", **kwargs)


def test_bad_requests_are_clear_errors(sur):
    gen = SurrogateFakeGenerator(surrogate=sur)
    with pytest.raises(ValueError, match="does not model CT_f_A_tort1"):
        invdesign.recipe({"CT_f_A_tort1": 0.5}, 0.05, model=gen, verify_recipes=0)
    with pytest.raises(ValueError, match="ABS_f_D=1.5 is out of range"):
        invdesign.recipe({"ABS_f_D": 1.5}, 0.05, model=gen, verify_recipes=0)
    with pytest.raises(ValueError, match="tolerance"):
        invdesign.recipe(TARGETS, 0.0, model=gen, verify_recipes=0)
    with pytest.raises(ValueError, match="verify_seeds"):
        invdesign.recipe(TARGETS, 0.05, model=gen, verify_seeds=0)
    with pytest.raises(ValueError, match="invdesign surrogate --table"):
        invdesign.recipe(TARGETS, 0.05, model=SurrogateFakeGenerator(), verify_recipes=0)
    with pytest.raises(ValueError, match="outside the surrogate's training range"):
        invdesign.recipe(TARGETS, 0.05, model=gen, verify_recipes=0, bounds={"time": (20000, 30000)})


def test_without_a_surrogate_a_table_is_fitted():
    res = invdesign.recipe(TARGETS, 0.05, model=SurrogateFakeGenerator(), table=make_table(10),
                           verify_recipes=0, n_recipes=2)
    assert res.surrogate_source == "table" and len(res.recipes) == 2
    assert all(r.verification is None for r in res.recipes) and res.state == "finished"


def test_verification_seeds_avoid_the_training_seeds():
    from generators.cahn_hilliard import CahnHilliardGenerator
    from generators.cahn_hilliard.generator import run_seeds
    from invdesign.verification import run_seed

    sim = CahnHilliardGenerator(shape=(8, 8, 4))
    plain = fresh_seeds(sim, 0, 2, 3, [])
    taken = run_seeds(run_seed(plain[0], 1), 1)[0]  # the noise seed of recipe 0's second run
    moved = fresh_seeds(sim, 0, 2, 3, [taken])
    assert moved[0] != plain[0] and moved[1] == plain[1]
    noise = {run_seeds(run_seed(s, j), 1)[0] for s in moved for j in range(3)}
    assert taken not in noise


def test_design_candidates_carry_the_surrogate_recipe(sur, tmp_path):
    gen = SurrogateFakeGenerator(surrogate=sur)
    res = invdesign.design({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}, 0.05, model=gen, budget=2,
                           samples_per_trial=2, method="random", out_dir=tmp_path, describe=fake_describe_batch)
    c = res.candidates
    for k in ("recipe_phi", "recipe_chi", "recipe_log_time", "recipe_time", "recipe_predicted_distance"):
        assert c[k].notna().all(), k
    # the FP's guess is kept beside it
    assert np.allclose(c["phi"], 0.9 * c["condition_ABS_f_D"], atol=1e-6)
    # each candidate's recipe is predicted to make that candidate (its own measured values)
    search = RecipeSearch(sur, ["ABS_f_D", "CT_f_D_tort1"])
    for _, row in c.iterrows():
        pred = sur.predict(torch.tensor([[row.recipe_phi, row.recipe_chi, row.recipe_log_time]]),
                           ["ABS_f_D", "CT_f_D_tort1"])
        assert float(pred.mean[0, 0]) == pytest.approx(row.ABS_f_D, abs=0.1)
        assert search.lower[0] <= row.recipe_phi <= search.upper[0]
    row = c.iloc[0]
    v = invdesign.verify(row, simulator=PathwaySimulator(), targets={"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4},
                         tolerance=0.05, describe=fake_describe_batch)
    assert v.source == "surrogate" and v.recipe["chi"] == pytest.approx(row.recipe_chi)
    fp = invdesign.verify(row, simulator=PathwaySimulator(), targets={"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4},
                          tolerance=0.05, describe=fake_describe_batch, recipe="fp")
    assert fp.source == "fp" and fp.recipe["chi"] == pytest.approx(row.chi)
    # a design without a surrogate has no recipe columns (its table is as before)
    plain = invdesign.design({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}, 0.05, model=SurrogateFakeGenerator(),
                             budget=1, samples_per_trial=1, method="random", out_dir=tmp_path / "p",
                             describe=fake_describe_batch)
    assert not any(k.startswith("recipe_") for k in plain.candidates.columns)
