"""One worker of a shared study: propose, sample, measure, store artifacts, repeat.

Any number of workers (processes, machines) may run :func:`run_worker` on the same study. Each
trial's volumes are saved as one ``.npz`` artifact (``volumes`` uint8 ``(n, X, Y, Z)``,
``conditions`` float64 ``(n, d)``) whose artifact id and SHA-256 are stored in the trial's user
attrs (``artifact``), next to the measured descriptor means (``descriptors``) and the worker's id.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.artifacts import upload_artifact
from optuna.trial import TrialState

from invdesign.distributed.artifacts import SafeArtifactStore, sha256_file
from invdesign.distributed.loop_worker import SETTINGS_ATTR, ProposalLock, run_loop_trials
from invdesign.distributed.config import StudyConfig, resolve_generator, validate_targets
from invdesign.distributed.proposer import DESCRIPTORS_ATTR, PendingAwareBOSampler
from invdesign.distributed.storage import StorageUnavailable, load_study, mask_url, open_storage, redact

_log = logging.getLogger(__name__)

ARTIFACT_ATTR = "artifact"


class WorkerError(RuntimeError):
    """A worker had to stop (out of memory at batch 1, storage lost); the message says why."""


@dataclass
class WorkerSummary:
    """What one worker did (JSON-friendly)."""

    study_name: str
    worker: str
    completed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    batch_size: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"study_name": self.study_name, "worker": self.worker, "completed": self.completed,
                "failed": self.failed, "batch_size": self.batch_size, "seconds": round(self.seconds, 3)}


def measure(generator: Any, volumes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-volume descriptors: the generator's own ``describe_batch`` if it has one, else objectives'."""
    fn = getattr(generator, "describe_batch", None)
    if fn is None:
        import objectives

        fn = getattr(objectives, "describe_batch", None)
        if fn is None:
            raise ValueError("objectives.describe_batch is not available to measure volumes")
    return fn(volumes)


class BatchSampler:
    """Sample ``n`` volumes per condition in batches, halving the batch after a CUDA out-of-memory.

    Parameters
    ----------
    generator : Generator
    batch_size : int
        Volumes per ``generator.sample`` call to start with; it only shrinks.
    """

    def __init__(self, generator: Any, batch_size: int) -> None:
        self.generator = generator
        self.batch_size = max(1, int(batch_size))

    def __call__(self, condition: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        vols, conds, done = [], [], 0
        while done < n:
            b = min(self.batch_size, n - done)
            try:
                s = self.generator.sample(condition, n=b, seed=seed * 100003 + done)
            except torch.OutOfMemoryError:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if b <= 1:
                    raise WorkerError("out of GPU memory while sampling even one volume per batch") from None
                self.batch_size = max(1, b // 2)
                _log.warning("out of GPU memory at batch %d; retrying with batch %d", b, self.batch_size)
                continue
            vols.append(s.volumes.detach().to("cpu"))
            conds.append(s.conditions.detach().to("cpu"))
            done += b
        return torch.cat(vols), torch.cat(conds)


def trial_loss(means: dict[str, float], targets: dict[str, float], tolerances: dict[str, float]) -> float:
    """Mean over targets of ``((mean - target) / tolerance)^2`` (0 at the target, 1 at one tolerance)."""
    return float(np.mean([((means[n] - targets[n]) / tolerances[n]) ** 2 for n in targets]))


def meets_target(means: dict[str, float], targets: dict[str, float], tolerances: dict[str, float]) -> bool:
    """True when every descriptor mean lies within its tolerance of the target."""
    return all(abs(means[n] - targets[n]) <= tolerances[n] for n in targets)


def storage_reachable(storage: Any) -> bool:
    """True unless ``storage`` is a database that does not answer ``SELECT 1``."""
    engine = getattr(storage, "engine", None)
    if engine is None:
        return True
    import sqlalchemy

    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return True
    except Exception:
        return False


def run_worker(
    storage_url: str,
    study_name: str,
    n_trials: int = 1,
    *,
    device: str = "cpu",
    artifacts: str | os.PathLike | None = None,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    wait_s: float = 0.0,
    seed: int | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> WorkerSummary:
    """Run ``n_trials`` trials of a shared study, then return.

    Parameters
    ----------
    storage_url : str
        Storage URL (see :mod:`invdesign.distributed.storage`); passwords are never printed.
    study_name : str
        An existing study created by ``invdesign design ... --budget 0`` (or
        :func:`create_study`); everything else (generator, targets, settings) is read from it.
    n_trials : int
        Trials this worker runs (> 0). Stops earlier when the study's ``budget`` of COMPLETE
        trials is reached.
    device : str
        Torch device of the generator (e.g. ``"cuda:0"``).
    artifacts : path, optional
        Shared artifact directory; default: the study's ``settings.artifacts``.
    heartbeat_interval, grace_period : int, optional
        Seconds; default: the study's settings (10 s, 2 intervals).
    wait_s : float
        How long to keep retrying an unreachable database at start-up.
    seed : int, optional
        Seed of this worker's random proposals (default: from pid and time).

    Raises
    ------
    ValueError
        Bad arguments, unknown study, bad study settings, unwritable artifact directory.
    StorageUnavailable
        The database cannot be reached (or went away during the run).
    WorkerError
        Sampling ran out of GPU memory even at batch 1.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials <= 0:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    import sqlalchemy.exc

    t0 = time.perf_counter()
    try:
        probe = open_storage(storage_url, heartbeat_interval=None, wait_s=wait_s)
        attrs = load_study(probe, study_name, storage_url).user_attrs
        if SETTINGS_ATTR in attrs:
            return _run_loop_worker(storage_url, study_name, n_trials, device=device, artifacts=artifacts,
                                    heartbeat_interval=heartbeat_interval or 10, grace_period=grace_period,
                                    wait_s=wait_s, on_trial=on_trial, t0=t0)
        cfg = StudyConfig.from_attrs(attrs)
        storage = open_storage(storage_url, heartbeat_interval=heartbeat_interval or cfg.heartbeat_interval,
                               grace_period=grace_period or cfg.grace_period, wait_s=wait_s)
        art_dir = artifacts if artifacts is not None else cfg.artifacts
        if art_dir is None:
            raise ValueError("no artifact directory: pass --artifacts or store settings.artifacts in the study")
        store = SafeArtifactStore(art_dir)
        generator = resolve_generator(cfg.generator, device=device)
        ranges = getattr(generator, "target_ranges", None)
        known = getattr(generator, "descriptor_names", None)
        validate_targets(cfg.targets, cfg.tolerances, known=tuple(known) if known else None, ranges=ranges)
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        if seed is None:
            seed = (os.getpid() * 7919 + time.time_ns()) % (2**31)
        sampler = PendingAwareBOSampler(
            generator.condition_names, generator.bounds, cfg.targets, cfg.tolerances, n_init=cfg.n_init,
            inequality_constraints=getattr(generator, "inequality_constraints", None), seed=seed)
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
        batch = BatchSampler(generator, cfg.batch_size)
        summary = WorkerSummary(study_name, worker_id)
        bounds = torch.as_tensor(generator.bounds, dtype=torch.float64)

        def objective(trial: optuna.Trial) -> float:
            x = [trial.suggest_float(n, float(lo), float(hi))
                 for n, lo, hi in zip(generator.condition_names, bounds[0].tolist(), bounds[1].tolist())]
            trial.set_user_attr("worker", worker_id)
            cond = torch.tensor([x], dtype=torch.float32, device=device)
            volumes, conds = batch(cond, cfg.n_samples, seed=trial.number)
            desc = measure(generator, volumes)
            means = {n: float(torch.as_tensor(desc[n]).double().mean()) for n in cfg.targets}
            with tempfile.TemporaryDirectory(prefix="invdesign-trial-") as tmp:
                path = Path(tmp) / f"trial_{trial.number}.npz"
                np.savez_compressed(path, volumes=volumes.to(torch.uint8).numpy(),
                                    conditions=conds.double().numpy())
                digest = sha256_file(path)
                art_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
            trial.set_user_attr(ARTIFACT_ATTR, {"id": art_id, "sha256": digest, "file": path.name})
            trial.set_user_attr(DESCRIPTORS_ATTR, means)
            trial.set_user_attr("meets_target", meets_target(means, cfg.targets, cfg.tolerances))
            trial.set_user_attr("pending_at_proposal", sampler.last_pending)
            return trial_loss(means, cfg.targets, cfg.tolerances)

        def record(study_: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
            (summary.completed if frozen.state == TrialState.COMPLETE else summary.failed).append(frozen.number)
            if on_trial is not None:
                on_trial(frozen)
            if cfg.budget is not None:
                done = len(study_.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
                if done >= cfg.budget:
                    study_.stop()

        if cfg.budget is not None and len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) >= cfg.budget:
            _log.info("study %s already has its budget of %d complete trials", study_name, cfg.budget)
        else:
            try:
                study.optimize(objective, n_trials=n_trials, callbacks=[record], catch=())
            except (ValueError, OSError, WorkerError):
                raise
            except Exception as exc:  # Optuna may hide a lost database behind other errors
                if storage_reachable(storage):
                    raise
                raise StorageUnavailable(
                    f"lost storage {mask_url(storage_url)} during a trial; "
                    "its trial will be retried after the grace period"
                ) from None
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
            sqlalchemy.exc.DBAPIError, optuna.exceptions.StorageInternalError) as exc:
        orig = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise StorageUnavailable(
            f"lost storage {mask_url(storage_url)}: {redact(orig[0] if orig else type(exc).__name__, storage_url)}"
        ) from None
    summary.batch_size = batch.batch_size
    summary.seconds = time.perf_counter() - t0
    return summary


def _run_loop_worker(storage_url: str, study_name: str, n_trials: int, *, device: str,
                     artifacts: Any, heartbeat_interval: int, grace_period: int | None, wait_s: float,
                     on_trial: Any, t0: float) -> WorkerSummary:
    """:func:`run_worker` for a study made by ``invdesign design`` (settings attr present)."""
    from invdesign.loop.study import Settings

    # Heartbeat-stale trials are failed, not re-queued: the loop proposes through enqueued
    # trials, so a re-queued WAITING trial would be taken by another worker's next ``ask``.
    storage = open_storage(storage_url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                           max_retry=0, wait_s=wait_s)
    study = optuna.load_study(study_name=study_name, storage=storage)
    settings = Settings.from_study(study)
    if artifacts is not None and Path(artifacts).resolve() != Path(settings.artifact_dir).resolve():
        raise ValueError(f"this study keeps its artifacts in {settings.artifact_dir!r}; "
                         f"--artifacts {str(artifacts)!r} differs")
    SafeArtifactStore(settings.artifact_dir)  # writable, or a clear error before any trial
    generator = resolve_generator(settings.model, device=device)
    summary = WorkerSummary(study_name, f"{socket.gethostname()}:{os.getpid()}")
    try:
        lock = ProposalLock(storage, storage_url, study_name)
        summary.completed, summary.failed = run_loop_trials(study, generator, n_trials, lock, on_trial=on_trial)
    except (ValueError, OSError, WorkerError):
        raise
    except Exception as exc:
        if storage_reachable(storage):
            raise
        raise StorageUnavailable(f"lost storage {mask_url(storage_url)} during a trial; "
                                 "its trial will be failed after the grace period") from None
    summary.seconds = time.perf_counter() - t0
    return summary


def create_study(storage_url: str, study_name: str, config: StudyConfig, *,
                 load_if_exists: bool = False) -> optuna.Study:
    """Create a study that workers can run (a minimal stand-in for ``design --budget 0``)."""
    validate_targets(config.targets, config.tolerances)
    storage = open_storage(storage_url, heartbeat_interval=None)
    study = optuna.create_study(storage=storage, study_name=study_name, direction="minimize",
                                load_if_exists=load_if_exists)
    for key, value in config.to_attrs().items():
        study.set_user_attr(key, value)
    return study


def read_artifact(storage_url: str, study_name: str, trial_number: int,
                  artifacts: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load one trial's volumes artifact, checking its SHA-256 against the trial's record.

    Raises
    ------
    ValueError
        The trial has no artifact, or the artifact's bytes do not match the recorded hash.
    """
    study = load_study(open_storage(storage_url, heartbeat_interval=None), study_name, storage_url)
    trial = study.trials[trial_number]
    meta = trial.user_attrs.get(ARTIFACT_ATTR)
    if not meta:
        raise ValueError(f"trial {trial_number} has no artifact")
    store = SafeArtifactStore(artifacts, create=False)
    with store.open_reader(meta["id"]) as f:
        data = f.read()
    import hashlib

    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ValueError(f"artifact of trial {trial_number} is corrupted (SHA-256 mismatch)")
    with np.load(io.BytesIO(data)) as z:
        return {k: z[k] for k in z.files}
