"""Design studies in other storages: journal files at a given path, several studies, URLs."""

import optuna
import pytest

from invdesign import design
from invdesign.studies.study import load_design_study, open_existing, open_storage
from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

TARGETS = {"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}


def test_journal_path_with_several_studies(tmp_path):
    journal = str(tmp_path / "shared.journal")
    for name in ("a", "b"):
        design(TARGETS, 0.03, model=BiasedFakeGenerator(), budget=1, method="random",
               storage=journal, study_name=name, out_dir=tmp_path / name, describe=fake_describe_batch)
    storage = open_storage(journal, None)
    assert sorted(optuna.get_all_study_names(storage)) == ["a", "b"]
    with pytest.raises(ValueError, match="holds 2 studies"):
        load_design_study(storage)
    assert load_design_study(storage, "b").study_name == "b"
    with pytest.raises(ValueError, match="no study named 'c'"):
        load_design_study(storage, "c")
    assert len(open_existing(journal, None, "a").trials) == 1


def test_open_existing_errors(tmp_path):
    with pytest.raises(ValueError, match="give --out"):
        open_existing(None, None, None)
    with pytest.raises(ValueError, match="does not exist"):
        open_existing(str(tmp_path / "missing.journal"), None, None)
    storage = open_storage(None, tmp_path)
    optuna.create_study(storage=storage, study_name="plain")
    with pytest.raises(ValueError, match="holds no invdesign design settings"):
        open_existing(None, tmp_path, "plain")
