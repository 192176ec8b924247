"""Unit tests of the dashboard's plain functions: views of volumes, figures, targets, studies, CLI."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("plotly")
from typer.testing import CliRunner  # noqa: E402

from apps import models, plots, results, studies, targets, volume_plots  # noqa: E402
from tests.dashboard_fake import FakeGenerator  # noqa: E402


def test_block_fractions_are_block_means():
    vol = np.zeros((8, 8, 4), np.uint8)
    vol[:4] = 1  # half the x range acceptor
    vol[0, 0, 0] = 2
    frac = volume_plots.block_fractions(vol, 1, max_side=4)  # factor 2 blocks
    assert frac.shape == (4, 4, 2)
    assert frac[1].min() == 1.0 and frac[2:].max() == 0.0
    assert frac[0, 0, 0] == pytest.approx(7 / 8)
    full = volume_plots.block_fractions(vol, 1, max_side=64)
    np.testing.assert_array_equal(full, (vol == 1).astype(np.float32))


def test_slice_colours_follow_labels_and_axes():
    vol = np.zeros((4, 5, 6), np.uint8)
    vol[1, 2, 3], vol[2, 2, 3] = 1, 2
    fig = volume_plots.slice_figure(vol, "z", 3)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (5, 4)  # rows: y, columns: x
    assert z[2, 1] == 1 and z[2, 2] == 2 and z.sum() == 3
    scale = fig.data[0].colorscale
    assert scale[0][1] == volume_plots.PHASES[0][1] and scale[-1][1] == volume_plots.PHASES[2][1]
    with pytest.raises(ValueError, match="outside 0..5 along z"):
        volume_plots.slice_figure(vol, "z", 6)
    with pytest.raises(ValueError, match="labels must be 0, 1 or 2"):
        volume_plots.slice_figure(vol + 3, "x", 0)


def test_volume_figure_draws_present_phases_only():
    vol = np.ones((16, 16, 8), np.uint8)
    fig = volume_plots.volume_figure(vol, max_side=8)
    assert [t.name for t in fig.data] == ["acceptor"]
    assert len(fig.data[0].x) == 8 * 8 * 4
    with pytest.raises(ValueError, match="3-D"):
        volume_plots.volume_figure(vol[0])


def test_distance_figure_best_so_far_is_running_minimum():
    frame = pd.DataFrame({"trial": [0, 0, 1, 2, 3], "distance": [5.0, 3.0, 4.0, 0.5, 2.0]})
    best = plots.distance_figure(frame).data[1]
    assert list(best.x) == [0, 1, 2, 3] and list(best.y) == [3.0, 3.0, 0.5, 0.5]


def test_condition_and_recipe_figures_need_their_columns():
    frame = pd.DataFrame({"trial": [0, 1], "a": [0.1, 0.2], "b": [1, 2], "c": [3, 4],
                          "distance": [1.0, 2.0]})
    assert plots.condition_figure(frame, ["a", "b"]).data[0].type == "scatter"
    assert plots.condition_figure(frame, ["a", "b", "c"]).data[0].type == "splom"
    with pytest.raises(ValueError, match="no condition columns"):
        plots.condition_figure(frame, ["zz"])
    with pytest.raises(ValueError, match="no predicted recipe"):
        plots.recipe_figure(frame)


def test_target_checks():
    summary = models.describe_model(FakeGenerator())
    assert targets.target_ranges(summary) == {"vol_frac_D": (0.2, 0.8), "vol_frac_M": (0.0, 0.4)}
    assert targets.check_targets({"vol_frac_D": 0.5, "vol_frac_M": 0.2}, 0.02, summary) == []
    problems = targets.check_targets({"vol_frac_D": 0.9, "tortuosity_A": 1.0}, {"vol_frac_D": 0},
                                     summary)
    assert any("outside the model's range [0.2, 0.8]" in p for p in problems)
    assert any("tortuosity_A is not a condition" in p for p in problems)
    assert any("tolerance of vol_frac_D must be > 0" in p for p in problems)
    infeasible = targets.check_targets({"vol_frac_D": 0.8, "vol_frac_M": 0.3}, 0.02, summary)
    assert len(infeasible) == 1 and infeasible[0].startswith("infeasible targets")
    assert targets.check_targets({}, 0.02, summary) == ["no targets: set at least one descriptor"]


def test_model_summary_and_loading_errors(tmp_path):
    s = models.describe_model(FakeGenerator())
    assert s["phases"] == 3 and s["shape"] == (16, 16, 8)
    assert s["predicted"] == ("phi", "chi", "log_time") and s["training"]["dataset"] == "synthetic"
    assert models.load_model("mine", extra={"mine": FakeGenerator}).shape == (16, 16, 8)
    with pytest.raises(ValueError, match="no model given"):
        models.load_model("  ")
    with pytest.raises(ValueError, match="not a model directory"):
        models.load_model(str(tmp_path))
    for part in ("vae", "fp", "ddpm"):
        (tmp_path / f"{part}_x.pt").write_bytes(b"")
    assert set(models.find_pack_files(tmp_path)) == {"vae", "fp", "ddpm"}
    with pytest.raises(ValueError, match="choose a pack"):
        models.load_model(str(tmp_path))


def test_model_choices_come_from_generators():
    """The shipped names and pack names the dashboard offers are the generators' own tables."""
    from generators.diffusion.model_dir import available_models
    from generators.microgen3d import PACKS

    assert models.shipped_names() == available_models() and {"ch2-default", "ch3-default"} <= set(available_models())
    assert models.PACKS == tuple(PACKS) == ("experimental", "ch_2phase", "ch_3phase")


def test_storage_specs_and_masking(tmp_path):
    assert studies.mask_url("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert studies.mask_url("sqlite:///a.db") == "sqlite:///a.db"
    with pytest.raises(ValueError, match="neither a URL"):
        studies.open_storage(str(tmp_path / "x.txt"))
    with pytest.raises(ValueError, match="storage is empty"):
        studies.open_storage("")
    with pytest.raises(ValueError, match="cannot use storage|cannot reach storage"):
        studies.open_storage("nosuchdb://x/y")
    journal = str(tmp_path / "j" / "study.log")
    import optuna

    study = optuna.create_study(study_name="s", storage=studies.open_storage(journal))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert studies.study_names(journal) == ["s"]
    frame = studies.trials_frame(studies.load_study(journal, "s"))
    assert list(frame["trial"]) == [0, 1] and set(frame["state"]) == {"COMPLETE"}
    assert studies.progress(study)["best"] == pytest.approx(frame["value"].min())


def test_volume_downloads_round_trip(tmp_path):
    vol = np.random.default_rng(0).integers(0, 3, (6, 5, 4)).astype(np.uint8)
    back = np.load(io.BytesIO(results.volume_bytes(vol, "npz")))["volume"]
    np.testing.assert_array_equal(back, vol)
    with pytest.raises(ValueError, match="unknown download format"):
        results.volume_bytes(vol, "png")
    from objectives.io import read_volume

    for fmt in ("vti", "tif"):
        path = tmp_path / f"v.{fmt}"
        path.write_bytes(results.volume_bytes(vol, fmt))
        np.testing.assert_array_equal(read_volume(path), vol)


def test_table_csv_and_recipe():
    frame = pd.DataFrame({"trial": [1], "phi": [0.5], "chi": [2.5], "log_time": [2.0]})
    assert results.table_csv(frame).decode().splitlines() == ["trial,phi,chi,log_time",
                                                              "1,0.5,2.5,2.0"]
    assert results.recipe(frame.iloc[0])["time"] == pytest.approx(100.0)


def test_cli_binds_localhost_by_default(monkeypatch):
    from invdesign.cli import dashboard
    from invdesign.cli.main import app

    calls = []
    monkeypatch.setattr(dashboard, "run_server", lambda cmd: calls.append(cmd) or 0)
    result = CliRunner().invoke(app, ["dashboard", "--port", "8600"])
    assert result.exit_code == 0, result.output
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("apps/dashboard.py")
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    result = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0", "--port", "70000"])
    assert result.exit_code == 2 and "port must be in 1..65535" in result.output
