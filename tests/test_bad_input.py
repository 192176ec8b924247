"""Bad input is refused with one clear line naming the problem, and nothing in the study changes."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import generators.microgen3d as mg
from invdesign.distributed import (
    SafeArtifactStore,
    check_url,
    mask_url,
    open_storage,
    run_worker,
    safe_join,
)
from tests.pg import journal_url, load, make_study, pg_url  # noqa: F401
from tests.workers_fake import make_loop_study, register

register()
TOL = {"vol_frac_D": 0.02, "vol_frac_M": 0.02}


def _snapshot(url, name):
    s = load(url, name)
    return dict(s.user_attrs), [(t.number, t.state, t.params, t.user_attrs) for t in s.trials]


# ---- targets, tolerances, budgets -------------------------------------------------------------

def _design_fake(tmp_path, targets, tolerances, model="workers-fake", **kw):
    from invdesign.loop.api import design

    return design(targets, tolerance=tolerances, model=model, budget=0, out_dir=tmp_path / "out", **kw)


@pytest.mark.parametrize("targets, tolerances, match", [
    ({"vol_frac_X": 0.3}, {"vol_frac_X": 0.1}, "unknown descriptor vol_frac_X"),
    ({"vol_frac_D": 1.3, "vol_frac_M": 0.1}, TOL, r"vol_frac_D=1.3 is out of range: it is a fraction in \[0, 1\]"),
    ({"vol_frac_D": -0.1, "vol_frac_M": 0.1}, TOL, "out of range"),
    ({"vol_frac_D": 0.7, "vol_frac_M": 0.5}, TOL, "infeasible targets: volume fractions"),
    ({"vol_frac_D": 0.3, "vol_frac_M": 0.1}, {"vol_frac_D": 0.0, "vol_frac_M": 0.1}, "tolerance for vol_frac_D must be > 0"),
    ({"vol_frac_D": 0.3, "vol_frac_M": 0.1}, {"vol_frac_D": -1, "vol_frac_M": 0.1}, "must be > 0"),
    ({"vol_frac_D": 0.3, "vol_frac_M": 0.1}, {"vol_frac_D": 0.1}, "no tolerance given for targets"),
    ({"vol_frac_D": float("nan"), "vol_frac_M": 0.1}, TOL, "not finite"),
])
def test_bad_targets_are_named(targets, tolerances, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        _design_fake(tmp_path, targets, tolerances)
    assert not (tmp_path / "out").exists(), "refused targets must not create a study"


def test_model_range_is_enforced(tmp_path):
    from invdesign.distributed import register_generator
    from tests.workers_fake import FakeGenerator

    class Ranged(FakeGenerator):
        descriptor_ranges = {"vol_frac_D": (0.1, 0.2)}

    register_generator("fake-ranged", lambda device="cpu": Ranged(device=device))
    with pytest.raises(ValueError, match=r"outside the model's training range \[0.1, 0.2\]"):
        _design_fake(tmp_path, {"vol_frac_D": 0.25}, 0.01, model="fake-ranged")


@pytest.mark.parametrize("key, value, match", [
    ("samples_per_trial", 0, "samples_per_trial must be >= 1"), ("budget", -3, "budget must be >= 0"),
    ("n_initial", 1.5, "n_initial must be an integer"), ("batch_size", 0, "batch_size must be >= 1"),
    ("initial_radius", 0.0, r"initial_radius must be a number in \(0, 1\]"),
    ("initial_radius", 1.5, r"initial_radius must be a number in \(0, 1\]"),
    ("prior", "wide", "unknown prior 'wide'; choose one of generator, flat"),
])
def test_non_positive_settings_are_refused(key, value, match, tmp_path):
    kw = {"budget": 0, key: value}
    from invdesign.loop.api import design

    with pytest.raises(ValueError, match=match):
        design({"vol_frac_D": 0.3}, tolerance=0.1, model="workers-fake", out_dir=tmp_path / "out", **kw)


@pytest.mark.parametrize("key, value", [("heartbeat_interval", 0), ("grace_period", -1)])
def test_non_positive_worker_settings_are_refused(journal_url, tmp_path, key, value):
    name = make_study(journal_url, tmp_path / "out")
    with pytest.raises(ValueError, match=f"{key} must be a positive integer"):
        run_worker(journal_url, name, 1, **{key: value})
    assert load(journal_url, name).trials == []


def test_bad_study_settings_change_nothing(journal_url, tmp_path):
    import json

    from invdesign.studies.study import SETTINGS_ATTR

    name = make_study(journal_url, tmp_path / "out")
    run_worker(journal_url, name, 1)
    study = load(journal_url, name)
    stored = json.loads(study.user_attrs[SETTINGS_ATTR])
    stored["tolerances"]["vol_frac_D"] = 0.0
    study.set_user_attr(SETTINGS_ATTR, json.dumps(stored))
    before = _snapshot(journal_url, name)
    with pytest.raises(ValueError, match="tolerance for vol_frac_D must be > 0"):
        run_worker(journal_url, name, 2)
    with pytest.raises(ValueError, match="n_trials must be a positive integer"):
        run_worker(journal_url, name, 0)
    assert _snapshot(journal_url, name) == before


def test_design_loop_refuses_bad_targets_without_touching_the_study(journal_url, tmp_path):
    from invdesign.loop.api import design
    from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

    make_loop_study(journal_url, tmp_path / "out", "d", budget=1)
    before = _snapshot(journal_url, "d")
    fake_describe_batch.devices = []
    for targets, tol, budget, match in [
        ({"NOPE": 0.4}, 0.03, 1, "NOPE"),
        ({"ABS_f_D": 1.4, "CT_f_D_tort1": 0.3}, 0.03, 1, "ABS_f_D"),
        ({"ABS_f_D": 0.4, "CT_f_D_tort1": 0.3}, 0.0, 1, "toleran"),
        ({"ABS_f_D": 0.4, "CT_f_D_tort1": 0.3}, 0.03, -1, "budget"),
    ]:
        with pytest.raises(ValueError, match=match):
            design(targets, tolerance=tol, model=BiasedFakeGenerator(), budget=budget, samples_per_trial=2,
                   storage=journal_url, study_name="d", out_dir=tmp_path / "out", describe=fake_describe_batch)
    assert _snapshot(journal_url, "d") == before


# ---- storage URLs, study names, passwords ------------------------------------------------------

@pytest.mark.parametrize("url, match", [
    ("postgresq://u:hunter2@127.0.0.1:5432/db", "unknown storage URL scheme 'postgresq'"),
    ("postgresql://u:hunter2@:5432/db", "names no host"),
    ("postgresql://u:hunter2@127.0.0.1:99999/db", "port"),
    ("/no/such/dir/study.log", "does not exist"),
    ("", "empty storage URL"),
])
def test_storage_url_typos_are_named_and_passwords_masked(url, match):
    with pytest.raises(ValueError, match=match) as info:
        check_url(url)
    assert "hunter2" not in str(info.value)


def test_cli_storage_typo_is_one_line_exit_2_without_password():
    from invdesign.cli.main import app

    res = CliRunner().invoke(app, ["worker", "--storage", "postgressql://me:hunter2@127.0.0.1/db",
                                   "--study-name", "s"])
    assert res.exit_code == 2
    text = res.output + (res.stderr if res.stderr_bytes is not None else "")
    assert "hunter2" not in text and "Traceback" not in text
    assert "unknown storage URL scheme 'postgressql'" in " ".join(text.split())


def test_unreachable_database_is_one_clear_line(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    from invdesign.distributed import StorageUnavailable

    with pytest.raises(StorageUnavailable, match="cannot reach storage") as info:
        open_storage(f"postgresql+psycopg2://me:hunter2@127.0.0.1:{port}/db")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_unknown_study_name_lists_the_studies(journal_url, tmp_path):
    name = make_study(journal_url, tmp_path / "out")
    with pytest.raises(ValueError, match=f"no study named 'nope'.*{name}"):
        run_worker(journal_url, "nope", 1)


def test_mask_url():
    assert mask_url("postgresql://me:p%40ss@h:5/db") == "postgresql://me:***@h:5/db"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_test_server_binds_localhost_only(pg_url):
    from sqlalchemy.engine import make_url

    assert make_url(pg_url).host == "127.0.0.1"


def test_password_never_logged(pg_url, tmp_path, caplog):
    import logging

    password = pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    name = make_study(pg_url, tmp_path / "out")
    with caplog.at_level(logging.DEBUG):
        summary = run_worker(pg_url, name, 1)
    assert password not in caplog.text and password not in str(summary.as_dict())


# ---- paths that would escape their directory ---------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "..", ""])
def test_paths_cannot_escape(tmp_path, name):
    with pytest.raises(ValueError):
        safe_join(tmp_path, name)


def test_symlink_out_of_the_directory_is_refused(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="escapes"):
        safe_join(base, "link/secret")
    assert safe_join(base, "sub/file.npz") == (base / "sub" / "file.npz").resolve()


@pytest.mark.parametrize("artifact_id", ["../outside", "/etc/passwd", "a/b", ".."])
def test_artifact_ids_cannot_escape(tmp_path, artifact_id):
    store = SafeArtifactStore(tmp_path / "art")
    with pytest.raises(ValueError):
        store.open_reader(artifact_id)
    import io

    with pytest.raises(ValueError):
        store.write(artifact_id, io.BytesIO(b"x"))
    assert not (tmp_path / "outside").exists()


# ---- weights and files (other engineers' modules) ----------------------------------------------

class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('INVDESIGN_PWNED', '/tmp/invdesign-pwned')}",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("INVDESIGN_PWNED", str(marker))
    bad = tmp_path / "vae.pt"
    with open(bad, "wb") as f:
        pickle.dump({"w": _RunsCode()}, f)
    with pytest.raises(ValueError):
        mg.load_pack("experimental", vae=bad, fp=bad, ddpm=bad)
    assert not marker.exists(), "loading the weights ran code"


def test_weights_file_that_is_not_a_state_dict(tmp_path):
    p = tmp_path / "fp.pt"
    torch.save([torch.zeros(2)], p)
    with pytest.raises(ValueError, match="state dict"):
        mg.load_pack("experimental", vae=p, fp=p, ddpm=p)


def test_mismatched_pack_is_refused(tmp_path):
    fp = tmp_path / "fp.pt"
    torch.save({"fc1.weight": torch.zeros(3, 3)}, fp)  # nothing like any pack's layout
    with pytest.raises(ValueError):
        mg.load_pack("ch_2phase", vae=fp, fp=fp, ddpm=fp)


def test_unknown_model_name():
    import generators

    with pytest.raises(ValueError):
        generators.load("no-such-model")


def test_labels_other_than_0_1_2_are_refused():
    from objectives import as_label_tensor

    vol = np.zeros((4, 4, 4), dtype=np.uint8)
    vol[0, 0, 0] = 3
    with pytest.raises(ValueError, match="3"):
        as_label_tensor(vol)


def test_volume_files_with_bad_labels_are_refused(tmp_path):
    from objectives.io import read_volume

    vol = np.zeros((4, 4, 4), dtype=np.uint8)
    vol[1, 2, 3] = 7
    np.save(tmp_path / "v.npy", vol)
    with pytest.raises(ValueError, match="7"):
        read_volume(tmp_path / "v.npy")


def test_empty_or_truncated_hdf5_shard(tmp_path):
    h5py = pytest.importorskip("h5py")
    from objectives.io import read_h5_samples, write_h5_samples

    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w"):
        pass
    with pytest.raises(ValueError):
        read_h5_samples(empty)
    good = tmp_path / "good.h5"
    write_h5_samples(good, [np.zeros((8, 8, 4), dtype=np.uint8)] * 2)
    data = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises((ValueError, OSError)):
        read_h5_samples(cut)
    zero = tmp_path / "zero.h5"
    zero.write_bytes(b"")
    with pytest.raises((ValueError, OSError)):
        read_h5_samples(zero)
