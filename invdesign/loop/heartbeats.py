"""Moved to :mod:`invdesign.studies.heartbeats` (study infrastructure); re-exported here so code written
against this path keeps working."""

from invdesign.studies.heartbeats import (  # noqa: F401
    TrialHeartbeats,
)
