"""Moved to :mod:`invdesign.studies.locks` (study infrastructure); re-exported here so code written
against this path keeps working."""

from invdesign.studies.locks import (  # noqa: F401
    ProposalLock,
    backend_of,
    lock_file,
)
