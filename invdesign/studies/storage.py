"""Opening the Optuna storage of a design: URL checks, masked URLs, heartbeats on every backend.

Every process that touches a design study (``design``, ``worker``, the dashboard) opens its
storage here, so all of them see the same heartbeats and the same stale-trial rules.

Storage URLs
------------
- ``postgresql://user:pass@host:port/db`` (also ``postgresql+psycopg2://``), ``mysql://...``,
  ``sqlite:///path.db``: Optuna's RDBStorage.
- ``journal:///abs/path.log``, ``file:///abs/path.log`` or a plain file path (no ``://``): Optuna's
  JournalStorage on a file (the default, single-machine storage).

Both get heartbeats (a RUNNING trial's process writes a timestamp every ``heartbeat_interval``
seconds; a trial whose timestamp is older than ``grace_period`` seconds, or that never recorded one,
is failed by the next process that proposes a trial and re-queued once per failure, up to
``max_retry`` times, by Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`).
The design loop records a trial's first heartbeat while it holds the proposal lock, so a live
trial always has one. The two heartbeat storages live with the rest of the Optuna internals they
need (:mod:`invdesign.studies.optuna_internals`).
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from invdesign.studies.optuna_internals import (
    HEARTBEAT_ATTR,
    HeartbeatJournalStorage,
    HeartbeatRDBStorage,
    first_line,
)

__all__ = ["HEARTBEAT_ATTR", "JOURNAL_NAME", "HeartbeatJournalStorage", "HeartbeatRDBStorage", "StorageUnavailable",
           "check_url", "journal_path", "load_study", "mask_url", "open_storage", "redact", "with_installed_driver"]

JOURNAL_NAME = "study.journal"
RDB_DIALECTS = ("postgresql", "mysql", "sqlite")
JOURNAL_SCHEMES = ("journal", "file")


class StorageUnavailable(ConnectionError):
    """The storage could not be reached (server down, wrong host/port, refused credentials)."""


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (safe to print and log).

    Parameters
    ----------
    url : str
        A storage URL or a file path.
    """
    return re.sub(r"(://[^:/@\s]*:)([^@\s]*)(@)", r"\1***\3", url)


def redact(text: str, url: str) -> str:
    """Remove the password of ``url`` from ``text`` (e.g. a driver's error message)."""
    m = re.search(r"://[^:/@\s]*:([^@\s]*)@", url)
    if m and m.group(1):
        text = text.replace(m.group(1), "***")
    return mask_url(text)


def journal_path(url: str) -> Path | None:
    """The journal file a URL names, or None for a database URL."""
    if "://" not in url:
        return Path(url)
    scheme, rest = url.split("://", 1)
    if scheme.lower() in JOURNAL_SCHEMES:
        return Path(rest)
    return None


def check_url(url: str) -> None:
    """Raise ValueError naming the problem when ``url`` is not a storage URL this project opens."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("empty storage URL")
    path = journal_path(url)
    if path is not None:
        if str(path) == "" or path.is_dir():
            raise ValueError(f"journal storage path {str(path)!r} is a directory, not a file")
        if not path.parent.is_dir():
            raise ValueError(f"journal storage directory {str(path.parent)!r} does not exist")
        return
    scheme = url.split("://", 1)[0]
    dialect = scheme.split("+", 1)[0].lower()
    if dialect not in RDB_DIALECTS:
        raise ValueError(
            f"unknown storage URL scheme {scheme!r} in {mask_url(url)} (expected postgresql://, "
            "mysql://, sqlite:/// or a journal file path)"
        )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"malformed storage URL {mask_url(url)}: {redact(str(exc), url)}") from None
    if dialect != "sqlite" and not parsed.host:
        raise ValueError(f"storage URL {mask_url(url)} names no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"storage URL {mask_url(url)} has an invalid port {parsed.port}")


def with_installed_driver(url: str) -> str:
    """``postgresql://`` names SQLAlchemy's default driver (psycopg 3 in SQLAlchemy 2.1); use
    psycopg2 when only that one is installed."""
    import importlib.util

    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def open_storage(
    url: str | BaseStorage | None,
    out_dir: str | Path | None = None,
    *,
    heartbeat_interval: int | None = 10,
    grace_period: int | None = None,
    max_retry: int | None = 3,
    connect_timeout_s: float = 10.0,
    wait_s: float = 0.0,
) -> BaseStorage:
    """Open the storage a URL names, with heartbeats and retry of stale trials.

    Parameters
    ----------
    url : str, storage object or None
        Database URL or journal file path (see the module docstring); a storage object is
        returned as is; None: the journal ``study.journal`` in ``out_dir``.
    out_dir : path, optional
        A design's output directory: the default journal's home (created if missing), and the
        parent of a journal path given relative to nothing else is created too.
    heartbeat_interval : int or None
        Seconds between a running trial's heartbeats; None turns heartbeats off.
    grace_period : int or None
        Seconds without a heartbeat before a RUNNING trial is failed (Optuna's default for None:
        2 intervals).
    max_retry : int or None
        How many times one interrupted trial is re-queued (None: without limit).
    connect_timeout_s : float
        Per-attempt connection timeout (database URLs).
    wait_s : float
        Keep retrying an unreachable database this long before giving up (0: one attempt).

    Raises
    ------
    ValueError
        The URL is malformed or names an unknown scheme (the message masks passwords).
    StorageUnavailable
        The database could not be reached.
    """
    if url is None:
        if out_dir is None:
            raise ValueError("give an output directory or a storage")
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        url = str(Path(out_dir) / JOURNAL_NAME)
    elif not isinstance(url, str):
        return url
    elif out_dir is not None and journal_path(url) is not None:
        journal_path(url).parent.mkdir(parents=True, exist_ok=True)
    check_url(url)
    callback = None
    if heartbeat_interval:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    path = journal_path(url)
    if path is not None:
        backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
        storage = HeartbeatJournalStorage(backend, heartbeat_interval, grace_period, callback)
        storage.lock_path = Path(f"{path}.propose.lock")
        return storage
    import sqlalchemy.exc

    url = with_installed_driver(url)
    engine_kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": max(1, int(connect_timeout_s))}
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return HeartbeatRDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=callback,
                )
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
            if time.monotonic() >= deadline:
                raise StorageUnavailable(
                    f"cannot reach storage {mask_url(url)}: {redact(first_line(exc), url)}"
                ) from None
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
        except (sqlalchemy.exc.NoSuchModuleError, sqlalchemy.exc.ArgumentError) as exc:
            raise ValueError(f"cannot open storage {mask_url(url)}: {redact(str(exc), url)}") from None
        except ImportError as exc:  # Optuna's message when the database driver is not installed
            raise ValueError(
                f"cannot open storage {mask_url(url)}: {redact(first_line(exc), url)}") from None


def load_study(storage: BaseStorage, study_name: str, url: str = "") -> optuna.Study:
    """Load an existing study by name; ValueError listing the names there if it is absent."""
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        where = f" in {mask_url(url)}" if url else ""
        raise ValueError(
            f"no study named {study_name!r}{where} (studies there: {', '.join(names) or 'none'})"
        ) from None
