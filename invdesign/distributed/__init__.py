"""Many workers on one design study: :func:`run_worker` around the loop's ``run_trials``.

The storage opener, the artifact store and the generator registry are the design loop's (one
mechanism for ``design``, ``worker`` and the dashboard); they are re-exported here.
"""

from invdesign.distributed.worker import WorkerError, WorkerSummary, read_artifact, run_worker
from invdesign.loop.api import register_generator, resolve_generator
from invdesign.studies.artifacts import SafeArtifactStore, safe_join, sha256_file
from invdesign.studies.storage import StorageUnavailable, check_url, mask_url, open_storage

__all__ = [
    "SafeArtifactStore", "StorageUnavailable", "WorkerError", "WorkerSummary", "check_url", "mask_url",
    "open_storage", "read_artifact", "register_generator", "resolve_generator", "run_worker",
    "safe_join", "sha256_file",
]
