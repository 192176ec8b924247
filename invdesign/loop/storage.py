"""Moved to :mod:`invdesign.studies.storage` (study infrastructure); re-exported here so code written
against this path keeps working."""

from invdesign.studies.storage import (  # noqa: F401
    HEARTBEAT_ATTR,
    HeartbeatJournalStorage,
    HeartbeatRDBStorage,
    JOURNAL_NAME,
    JOURNAL_SCHEMES,
    RDB_DIALECTS,
    StorageUnavailable,
    check_url,
    journal_path,
    load_study,
    mask_url,
    open_storage,
    redact,
    with_installed_driver,
)
