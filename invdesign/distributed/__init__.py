"""Many workers on one study: storages with heartbeats, safe artifacts, pending-aware BO."""

from invdesign.distributed.artifacts import SafeArtifactStore, safe_join, sha256_file
from invdesign.distributed.config import StudyConfig, register_generator, resolve_generator, validate_targets
from invdesign.distributed.proposer import PendingAwareBOSampler
from invdesign.distributed.storage import StorageUnavailable, check_url, mask_url, open_storage
from invdesign.distributed.worker import (
    WorkerError,
    WorkerSummary,
    create_study,
    read_artifact,
    run_worker,
)

__all__ = [
    "PendingAwareBOSampler", "SafeArtifactStore", "StorageUnavailable", "StudyConfig", "WorkerError",
    "WorkerSummary", "check_url", "create_study", "mask_url", "open_storage", "read_artifact",
    "register_generator", "resolve_generator", "run_worker", "safe_join", "sha256_file",
    "validate_targets",
]
