"""AppTest tests of the dashboard page: model, targets, run, resume, stop, watch, download, errors."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")
from streamlit.testing.v1 import AppTest  # noqa: E402

import invdesign  # noqa: E402

TIMEOUT = 60


def _script():
    from apps.dashboard import main
    from tests.dashboard_fake import make_generator

    main({"fake-3phase": make_generator})


@pytest.fixture
def design_api():
    """The real ``invdesign.design`` (measuring with the real descriptor engine)."""
    return invdesign.design


@pytest.fixture
def app(tmp_path, monkeypatch, design_api):
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_function(_script, default_timeout=TIMEOUT)
    at.session_state["storage"] = f"sqlite:///{tmp_path / 'studies.db'}"
    at.session_state["study_name"] = "study-a"
    at.run()
    assert not at.exception
    return at


def _frame(at, column):
    """The first dataframe (main area or sidebar) that has ``column``."""
    for df in [*at.dataframe, *at.sidebar.dataframe]:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column!r}")


def _load(at):
    at.selectbox(key="model_choice").set_value("fake-3phase")
    at.button(key="load_model").click()
    at.run()
    assert not at.exception, at.exception
    return at


def _finish(at):
    run = at.session_state["run"]
    run.join(TIMEOUT)
    assert not run.alive
    at.run()
    at.run()  # the live fragment saw the end and asked for a full rerun
    assert not at.exception, at.exception
    return run


def _start(at, budget=2, samples=2, method="random"):
    at.selectbox(key="method").set_value(method)
    at.number_input(key="budget").set_value(budget)
    at.number_input(key="samples").set_value(samples)
    at.button(key="start").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_model_shows_conditions_ranges_and_training(app):
    at = _load(app)
    ranges = _frame(at, "condition")
    assert list(ranges["condition"]) == ["vol_frac_D", "vol_frac_M"]
    assert ranges["low"].tolist() == pytest.approx([0.2, 0.0])
    assert ranges["high"].tolist() == pytest.approx([0.8, 0.4])
    assert any("synthetic" in j.value for j in at.json) or at.expander
    assert at.slider(key="target_vol_frac_D").min == pytest.approx(0.2)
    assert at.slider(key="target_vol_frac_D").max == pytest.approx(0.8)


def test_bad_weights_directory_is_an_error_not_a_traceback(app, tmp_path):
    (tmp_path / "junk").mkdir()
    app.selectbox(key="model_choice").set_value("weights directory...")
    app.run()
    app.text_input(key="model_dir").set_value(str(tmp_path / "junk"))
    app.button(key="load_model").click()
    app.run()
    assert not app.exception
    assert "not a model directory" in app.error[0].value
    app.text_input(key="model_dir").set_value(str(tmp_path / "missing"))
    app.button(key="load_model").click()
    app.run()
    assert not app.exception and "does not exist" in app.error[0].value


def test_infeasible_targets_block_the_run(app):
    at = _load(app)
    at.slider(key="target_vol_frac_D").set_value(0.8)
    at.slider(key="target_vol_frac_M").set_value(0.35)
    at.run()
    assert any("infeasible" in e.value for e in at.error)
    assert at.button(key="start").disabled
    at.slider(key="target_vol_frac_M").set_value(0.1)
    at.number_input(key="tol_vol_frac_M").set_value(0.0)
    at.run()
    assert any("tolerance of vol_frac_M" in e.value for e in at.error)
    at.number_input(key="tol_vol_frac_M").set_value(0.02)
    at.run()
    assert not at.error and not at.button(key="start").disabled


def test_run_shows_progress_results_and_downloads(app):
    at = _load(app)
    at.slider(key="target_vol_frac_D").set_value(0.5)
    at.slider(key="target_vol_frac_M").set_value(0.1)
    _start(at, budget=3, samples=2, method="bo")
    run = _finish(at)
    assert run.state == "finished", run.error
    assert run.progress()["complete"] == 3
    assert "3 trials complete" in at.get("progress")[0].proto.text
    table = _frame(at, "distance")
    assert len(table) == 6 and table["distance"].is_monotonic_increasing
    # the recipe of the selected candidate is shown
    assert {m.label for m in at.metric} >= {"phi", "chi", "log_time", "time"}
    # the npz download holds the candidate's labels, with the measured fractions of its row
    data = at.get("download_button")
    assert any(d.proto.label.startswith("Download candidate 0") for d in data)
    result = at.session_state["result"]
    from apps.results import candidate_volume, volume_bytes

    vol = np.load(io.BytesIO(volume_bytes(candidate_volume(result, 0), "npz")))["volume"]
    assert vol.shape == (16, 16, 8) and set(np.unique(vol)) <= {0, 1, 2}
    assert (vol == 0).mean() == pytest.approx(table.loc[0, "vol_frac_D"], abs=1e-6)


def test_threads_field_reaches_the_design(app):
    import torch

    at = _load(app)
    before = torch.get_num_threads()
    at.number_input(key="threads").set_value(1)
    _start(at, budget=1, samples=1)
    run = _finish(at)
    assert run.state == "finished", run.error
    assert run.kwargs["threads"] == 1
    assert torch.get_num_threads() == before  # the run put the count back
    at.number_input(key="threads").set_value(0)  # auto: not passed, design() picks
    _start(at, budget=2, samples=1)
    assert "threads" not in at.session_state["run"].kwargs
    _finish(at)


def test_same_study_name_resumes(app):
    at = _load(app)
    _start(at, budget=2)
    first = _finish(at)
    trials = {r.trial for r in _frame(at, "distance").itertuples()}
    _start(at, budget=4)  # the budget is the total the study should hold
    run = _finish(at)
    assert run is not first and run.state == "finished"
    assert run.progress()["complete"] == 4
    table = _frame(at, "distance")
    assert len(table) == 4 * 2 and set(table["trial"]) == trials | {2, 3}


def test_stop_ends_the_run_after_a_trial_and_keeps_its_results(app):
    at = _load(app)
    _start(at, budget=40)
    run = at.session_state["run"]
    end = time.monotonic() + TIMEOUT
    while run.progress()["complete"] < 1 and time.monotonic() < end:  # a trial is under way
        time.sleep(0.05)
    at.button(key="stop").click()
    at.run()
    run = _finish(at)
    assert run.state == "stopped", run.error
    done = run.progress()["complete"]
    assert 1 <= done < 40
    assert len(_frame(at, "distance")) == done * 2
    assert at.status[0].label.startswith("Design stopped")


def test_unreachable_storage_is_an_error_with_masked_password(app):
    pytest.importorskip("psycopg2")
    at = _load(app)
    at.text_input(key="storage").set_value("postgresql://me:s3cret@127.0.0.1:1/nodb")
    at.button(key="start").click()
    at.run()
    assert not at.exception
    msg = at.error[0].value
    assert "cannot reach storage" in msg and "s3cret" not in msg and "me:***@" in msg
    assert "run" not in at.session_state


def test_watch_a_study_run_elsewhere(app, tmp_path, design_api):
    from tests.dashboard_fake import FakeGenerator

    url = f"sqlite:///{tmp_path / 'other.db'}"
    design_api(targets={"vol_frac_D": 0.4}, tolerance=0.05, model=FakeGenerator(), budget=3,
               samples_per_trial=1, storage=url, study_name="theirs", method="random")
    app.text_input(key="watch_storage").set_value(url)
    app.text_input(key="watch_name").set_value("theirs")
    app.button(key="watch").click()
    app.run()
    assert not app.exception
    assert {m.label: m.value for m in app.metric}["complete trials"] == "3"
    assert len(_frame(app, "state")) == 3
    # open its candidates in the browser, with no model loaded on this page
    app.button(key="watch_open").click()
    app.run()
    assert not app.exception, app.exception
    table = _frame(app, "distance")
    assert len(table) == 3 and set(table["trial"]) == {0, 1, 2}
    assert any(d.proto.label.startswith("Download candidate 0") for d in app.get("download_button"))
    app.text_input(key="watch_name").set_value("nope")
    app.button(key="watch").click()
    app.run()
    assert "no study named 'nope'" in app.error[0].value and "theirs" in app.error[0].value


def test_verify_reruns_the_recipe_and_compares(app, monkeypatch):
    import invdesign.verification as verification
    from tests.dashboard_fake import FakeSimulator

    monkeypatch.setattr(verification, "default_simulator", lambda device="cpu", shape=None, phases=2, model=None: FakeSimulator())
    at = _load(app)
    _start(at, budget=2)
    _finish(at)
    at.number_input(key="candidate").set_value(1)
    at.run()
    at.button(key="verify").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    # the fake simulator inverts the fake recipe: the candidate is reproduced up to rounding
    assert float(metrics["distance to candidate"]) < 0.1
    compare = _frame(at, "simulated (mean)")
    assert list(compare["descriptor"]) == ["vol_frac_D", "vol_frac_M"]
    cand = _frame(at, "distance").iloc[1]
    assert compare["candidate"].tolist() == pytest.approx([cand.vol_frac_D, cand.vol_frac_M])
    assert len(_frame(at, "distance_to_target")) == 3


def test_verify_without_a_simulator_is_an_error(app, monkeypatch):
    import invdesign.verification as verification

    def missing(device="cpu", shape=None, phases=2, model=None):
        raise ValueError("generators.cahn_hilliard is not available: pass simulator=")

    monkeypatch.setattr(verification, "default_simulator", missing)
    at = _load(app)
    _start(at, budget=1)
    _finish(at)
    at.button(key="verify").click()
    at.run()
    assert not at.exception and "cahn_hilliard is not available" in at.error[0].value


def test_resuming_with_other_settings_shows_the_design_error(app):
    at = _load(app)
    _start(at, budget=1)
    _finish(at)
    at.slider(key="target_vol_frac_D").set_value(0.3)
    at.number_input(key="budget").set_value(2)
    at.button(key="start").click()
    at.run()
    run = _finish(at)
    assert run.state == "failed" and at.status[0].label.startswith("Design failed")
    assert any("settings" in e.value for e in at.error), [e.value for e in at.error]
    assert run.progress()["complete"] == 1  # nothing was added to the study
