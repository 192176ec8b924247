"""The recipe surrogate: a known mean and seed spread recovered, saturated data, files, tables."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from generators.surrogate import RecipeSurrogate, fit_surrogate, read_table, score
from generators.surrogate.table import table_data

DATA = Path(__file__).parent / "data"
LOG_TIMES = np.linspace(math.log10(300), 4.0, 6)


def truth(phi, chi, lt):
    """Mean of the synthetic descriptor."""
    return 0.3 + 0.8 * (phi - 0.5) + 0.1 * np.sin(3 * chi) - 0.15 * (lt - 3) * (chi - 3)


def spread(lt):
    """Seed standard deviation of the synthetic descriptor: grows with annealing time."""
    return 0.01 + 0.03 * (lt - 2.48) / 1.52


def synthetic_rows(n_series=30, seed=0, set_name="train"):
    """Series of one seed each: a persistent (AR(1) along time) seed deviation of size spread(t)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        phi, chi = rng.uniform(0.3, 0.7), rng.uniform(2.5, 4.0)
        e = rng.normal()
        for i, lt in enumerate(LOG_TIMES):
            e = 0.8 * e + 0.6 * rng.normal() if i else e
            rows.append({"set": set_name, "series": s, "phi": phi, "chi": chi, "seed": 1000 + s,
                         "time": 10 ** lt, "log_time": lt, "separated": "True",
                         "d": truth(phi, chi, lt) + spread(lt) * e})
    return rows


@pytest.fixture(scope="module")
def synthetic():
    rows = synthetic_rows(30, 0) + synthetic_rows(10, 1, "held")
    return rows, fit_surrogate(rows, ["d"])


def test_mean_and_seed_spread_are_recovered(synthetic):
    _, sur = synthetic
    g = np.stack(np.meshgrid(np.linspace(0.35, 0.65, 4), np.linspace(2.7, 3.8, 4), LOG_TIMES[[0, -1]]),
                 -1).reshape(-1, 3)
    p = sur.predict(torch.tensor(g))
    err = p.mean[:, 0].numpy() - truth(*g.T)
    assert np.sqrt((err ** 2).mean()) < 0.015  # the spread is 0.01..0.04
    # the model's own uncertainty is of the size of its error (neither blind nor vacuous)
    assert 0.3 < float(p.model_std.mean()) / np.sqrt((err ** 2).mean()) < 3
    early, late = g[:, 2] < 3, g[:, 2] > 3
    assert float(p.seed_std[early, 0].mean()) == pytest.approx(spread(LOG_TIMES[0]), rel=0.35)
    assert float(p.seed_std[late, 0].mean()) == pytest.approx(spread(LOG_TIMES[-1]), rel=0.35)
    assert sur.seeds == list(range(1000, 1030))  # training seeds recorded (train set only)
    assert sur.info["series"] == 30 and sur.info["rows_fitted"] == 180


def test_held_out_score_is_calibrated(synthetic):
    rows, sur = synthetic
    s = score(sur, rows, ("held",))["descriptors"]["d"]
    assert s["r2"] > 0.9 and 0.85 <= s["coverage95"] <= 1.0


def test_saturated_descriptor_keeps_its_trend():
    """A straight-path fraction reaches exactly 1 at long times on the small stand-in table: it must
    not be explained as seed noise around 1 (the seed variance is capped at the data's)."""
    rows = read_table(DATA / "ch_labels_32.csv")
    sur = fit_surrogate(rows, ["CT_f_D_tort1"])
    s = score(sur, rows, ("held",))["descriptors"]["CT_f_D_tort1"]
    assert s["r2"] > 0.2
    p = sur.predict(torch.tensor([[0.5, 3.2, 2.48], [0.5, 3.2, 4.0]]))
    assert float(p.mean[0, 0]) < 0.9 and float(p.mean[1, 0]) > 0.97
    assert float(p.seed_std[0, 0]) > 5 * float(p.seed_std[1, 0])


def test_save_load_round_trip_without_pickle(synthetic, tmp_path):
    _, sur = synthetic
    path = sur.save(tmp_path / "s.safetensors")
    raw = path.read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])  # safetensors: JSON header
    assert json.loads(header["__metadata__"]["config"])["format"] == "invdesign-recipe-surrogate"
    assert b"pickle" not in raw and not raw.startswith(b"PK")
    back = RecipeSurrogate.load(path)
    x = torch.tensor([[0.4, 3.0, 2.7], [0.6, 3.9, 3.9]])
    a, b = sur.predict(x), back.predict(x)
    for k in ("mean", "seed_std", "model_std", "p_separated"):
        assert torch.equal(getattr(a, k), getattr(b, k))
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a recipe surrogate"):
        RecipeSurrogate.load(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="does not model ABS_f_D; it models: d"):
        sur.predict(x, ["ABS_f_D"])


def test_separation_probability_follows_the_table():
    rows = []
    for s, chi in enumerate(np.linspace(2.5, 4.0, 16)):
        for lt in LOG_TIMES:
            sep = chi > 3.0 or lt > 3.3
            rows.append({"series": s, "phi": 0.5 + 0.01 * s, "chi": chi, "time": 10 ** lt,
                         "separated": sep, "d": (0.5 if sep else 0.0) + 0.01 * s})
    sur = fit_surrogate(rows, ["d"])
    p = sur.predict(torch.tensor([[0.55, 2.6, LOG_TIMES[0]], [0.55, 3.8, LOG_TIMES[0]], [0.55, 2.6, 4.0]]))
    assert float(p.p_separated[0]) < 0.2 and float(p.p_separated[1]) > 0.8 and float(p.p_separated[2]) > 0.8
    assert sur.info["rows_unseparated"] > 0 and sur.info["rows_fitted"] == sum(r["separated"] for r in rows)


def test_table_problems_are_one_line_errors(tmp_path):
    rows = synthetic_rows(3)
    with pytest.raises(ValueError, match="lacks column"):
        table_data([{k: v for k, v in r.items() if k != "chi"} for r in rows], ["d"])
    with pytest.raises(ValueError, match="no rows of set"):
        table_data(rows, ["d"], sets=("held",))
    with pytest.raises(ValueError, match="'separated' must be a boolean"):
        table_data([{**r, "separated": "maybe"} for r in rows], ["d"])
    with pytest.raises(ValueError, match="no label table"):
        read_table(tmp_path / "none.csv")
    p = tmp_path / "t.csv"
    p.write_text("set,series,phi,chi,time,d\ntrain,0,0.5,3.0,300,0.5\ntrain,0,0.5,3.0,600,0.6\n")
    assert len(read_table(p)) == 2
    with pytest.raises(ValueError, match="does not vary"):
        fit_surrogate(p, ["d"])


def test_model_directory_with_and_without_surrogate(tmp_path, synthetic):
    """An old model directory (no surrogate file) loads as before; one holding it carries it."""
    import generators
    from generators.diffusion.model_dir import WEIGHTS_DIR, load_surrogate, save_surrogate

    d = tmp_path / "m"
    shutil.copytree(WEIGHTS_DIR / "ch2-default", d)
    (d / "surrogate.safetensors").unlink(missing_ok=True)
    gen = generators.load(d)
    assert gen.surrogate is None and load_surrogate(d) is None
    _, sur = synthetic
    save_surrogate(d, sur)
    again = generators.load(d)
    x = torch.tensor([[0.5, 3.0, 3.0]])
    assert torch.equal(again.surrogate.predict(x).mean, sur.predict(x).mean)
