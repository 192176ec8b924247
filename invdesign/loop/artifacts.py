"""Moved to :mod:`invdesign.studies.artifacts` (study infrastructure); re-exported here so code written
against this path keeps working."""

from invdesign.studies.artifacts import (  # noqa: F401
    ArtifactCorrupted,
    SafeArtifactStore,
    load_trial_arrays,
    safe_join,
    save_trial_arrays,
    sha256_file,
)
