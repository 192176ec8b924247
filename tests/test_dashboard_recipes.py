"""AppTest of the dashboard's Recipes tab: the pathway map for the targets and a recipe search
with verification in the background (fake model with a surrogate, fake simulator)."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")
from streamlit.testing.v1 import AppTest  # noqa: E402

TIMEOUT = 120


def _script():
    from apps.dashboard import main
    from tests.dashboard_fake import make_generator, make_generator_with_surrogate

    main({"fake-3phase": make_generator, "fake-recipes": make_generator_with_surrogate})


def _designed(tmp_path, model):
    at = AppTest.from_function(_script, default_timeout=TIMEOUT)
    at.session_state["storage"] = f"sqlite:///{tmp_path / 'studies.db'}"
    at.session_state["study_name"] = "s"
    at.run()
    at.selectbox(key="model_choice").set_value(model)
    at.button(key="load_model").click()
    at.run()
    at.selectbox(key="method").set_value("random")
    at.number_input(key="budget").set_value(1)
    at.number_input(key="samples").set_value(1)
    at.button(key="start").click()
    at.run()
    run = at.session_state["run"]
    run.join(TIMEOUT)
    at.run()
    at.run()
    assert not at.exception, at.exception
    return at


def _charts(at):
    return [c for c in at.get("plotly_chart")]


def test_recipes_tab_maps_and_verifies(tmp_path, monkeypatch):
    import json

    import invdesign.verification as verification
    from tests.dashboard_fake import FakeSimulator

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(verification, "default_simulator",
                        lambda device="cpu", shape=None, phases=2, model=None: FakeSimulator())
    at = _designed(tmp_path, "fake-recipes")
    figs = [json.loads(c.proto.spec) for c in _charts(at)]
    maps = [f for f in figs if f.get("layout", {}).get("title", {}).get("text", "").startswith("Recipes at phi")]
    assert len(maps) == 1
    assert maps[0]["data"][0]["type"] == "contour"
    # design candidates carry the surrogate's recipe beside the FP's guess
    cands = next(df.value for df in at.dataframe if "distance" in df.value.columns)
    assert cands["recipe_phi"].notna().all() and cands["phi"].notna().all()
    at.number_input(key="recipe_count").set_value(1)
    at.number_input(key="recipe_seeds").set_value(2)
    at.button(key="recipe_start").click()
    at.run()
    run = at.session_state["recipe_run"]
    run.join(TIMEOUT)
    assert run.state == "finished", run.error
    at.run()
    at.run()
    assert not at.exception, at.exception
    table = next(df.value for df in at.dataframe if "verified_distance" in df.value.columns)
    assert table["verified_distance"].notna().sum() == 1
    assert (tmp_path / "runs" / "dashboard" / "recipes").is_dir()
    figs = [json.loads(c.proto.spec) for c in _charts(at)]
    path_map = next(f for f in figs if f.get("layout", {}).get("title", {}).get("text", "").startswith("Recipes at phi"))
    names = [d.get("name") for d in path_map["data"]]
    assert "verified recipes" in names


def test_model_without_surrogate_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    at = _designed(tmp_path, "fake-3phase")
    assert any("no recipe surrogate" in i.value for i in at.info), [i.value for i in at.info]
