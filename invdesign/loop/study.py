"""Moved to :mod:`invdesign.studies.study` (study infrastructure); re-exported here so code written
against this path keeps working."""

from invdesign.studies.study import (  # noqa: F401
    METHODS,
    SETTINGS_ATTR,
    Settings,
    artifact_store,
    create_or_resume,
    fail_stale_trials,
    fail_stale_trials_locked,
    load_design_study,
    make_sampler,
    open_existing,
    open_storage,
)
