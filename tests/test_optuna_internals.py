"""Optuna's private API is used in one module only, for a pinned and tested Optuna range."""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

import optuna
import pytest

from invdesign.studies import optuna_internals as oi

ROOT = Path(__file__).resolve().parents[1]
SEAM = ROOT / "invdesign" / "studies" / "optuna_internals.py"
#: Files of other work in progress that still reach into Optuna themselves; each must move to the
#: seam (trial_id_of, storage_of, study_id_of, create_running_trial) and leave this list.
PENDING: set[str] = set()
#: What reaching into Optuna looks like: a private module or name imported from optuna, or one of
#: the private attributes of its Study, Trial, storages and caches.
PRIVATE = re.compile(
    r"(from\s+optuna[\w.]*\s+import\s+\(?[^)\n]*\b_\w+|optuna(\.\w+)*\._\w+"
    r"|\._(storage|study_id|trial_id|backend|base_path|get_stale_trial_ids|get_filepath)\b|_CachedStorage)")


def _python_files():
    for top in ("objectives", "generators", "invdesign", "apps", "benchmarks", "scripts", "tests"):
        yield from (ROOT / top).rglob("*.py")


def test_private_api_lives_in_one_module():
    offenders = []
    for path in _python_files():
        rel = str(path.relative_to(ROOT))
        if path == SEAM or rel in PENDING or path == Path(__file__):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if PRIVATE.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "use invdesign.studies.optuna_internals instead:\n" + "\n".join(offenders)
    assert PRIVATE.search(SEAM.read_text())  # the pattern does see the seam's own uses


def test_the_checker_sees_private_uses():
    for line in ("from optuna.storages._heartbeat import is_heartbeat_enabled", "x = study._storage",
                 "trial._trial_id", "optuna.storages._rdb.models", "s._backend", "class X(_CachedStorage):"):
        assert PRIVATE.search(line), line
    for line in ("from optuna.storages import RDBStorage", "study.study_name", "trial.number",
                 "optuna.artifacts.upload_artifact"):
        assert not PRIVATE.search(line), line


def test_pyproject_pins_the_tested_range_and_the_installed_optuna_is_in_it():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if re.match(r"optuna\b", d))
    assert pin.replace(" ", "") == f"optuna>={oi.OPTUNA_RANGE[0]},<{oi.OPTUNA_RANGE[1]}"
    assert oi.in_supported_range(optuna.__version__), optuna.__version__
    assert oi.in_supported_range("4.9.0") and oi.in_supported_range("5.0.2")
    assert not oi.in_supported_range("4.8.0") and not oi.in_supported_range("5.1.0")


def test_an_unsupported_optuna_is_reported_at_import(monkeypatch):
    import importlib

    monkeypatch.setattr(optuna, "__version__", "3.6.1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        importlib.reload(oi)
    monkeypatch.undo()
    importlib.reload(oi)
    assert any("optuna 3.6.1" in str(w.message) and ">=4.9,<5.1" in str(w.message) for w in caught)


def test_accessors_and_one_call_trial_creation(tmp_path):
    from invdesign.studies.storage import open_storage

    study = optuna.create_study(storage=open_storage(str(tmp_path / "s.journal")))
    assert oi.heartbeats_enabled(oi.storage_of(study))
    template = optuna.trial.create_trial(
        state=optuna.trial.TrialState.RUNNING, params={"x": 0.25},
        distributions={"x": optuna.distributions.FloatDistribution(0, 1)}, user_attrs={"condition": [0.25]})
    trial = oi.create_running_trial(study, template)
    frozen = oi.storage_of(study).get_trial(oi.trial_id_of(trial))
    assert frozen.number == trial.number == 0 and frozen.state == optuna.trial.TrialState.RUNNING
    assert frozen.user_attrs == {"condition": [0.25]} and frozen.params == {"x": 0.25}
    assert oi.study_id_of(study) == oi.storage_of(study).get_study_id_from_name(study.study_name)
    sqlite = optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert oi.backend_of(oi.storage_of(sqlite)) is not oi.storage_of(sqlite)  # under Optuna's cache
    assert oi.backend_of(oi.storage_of(study)) is oi.storage_of(study)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_that_never_beat_is_stale_and_a_beating_one_is_not(tmp_path):
    import time

    from invdesign.studies.stale import fail_stale_trials
    from invdesign.studies.storage import HEARTBEAT_ATTR, open_storage

    storage = open_storage(str(tmp_path / "s.journal"), heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage)
    never, beating = study.ask(), study.ask()
    storage.set_trial_system_attr(oi.trial_id_of(beating), HEARTBEAT_ATTR, time.time())
    assert fail_stale_trials(study) == 1
    states = {t.number: t.state for t in study.get_trials()}
    assert states[never.number] == optuna.trial.TrialState.FAIL
    assert states[beating.number] == optuna.trial.TrialState.RUNNING
    with pytest.raises(ValueError, match="heartbeat_interval"):
        oi.HeartbeatJournalStorage(None, heartbeat_interval=0)
